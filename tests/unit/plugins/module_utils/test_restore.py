"""Unit tests of _restore against real etcd (3.4 and 3.5) on 127.0.0.1.

A one-member etcd is started in a temporary directory, given keys, snapshotted
(``snapshot save``), given a key more and stopped. Each test restores that
snapshot into its own copy of the data dir, then starts etcd on the result.
``Etcd``, ``save_member`` and ``copy_member`` serve the module tests of
etcd_member_restore too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    check,
    client_env,
    endpoint_status_argv,
    parse_endpoint_status,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (
    RestoreError,
    etcd_processes_on,
    restore_member,
)
from tests.unit.plugins.module_utils.test_backup import (
    VERSIONS,
    binaries,
    free_ports,
    missing_binaries,
    tools_for,
)

pytestmark = pytest.mark.timeout(180)

STAMP = "20261126T041500Z"
KEYS = 25
BUMP = 1_000_000_000


class Etcd:
    """One etcd member, plain http on 127.0.0.1 free ports."""

    def __init__(self, version, data_dir, name="m1"):
        self.version = version
        self.data_dir = Path(data_dir)
        self.name = name
        self.tools = tools_for(version)
        self.etcdctl = self.tools["etcdctl"]["path"]
        client, peer = free_ports(2)
        self.client = f"http://127.0.0.1:{client}"
        self.peer = f"http://127.0.0.1:{peer}"
        self.proc = None
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def initial_cluster(self):
        return f"{self.name}={self.peer}"

    def start(self, split_flag=False):
        """Start etcd; ``split_flag`` passes ``--data-dir DIR`` instead of ``--data-dir=DIR``."""
        flag = ["--data-dir", str(self.data_dir)] if split_flag else [f"--data-dir={self.data_dir}"]
        argv = [
            str(binaries(self.version)["etcd"]),
            f"--name={self.name}",
            *flag,
            f"--listen-client-urls={self.client}",
            f"--advertise-client-urls={self.client}",
            f"--listen-peer-urls={self.peer}",
            f"--initial-advertise-peer-urls={self.peer}",
            f"--initial-cluster={self.initial_cluster}",
            "--initial-cluster-state=new",
            "--initial-cluster-token=kubedr-unit",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            rc = subprocess.run(
                [self.etcdctl, "endpoint", "health"], env=self.env(), capture_output=True
            ).returncode
            if rc == 0:
                return self
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"etcd {self.version} did not start:\n{self.log.read_text()[-3000:]}")

    def env(self):
        return {**os.environ, **client_env([self.client], None, None, None, "2s", "5s")}

    def stop(self):
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def put(self, key, value):
        check([self.etcdctl, "put", key, value], env=self.env(), timeout=30)

    def keys(self, prefix="/"):
        out = check(
            [self.etcdctl, "get", prefix, "--prefix", "--keys-only"], env=self.env(), timeout=30
        )
        return sorted(line for line in out.splitlines() if line.strip())

    def revision(self):
        status = check(endpoint_status_argv(self.etcdctl), env=self.env(), timeout=30)
        return parse_endpoint_status(status)[0]["revision"]

    def save(self, path):
        check([self.etcdctl, "snapshot", "save", str(path)], env=self.env(), timeout=60)
        return Path(path)


def seeded_keys():
    return [f"/registry/pods/default/p{index:02d}" for index in range(KEYS)]


def save_member(version, tmp_path_factory):
    """{'version', 'tools', 'data_dir' (the stopped member's, one key newer than the
    snapshot), 'snapshot', 'etcd' (stopped)} for one etcd release, or pytest.skip."""
    missing = missing_binaries(version)
    if missing:
        pytest.skip(f"etcd {version} is not installed here: no {', '.join(missing)}")
    base = tmp_path_factory.mktemp(f"restore-{version}")
    etcd = Etcd(version, base / "etcd").start()
    try:
        for key in seeded_keys():
            etcd.put(key, "x" * 100)
        snapshot = etcd.save(base / "etcd-snapshot-20261126T030000Z.db")
        etcd.put("/registry/after-the-snapshot", "lost by the restore")
    finally:
        etcd.stop()
    return {
        "version": version,
        "tools": tools_for(version),
        "data_dir": etcd.data_dir,
        "snapshot": snapshot,
        "etcd": etcd,
    }


def copy_member(saved, directory):
    """A copy of the stopped member's data dir, and an Etcd on it with the same peer URL."""
    data_dir = Path(directory) / "var-lib-etcd"
    shutil.copytree(saved["data_dir"], data_dir)
    etcd = Etcd(saved["version"], data_dir)
    etcd.peer = saved["etcd"].peer
    return etcd


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def saved(request, tmp_path_factory):
    return save_member(request.param, tmp_path_factory)


@pytest.fixture
def member(saved, tmp_path):
    etcd = copy_member(saved, tmp_path)
    yield etcd
    etcd.stop()


def restore_args(saved, etcd, **kwargs):
    args = {
        "tools": saved["tools"],
        "snapshot": str(saved["snapshot"]),
        "data_dir": str(etcd.data_dir),
        "name": etcd.name,
        "initial_cluster": etcd.initial_cluster,
        "initial_advertise_peer_urls": [etcd.peer],
        "initial_cluster_token": f"kubedr-{STAMP}",
        "stamp": STAMP,
        "etcd_version": VERSIONS[saved["version"]]["version"],
        "timeout": 120,
    }
    args.update(kwargs)
    return args


def tree_digest(path):
    """sha256 over the names and bytes of every file below ``path``."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            digest.update(str(full.relative_to(path)).encode() + b"\0" + full.read_bytes())
    return digest.hexdigest()


def listing(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def corrupt_body_snapshot(path, blocks=4):
    """Bytes that are no bbolt database, with a valid sha256 trailer."""
    body = bytes(range(256)) * 2 * blocks
    Path(path).write_bytes(body + hashlib.sha256(body).digest())
    return str(path)


# --------------------------------------------------------------------------


def test_restore_brings_the_snapshot_back(saved, member):
    bump = BUMP if saved["version"] == "3.5" else None
    old = tree_digest(member.data_dir / "member")
    inode = member.data_dir.stat().st_ino

    result = restore_member(**restore_args(saved, member, bump_revision=bump))

    aside = member.data_dir / f"member.kubedr-{STAMP}"
    marker = member.data_dir / f".kubedr-restored-{STAMP}"
    assert result["changed"] is True
    assert result["moved_aside"] == str(aside)
    assert result["data_dir"] == str(member.data_dir)
    assert result["member_dir"] == str(member.data_dir / "member")
    assert result["tool"] == ("etcdutl" if saved["version"] == "3.5" else "etcdctl")
    assert result["version"] == VERSIONS[saved["version"]]["version"]
    assert result["bump_revision"] == bump
    assert result["argv"][1:5] == [
        "snapshot",
        "restore",
        str(saved["snapshot"]),
        "--data-dir",
    ]
    assert result["argv"][5] == str(member.data_dir / f".kubedr-restore-{STAMP}" / "data")
    assert result["seconds"] > 0
    assert result["rollback"] == [
        f"mv -T {member.data_dir}/member {member.data_dir}/member.failed-{STAMP}",
        f"mv -T {aside} {member.data_dir}/member",
        f"mv -T {marker} {marker}.rolled-back",
    ]
    # the data dir itself was never renamed; the old data is kept as it was
    assert member.data_dir.stat().st_ino == inode
    assert tree_digest(aside) == old
    assert listing(member.data_dir) == [f".kubedr-restored-{STAMP}", "member", aside.name]
    record = json.loads(marker.read_text())
    assert record["snapshot"] == str(saved["snapshot"])
    assert record["sha256"] == hashlib.sha256(saved["snapshot"].read_bytes()).hexdigest()
    assert record["name"] == "m1"
    assert record["initial_cluster_token"] == f"kubedr-{STAMP}"
    assert record["moved_aside"] == str(aside)

    member.start()
    assert member.keys() == seeded_keys()
    if bump:
        assert member.revision() >= BUMP
    member.stop()
    # etcd 3.4 and 3.5 only warn about the entries beside member/
    assert "found invalid file" in member.log.read_text()


def test_second_run_changes_nothing(saved, member):
    first = restore_member(**restore_args(saved, member))
    member.start()  # a running etcd does not matter once the marker says it is done
    again = restore_member(**restore_args(saved, member))
    assert again["changed"] is False
    assert again["moved_aside"] == first["moved_aside"]
    assert again["argv"] == first["argv"]
    assert again["rollback"] == first["rollback"]


@pytest.mark.parametrize("split_flag", [False, True])
def test_running_etcd_is_refused(saved, member, split_flag):
    member.start(split_flag=split_flag)
    with pytest.raises(RestoreError) as caught:
        restore_member(**restore_args(saved, member))
    assert caught.value.msg == (
        f"etcd (pid {member.proc.pid}) still runs on {member.data_dir}: stop it first"
        " (move its manifest out of /etc/kubernetes/manifests)"
    )
    assert listing(member.data_dir) == ["member"]  # etcd itself writes to member/


def test_corrupt_snapshot_changes_nothing(saved, member, tmp_path):
    broken = tmp_path / "broken.db"
    data = bytearray(saved["snapshot"].read_bytes())
    data[4096] ^= 0xFF
    broken.write_bytes(bytes(data))
    before = tree_digest(member.data_dir)
    with pytest.raises(RestoreError, match=r"is corrupt.*nothing was changed"):
        restore_member(**restore_args(saved, member, snapshot=str(broken)))
    assert listing(member.data_dir) == ["member"]
    assert tree_digest(member.data_dir) == before


def test_restore_tool_failure_leaves_member_and_no_staging(saved, member, tmp_path):
    bad = corrupt_body_snapshot(tmp_path / "not-bbolt.db")
    before = tree_digest(member.data_dir)
    with pytest.raises(RestoreError) as caught:
        restore_member(**restore_args(saved, member, snapshot=bad))
    msg = caught.value.msg
    assert msg.startswith(f"restoring {bad} failed: ")
    assert "snapshot restore " in msg
    assert msg.endswith(f"{member.data_dir}/member was not touched")
    assert listing(member.data_dir) == ["member"]
    assert tree_digest(member.data_dir) == before


def test_leftover_staging_of_the_same_stamp_is_replaced(saved, member):
    staging = member.data_dir / f".kubedr-restore-{STAMP}"
    (staging / "data" / "member").mkdir(parents=True)
    (staging / "data" / "member" / "half-written").write_text("x")
    result = restore_member(**restore_args(saved, member))
    assert f"removed {staging} left by an interrupted run" in result["notes"]
    assert not staging.exists()
    member.start()
    assert member.keys() == seeded_keys()


def test_check_mode_changes_nothing(saved, member):
    before = tree_digest(member.data_dir)
    result = restore_member(**restore_args(saved, member), check_mode=True)
    assert result["changed"] is True
    assert result["msg"].startswith(f"would restore {saved['snapshot']} with ")
    assert result["moved_aside"] == str(member.data_dir / f"member.kubedr-{STAMP}")
    assert listing(member.data_dir) == ["member"]
    assert tree_digest(member.data_dir) == before


def test_empty_data_dir_has_nothing_to_move_aside(saved, tmp_path):
    etcd = Etcd(saved["version"], tmp_path / "fresh")
    etcd.peer = saved["etcd"].peer
    try:
        result = restore_member(**restore_args(saved, etcd))
        assert result["moved_aside"] is None
        assert "created" in result["notes"][-1]
        assert stat.S_IMODE(etcd.data_dir.stat().st_mode) == 0o700
        assert len(result["rollback"]) == 2
        etcd.start()
        assert etcd.keys() == seeded_keys()
    finally:
        etcd.stop()


def test_restored_files_belong_to_the_data_dir_owner(saved, member):
    if os.geteuid() != 0:
        pytest.skip("needs root to give files away")
    os.chown(member.data_dir, 65534, 65534)
    restore_member(**restore_args(saved, member))
    owners = {
        (path.stat().st_uid, path.stat().st_gid)
        for path in [member.data_dir / "member", *(member.data_dir / "member").rglob("*")]
    }
    assert owners == {(65534, 65534)}


def test_existing_aside_dir_is_refused(saved, member):
    (member.data_dir / f"member.kubedr-{STAMP}").mkdir()
    with pytest.raises(RestoreError, match="already exists and so does"):
        restore_member(**restore_args(saved, member))
    assert listing(member.data_dir) == ["member", f"member.kubedr-{STAMP}"]


def test_interrupted_after_moving_aside(saved, member):
    """member/ already moved aside by this stamp, no marker: restore and report it."""
    aside = member.data_dir / f"member.kubedr-{STAMP}"
    (member.data_dir / "member").rename(aside)
    result = restore_member(**restore_args(saved, member))
    assert result["moved_aside"] == str(aside)
    assert (member.data_dir / "member" / "snap" / "db").is_file()


# --------------------------------------------------------------------------
# Without etcd


def fake_etcd(data_dir_args, env=None, cwd=None):
    """A Python process whose argv[0] is 'etcd', with the given data dir flags."""
    code = "import time; time.sleep(120)"
    proc = subprocess.Popen(
        ["etcd", "-c", code, "--name=m1", *data_dir_args],
        executable=sys.executable,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(b"etcd\0"):
                return proc
        time.sleep(0.02)
    raise AssertionError("the fake etcd did not start")


@pytest.mark.parametrize(
    ("args", "env", "relative"),
    [
        (["--data-dir={d}"], None, False),
        (["--data-dir", "{d}"], None, False),
        (["-data-dir={d}/"], None, False),
        ([], {"ETCD_DATA_DIR": "{d}"}, False),
        (["--data-dir=data"], None, True),
    ],
)
def test_etcd_processes_on_finds_every_flag_form(tmp_path, args, env, relative):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    args = [arg.format(d=data_dir) for arg in args]
    env = {k: v.format(d=data_dir) for k, v in (env or {}).items()}
    proc = fake_etcd(args, env, cwd=str(tmp_path) if relative else None)
    try:
        found = etcd_processes_on(str(data_dir))
        assert [p["pid"] for p in found] == [proc.pid]
        assert found[0]["command"].startswith("etcd -c ")
        assert etcd_processes_on(str(tmp_path / "other")) == []
    finally:
        proc.kill()
        proc.wait()


def test_restore_tool_timeout(tmp_path):
    slow = tmp_path / "etcdctl"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    data_dir = tmp_path / "etcd"
    (data_dir / "member" / "snap").mkdir(parents=True)
    (data_dir / "member" / "snap" / "db").write_text("old")
    started = time.monotonic()
    with pytest.raises(RestoreError, match=r"did not finish in 1s.*was not touched"):
        restore_member(
            tools={"etcdctl": {"path": str(slow), "version": "3.4.23"}, "etcdutl": None},
            snapshot=corrupt_body_snapshot(tmp_path / "s.db"),
            data_dir=str(data_dir),
            name="m1",
            initial_cluster="m1=http://127.0.0.1:2380",
            initial_advertise_peer_urls=["http://127.0.0.1:2380"],
            initial_cluster_token="t",
            stamp=STAMP,
            timeout=1,
        )
    assert time.monotonic() - started < 10
    assert listing(data_dir) == ["member"]
    assert (data_dir / "member" / "snap" / "db").read_text() == "old"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stamp": "2026-11-26"}, "stamp='2026-11-26' is not a UTC time"),
        ({"data_dir": "var/lib/etcd"}, "is not an absolute path"),
        ({"data_dir": "/nonexistent-parent/etcd"}, "its parent directory does not exist"),
        ({"snapshot": "/nonexistent.db"}, "snapshot /nonexistent.db does not exist"),
        ({"name": "m9"}, "member m9 is not in initial_cluster"),
        ({"bump_revision": BUMP}, "etcdctl 3.4.23 cannot --bump-revision (needs 3.4.27+)"),
    ],
)
def test_bad_input_changes_nothing(tmp_path, kwargs, message):
    data_dir = tmp_path / "etcd"
    (data_dir / "member").mkdir(parents=True)
    args = {
        "tools": {"etcdctl": {"path": "/usr/bin/etcdctl", "version": "3.4.23"}},
        "snapshot": corrupt_body_snapshot(tmp_path / "s.db"),
        "data_dir": str(data_dir),
        "name": "m1",
        "initial_cluster": "m1=http://127.0.0.1:2380",
        "initial_advertise_peer_urls": ["http://127.0.0.1:2380"],
        "initial_cluster_token": "t",
        "stamp": STAMP,
    }
    args.update(kwargs)
    with pytest.raises(RestoreError) as caught:
        restore_member(**args)
    assert message in caught.value.msg
    assert listing(data_dir) == ["member"]
