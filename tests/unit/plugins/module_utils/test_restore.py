"""Unit tests of _restore against real etcd (3.4 and 3.5) on 127.0.0.1.

A one-member etcd is started in a temporary directory, given keys, snapshotted
(``snapshot save``), given a key more and stopped (tests.support.etcd_restore). Each
test restores that snapshot into its own copy of the data dir, then starts etcd on the
result.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (
    RestoreError,
    etcd_processes_on,
    restore_member,
)
from tests.support.etcd_process import VERSIONS, Etcd
from tests.support.etcd_restore import (
    BUMP,
    STAMP,
    offline_args,
    restore_args,
    restore_fixtures,
    seeded_keys,
)
from tests.support.fake_processes import fake_tool, wait_for_cmdline
from tests.support.files import corrupt_body_snapshot, listing, tree_digest

pytestmark = pytest.mark.timeout(180)

saved, member = restore_fixtures()


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
    etcd = Etcd(saved["version"], tmp_path / "fresh", peer=saved["etcd"].peer)
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
    try:
        wait_for_cmdline(proc.pid, "etcd")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


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
    slow = fake_tool(tmp_path, "etcdctl", "sleep 30\n")
    tools = {"etcdctl": {"path": str(slow), "version": "3.4.23"}, "etcdutl": None}
    args = offline_args(tmp_path, tools=tools, timeout=1)
    data_dir = tmp_path / "etcd"
    (data_dir / "member" / "snap").mkdir()
    (data_dir / "member" / "snap" / "db").write_text("old")
    started = time.monotonic()
    with pytest.raises(RestoreError, match=r"did not finish in 1s.*was not touched"):
        restore_member(**args)
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
    args = offline_args(tmp_path, **kwargs)
    with pytest.raises(RestoreError) as caught:
        restore_member(**args)
    assert message in caught.value.msg
    assert listing(tmp_path / "etcd") == ["member"]


def test_etcd_processes_on_sees_a_container_whose_mount_path_is_not_the_host_path(tmp_path):
    """kubeadm's etcd pod names its mountPath (--data-dir=/var/lib/etcd) where the host
    has the hostPath: here etcd runs in a mount namespace of its own where the host's
    data dir is bound at another path. It is found by the directory's identity, and an
    etcd on another directory with the same path text is not taken for it."""
    host_path = tmp_path / "host-path"
    mount_path = tmp_path / "mount-path"
    other = tmp_path / "other"
    for path in (host_path, mount_path, other):
        path.mkdir()
    script = (
        f"mount --make-rprivate / && mount --bind {host_path} {mount_path}"
        f" && exec -a etcd {sys.executable} -c 'import time; time.sleep(120)'"
        f" --data-dir={mount_path}"
    )
    proc = subprocess.Popen(["unshare", "--mount", "bash", "-c", script], start_new_session=True)
    try:
        wait_for_cmdline(proc.pid, "etcd")
        assert [p["pid"] for p in etcd_processes_on(str(host_path))] == [proc.pid]
        # outside its namespace mount-path is an empty directory of its own: not it
        assert etcd_processes_on(str(mount_path)) == []
        assert etcd_processes_on(str(other)) == []
    finally:
        proc.kill()
        proc.wait()
