"""_drill with real etcd 3.4 and 3.5: a backup saved from a live member is restored into a
throwaway etcd and found equal to its record; and every fault gives a failed drill with a
clear reason, a record and metrics an alert catches, and leaves the stored backup as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _drill as drill_module
from ansible_collections.kubedr.etcd.plugins.module_utils._backup import save_verified_snapshot
from ansible_collections.kubedr.etcd.plugins.module_utils._drill import (
    MARKER,
    SCRATCH_PREFIX,
    DrillFailed,
    choose_backups,
    drill,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (
    collect,
    drill_path,
)
from tests.support.etcd_process import NO_TLS, VERSIONS, Etcd, binaries, skip_unless_installed
from tests.support.files import sha

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).parents[4]


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def saved(request, tmp_path_factory):
    """A backup directory with one backup saved (and fingerprinted) from a live member."""
    version = request.param
    skip_unless_installed(version)
    base = tmp_path_factory.mktemp(f"drill-{version}")
    etcd = Etcd(version, base / "live")
    try:
        etcd.start()
        for index in range(30):
            etcd.put(f"/registry/pods/default/p{index:02d}", "v" * 200)
            etcd.put(f"/registry/secrets/default/s{index:02d}", "s" * 50)
        result = save_verified_snapshot(
            tools=etcd.tools,
            endpoints=[etcd.client],
            tls=NO_TLS,
            dest_dir=str(base / "backups"),
            source_host="cp-1",
            save_timeout=60,
        )
        etcd.put("/registry/pods/default/later", "after the backup")
    finally:
        etcd.stop()
    return {"version": version, "dir": base / "backups", "result": result}


@pytest.fixture
def stored(saved, tmp_path):
    """A copy of the saved backup directory for one test; its files' sha256 before."""
    directory = tmp_path / "backups"
    shutil.copytree(saved["dir"], directory)
    return directory


def tools(version, **changes):
    found = {name: str(path) for name, path in binaries(version).items()}
    return {**found, **changes}


def fingerprint_of(directory):
    return {
        p.name: sha(p) for p in sorted(directory.iterdir()) if not p.name.endswith(".drill.json")
    }


def run_drill(saved, stored, scratch, **kwargs):
    args = {"scratch_parent": str(scratch), "tools": tools(saved["version"]), "timeout": 60}
    return drill(str(stored), **{**args, **kwargs})


def assert_failed(result, stored, scratch, before, needle):
    assert result["result"] == "fail", result
    assert needle in result["reason"], result["reason"]
    assert json.loads(Path(drill_path(str(stored / result["backup"]))).read_text()) == result
    values = collect(str(stored))["values"]
    assert values["drill_last_success"] is False
    assert values["drill_last_timestamp_seconds"] == result["finished_epoch"]
    assert fingerprint_of(stored) == before  # the stored backup is as it was
    assert not scratch.exists() or list(scratch.iterdir()) == []  # no scratch directory left


def test_drill_passes_and_leaves_only_its_record(saved, stored, tmp_path):
    scratch = tmp_path / "scratch"
    before = fingerprint_of(stored)
    result = run_drill(saved, stored, scratch)
    assert result["result"] == "pass", result["reason"]
    assert result["reason"] is None
    assert result["found"] == result["recorded"] == saved["result"]["metadata"]["fingerprint"]
    assert result["recorded"]["keys"] == {"pods": 30, "secrets": 30}
    assert result["etcd_version"] == VERSIONS[saved["version"]]["version"]
    assert set(result["steps"]) == {"verify", "restore", "start", "fingerprint", "stop"}
    assert result["duration_seconds"] > 0
    assert list(scratch.iterdir()) == []
    assert fingerprint_of(stored) == before
    record = json.loads(Path(drill_path(str(stored / result["backup"]))).read_text())
    assert record == result
    values = collect(str(stored))["values"]
    assert values["drill_last_success"] is True
    assert values["drill_last_duration_seconds"] == result["duration_seconds"]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_stored_copy(saved, stored, tmp_path, damage):
    snapshot = stored / saved["result"]["metadata"]["snapshot"]["file"]
    data = bytearray(snapshot.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) - 4096]
    snapshot.write_bytes(bytes(data))
    before = fingerprint_of(stored)
    result = run_drill(saved, stored, tmp_path / "scratch")
    assert_failed(result, stored, tmp_path / "scratch", before, "the stored copy is damaged")


def test_fingerprint_differs_from_the_record(saved, stored, tmp_path):
    record_path = stored / (saved["result"]["metadata"]["snapshot"]["file"] + ".json")
    record = json.loads(record_path.read_text())
    record["fingerprint"]["hashkv"] += 1
    record["fingerprint"]["keys"]["secrets"] = 31
    record_path.write_text(json.dumps(record))
    before = fingerprint_of(stored)
    result = run_drill(saved, stored, tmp_path / "scratch")
    assert_failed(result, stored, tmp_path / "scratch", before, "differs from what was recorded")
    assert "hashkv is" in result["reason"] and "secrets: 30 keys, recorded 31" in result["reason"]
    assert result["found"] == saved["result"]["metadata"]["fingerprint"]


def _inet_listeners(pid):
    """The TCP sockets process ``pid`` listens on (from /proc/<pid>/fd and /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as handle:
            for line in handle.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    found.append(fields[1])
    return found


def test_the_drills_etcd_listens_on_no_tcp_port(saved, stored, tmp_path, monkeypatch):
    scratch_parent = tmp_path / "scratch"
    seen = {}
    real = drill_module.take_like

    def look_then_take(etcdctl, env, client, recorded, timeout=120):
        (marker,) = scratch_parent.glob(f"*/{drill_module.MARKER}")
        pid = json.loads(marker.read_text())["etcd_pid"]
        seen["tcp"] = _inet_listeners(pid)
        seen["sockets"] = sorted(
            p.name for p in marker.parent.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)
        )
        seen["mode"] = stat.S_IMODE(marker.parent.stat().st_mode)
        seen["client"] = client
        return real(etcdctl, env, client, recorded, timeout)

    monkeypatch.setattr(drill_module, "take_like", look_then_take)
    result = run_drill(saved, stored, scratch_parent)
    assert result["result"] == "pass", result["reason"]
    assert seen["tcp"] == []
    assert seen["sockets"] == ["localhost:2379", "localhost:2380"]
    assert seen["mode"] == 0o700
    assert seen["client"].startswith(f"unix://{scratch_parent}/")


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        (0o777, "is writable by other users (mode 0777) without the sticky bit: chmod 0700"),
        (0o1777, None),  # sticky, as /tmp: fine
        (0o755, None),
    ],
)
def test_a_scratch_parent_others_may_change_is_refused(tmp_path, mode, needle):
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(mode)
    if needle is None:
        drill_module.check_scratch_parent(str(parent))
        return
    with pytest.raises(drill_module.DrillFailed, match=re.escape(needle)):
        drill_module.check_scratch_parent(str(parent))


def test_a_scratch_parent_that_is_a_symlink_or_not_ours_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(drill_module.DrillFailed, match="is not a directory"):
        drill_module.check_scratch_parent(str(link))
    if os.geteuid() == 0:
        os.chown(real, 4242, 4242)
        with pytest.raises(drill_module.DrillFailed, match="is owned by uid 4242"):
            drill_module.check_scratch_parent(str(real))


def test_a_scratch_path_too_long_for_a_unix_socket_is_refused():
    assert drill_module.socket_urls("/var/tmp/kubedr-drill/.kubedr-drill-x")["peer"] == (
        "unix://localhost:2380"
    )
    with pytest.raises(drill_module.DrillFailed, match="too long a path"):
        drill_module.socket_urls("/" + "d" * 100)


def test_drill_host_without_etcd(saved, stored, tmp_path, monkeypatch):
    before = fingerprint_of(stored)
    result = run_drill(
        saved, stored, tmp_path / "scratch", tools=tools(saved["version"], etcd="/nonexistent/etcd")
    )
    assert_failed(result, stored, tmp_path / "scratch", before, "/nonexistent/etcd does not exist")
    # nothing given, nothing found where the drill looks
    monkeypatch.setattr(
        "ansible_collections.kubedr.etcd.plugins.module_utils._find_tools.TOOL_DIRS", ()
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = drill(str(stored), scratch_parent=str(tmp_path / "scratch"), tools={})
    assert_failed(
        result,
        stored,
        tmp_path / "scratch",
        before,
        "etcd and etcdctl not found on this drill host",
    )


def test_full_scratch_disk(saved, stored, tiny_disk):
    before = fingerprint_of(stored)
    result = run_drill(saved, stored, tiny_disk)
    assert_failed(result, stored, tiny_disk, before, "not enough free space for the drill")


def test_backup_of_an_empty_cluster(saved, tmp_path):
    etcd = Etcd(saved["version"], tmp_path / "new")
    try:
        etcd.start()
        result = save_verified_snapshot(
            tools=etcd.tools,
            endpoints=[etcd.client],
            tls=NO_TLS,
            dest_dir=str(tmp_path / "backups"),
            source_host="cp-1",
            save_timeout=60,
        )
    finally:
        etcd.stop()
    fingerprint = result["metadata"]["fingerprint"]
    assert fingerprint["revision"] == 0 and fingerprint["keys"] == {}
    record = run_drill(saved, tmp_path / "backups", tmp_path / "scratch")
    assert record["result"] == "pass", record["reason"]
    assert record["found"] == fingerprint


def test_record_that_cannot_be_written_fails_the_drill(saved, stored, tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(drill_module, "write_json_atomic", refuse)
    result = run_drill(saved, stored, tmp_path / "scratch")
    assert result["result"] == "fail"
    assert result["reason"].startswith("its record ")
    assert result["reason"].endswith("could not be written: Permission denied")
    assert result["found"] == result["recorded"]  # the drill itself passed


def test_no_backup_to_drill(tmp_path):
    with pytest.raises(DrillFailed, match="no complete backup"):
        choose_backups(str(tmp_path))
    with pytest.raises(DrillFailed, match=r"no complete backup etcd-snapshot-x\.db"):
        choose_backups(str(tmp_path), "etcd-snapshot-x.db")


KILLED = """
import sys
sys.path[:0] = {paths!r}
from ansible_collections.kubedr.etcd.plugins.module_utils._drill import drill
drill({stored!r}, scratch_parent={scratch!r}, tools={tools!r}, timeout=120)
"""


def test_killed_drill_is_cleaned_up_by_the_next_and_only_that(saved, stored, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # not a drill's: no marker; and a drill that is still running (this process)
    foreign = scratch / f"{SCRATCH_PREFIX}foreign"
    foreign.mkdir()
    running = scratch / f"{SCRATCH_PREFIX}running"
    running.mkdir()
    (running / MARKER).write_text(json.dumps({"pid": os.getppid(), "boot_id": boot_id()}))
    # an etcdctl whose health check hangs, so the drill is caught with its etcd running
    real = binaries(saved["version"])["etcdctl"]
    slow = tmp_path / "etcdctl"
    slow.write_text(
        f'#!/bin/sh\ncase "$*" in *"endpoint health"*) sleep 60;; esac\nexec {real} "$@"\n'
    )
    slow.chmod(0o755)
    code = KILLED.format(
        paths=[str(ROOT / ".collections"), str(ROOT)],
        stored=str(stored),
        scratch=str(scratch),
        tools=tools(saved["version"], etcdctl=str(slow)),
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        etcd_pid, left = wait_for_etcd(scratch, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the drill and its hanging etcdctl, not its etcd
        proc.wait()
    assert alive(etcd_pid), "the drill's etcd runs on in a session of its own"
    before = fingerprint_of(stored)
    result = run_drill(saved, stored, scratch)
    assert result["result"] == "pass", result["reason"]
    assert result["cleaned"] == [str(left)]
    deadline = time.monotonic() + 10
    while alive(etcd_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(etcd_pid)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([foreign.name, running.name])
    assert fingerprint_of(stored) == before


def boot_id():
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" not in status


def wait_for_etcd(scratch, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the drill ended before it could be killed"
        for marker in scratch.glob(f"{SCRATCH_PREFIX}*/{MARKER}"):
            data = json.loads(marker.read_text())
            if data.get("etcd_pid"):
                return data["etcd_pid"], marker.parent
        time.sleep(0.1)
    raise AssertionError("the drill's etcd did not start")


def encrypt_stored(stored, name, recipient):
    """Encrypt a stored backup's snapshot as etcd_backup_encrypt leaves it: <name>.age,
    an 'encryption' section in the record, the plain file gone."""
    plain = stored / name
    subprocess.run(["age", "-r", recipient, "-o", f"{plain}.age", str(plain)], check=True)
    record_path = stored / f"{name}.json"
    record = json.loads(record_path.read_text())
    record["encryption"] = {
        "method": "age",
        "recipients": [recipient],
        "encrypted": "2026-11-26T03:00:00Z",
        "files": {
            name: {
                "file": f"{name}.age",
                "size": (stored / f"{name}.age").stat().st_size,
                "sha256": sha(f"{plain}.age"),
            }
        },
    }
    record_path.write_text(json.dumps(record))
    plain.unlink()


def test_encrypted_backup_is_decrypted_in_the_scratch_dir_only(
    saved, stored, tmp_path, age_key, monkeypatch
):
    name = saved["result"]["metadata"]["snapshot"]["file"]
    encrypt_stored(stored, name, age_key.recipient)
    before = fingerprint_of(stored)
    scratch = tmp_path / "scratch"
    seen = []
    real_restore = drill_module._restore_and_compare

    def spy(backup, record, scratch_dir, *args):
        plain = args[-2]
        seen.append((plain, oct(os.stat(scratch_dir).st_mode & 0o777)))
        return real_restore(backup, record, scratch_dir, *args)

    monkeypatch.setattr(drill_module, "_restore_and_compare", spy)
    without = run_drill(saved, stored, scratch)
    result = run_drill(saved, stored, scratch, identity_files=[str(age_key.identity)])
    assert without["result"] == "fail"
    assert "is encrypted: give the drill an age identity file" in without["reason"]
    assert result["result"] == "pass", result["reason"]
    assert "decrypt" in result["steps"]
    ((plain, mode),) = seen
    assert plain.startswith(str(scratch) + os.sep) and mode == "0o700"
    assert list(scratch.iterdir()) == []  # the plain copy went with the scratch directory
    assert fingerprint_of(stored) == before
    assert not (stored / name).exists()
