"""Unit tests of the etcd_snapshot_verify module, run through its main()."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    build_metadata,
    metadata_path,
    verify_trailer,
    write_json_atomic,
)
from ansible_collections.kubedr.etcd.plugins.modules import (
    etcd_backup_encrypt,
    etcd_snapshot_verify,
)
from tests.support.files import flip_byte, sha
from tests.unit.plugins.modules.conftest import fail_module, make_backup, run_module, snap

NAME = "etcd-snapshot-20261126T030000Z.db"
STATUS = {"hash": 3117283462, "revision": 42, "total_key": 17, "total_size": 32768}


def run(args):
    return run_module(etcd_snapshot_verify.main, args)


def run_fail(args):
    return fail_module(etcd_snapshot_verify.main, args)


def make_snapshot(path, pages=8, seed=1):
    """A file shaped like a saved snapshot: N*4096 random bytes + sha256(body)."""
    body = hashlib.shake_256(f"verify-{seed}".encode()).digest(pages * 4096)
    path.write_bytes(body + hashlib.sha256(body).digest())
    return path


def write_metadata(snapshot, status=None, verified=None):
    record = build_metadata(
        snapshot.name,
        verified or verify_trailer(str(snapshot)),
        STATUS if status is None else status,
        created="2026-11-26T03:00:00Z",
        etcd_version="3.5.16",
        cluster_id="cdf818194e3a8c32",
        members=[
            {"name": "cp-1", "id": "8e9e05c52164694d", "peer_urls": ["https://10.0.0.1:2380"]}
        ],
        source_host="cp-1",
    )
    write_json_atomic(metadata_path(str(snapshot)), record)
    return record


@pytest.fixture
def backup(tmp_path):
    snapshot = make_snapshot(tmp_path / NAME)
    record = write_metadata(snapshot)
    return snapshot, record


def fake_etcdutl(directory, revision=42, total_key=17, log=None):
    """A shell script answering `snapshot status -w json` and `snapshot restore`."""
    path = directory / "etcdutl"
    status = json.dumps(
        {"hash": 3117283462, "revision": revision, "totalKey": total_key, "totalSize": 32768}
    )
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "snapshot status" ]; then\n'
        f"  printf '%s\\n' '{status}'\n"
        "  exit 0\n"
        "fi\n"
        'if [ "$1 $2" = "snapshot restore" ]; then\n'
        '  while [ "$#" -gt 0 ]; do\n'
        '    if [ "$1" = --data-dir ]; then data="$2"; fi\n'
        "    shift\n"
        "  done\n"
        '  mkdir -p "$data/member/snap" && : > "$data/member/snap/db"\n'
        + (f'  echo "$data" >> {log}\n' if log else "")
        + "  exit 0\n"
        "fi\n"
        'echo "unexpected arguments: $*" >&2\n'
        "exit 64\n"
    )
    path.chmod(0o755)
    return {"etcdctl": None, "etcdutl": {"path": str(path), "version": "3.5.16"}}


# --------------------------------------------------------------------------


def test_valid_snapshot(backup):
    snapshot, record = backup
    result = run({"path": str(snapshot)})
    assert result == {
        "changed": False,
        "path": str(snapshot),
        "size": 8 * 4096 + 32,
        "sha256": sha(snapshot),
        "metadata": record,
        "status": None,
        "trial_restore": None,
        "msg": f"snapshot {snapshot} verified",
    }


def test_flipped_byte(backup):
    snapshot, record = backup
    flip_byte(snapshot, 5000)
    failed = run_fail({"path": str(snapshot)})
    assert failed["problems"] == [
        f"snapshot {snapshot} is corrupt: the sha256 of its content does not match the trailer"
        " etcd wrote when saving it",
        f"sha256 is {sha(snapshot)} but the metadata records {record['snapshot']['sha256']}",
    ]
    assert failed["msg"] == (
        f"snapshot {snapshot} failed verification (2 problems): " + "; ".join(failed["problems"])
    )
    assert failed["changed"] is False
    assert failed["sha256"] == sha(snapshot)


def test_truncated_copy(backup):
    snapshot, _unused = backup
    snapshot.write_bytes(snapshot.read_bytes()[:10000])
    failed = run_fail({"path": str(snapshot)})
    assert len(failed["problems"]) == 3
    assert "(10000 bytes) has no sha256 trailer" in failed["problems"][0]
    assert failed["problems"][1] == (
        f"size is 10000 bytes but the metadata records {8 * 4096 + 32} bytes"
    )
    assert failed["problems"][2].startswith(f"sha256 is {sha(snapshot)} but the metadata records")
    assert failed["msg"].startswith(f"snapshot {snapshot} failed verification (3 problems): ")
    assert failed["size"] == 10000


def test_metadata_of_another_snapshot(tmp_path):
    snapshot = make_snapshot(tmp_path / NAME, pages=8, seed=1)
    other = make_snapshot(tmp_path / "other.db", pages=9, seed=2)
    record = build_metadata(
        NAME,
        verify_trailer(str(other)),
        STATUS,
        created="2026-11-26T03:00:00Z",
        etcd_version="3.4.23",
        cluster_id="cdf818194e3a8c32",
        members=[],
        source_host="cp-1",
    )
    write_json_atomic(metadata_path(str(snapshot)), record)
    failed = run_fail({"path": str(snapshot)})
    assert failed["problems"] == [
        f"size is {8 * 4096 + 32} bytes but the metadata records {9 * 4096 + 32} bytes",
        f"sha256 is {sha(snapshot)} but the metadata records {sha(other)}",
    ]


def test_metadata_missing(tmp_path):
    snapshot = make_snapshot(tmp_path / NAME)
    failed = run_fail({"path": str(snapshot)})
    assert failed["problems"] == [
        f"metadata file {snapshot}.json does not exist: the backup is incomplete (its save was"
        " interrupted) or was not made by kubedr.etcd"
    ]
    assert failed["msg"].startswith(f"snapshot {snapshot} failed verification (1 problem): ")

    result = run({"path": str(snapshot), "require_metadata": False})
    assert result["metadata"] is None
    assert result["sha256"] == sha(snapshot)


def test_metadata_unreadable_and_file_corrupt_in_one_message(backup):
    snapshot, _unused = backup
    flip_byte(snapshot, 0)
    (snapshot.parent / f"{NAME}.json").write_text('{"format": ')
    failed = run_fail({"path": str(snapshot), "require_metadata": False})
    assert len(failed["problems"]) == 2
    assert "is corrupt" in failed["problems"][0]
    assert failed["problems"][1].startswith(f"metadata file {snapshot}.json is not valid JSON")
    assert failed["metadata"] is None


def test_metadata_option_points_elsewhere(backup, tmp_path):
    snapshot, record = backup
    moved = tmp_path / "records" / "mine.json"
    moved.parent.mkdir()
    os.rename(f"{snapshot}.json", moved)
    assert run({"path": str(snapshot), "metadata": str(moved)})["metadata"] == record
    assert "does not exist" in run_fail({"path": str(snapshot)})["msg"]


def test_missing_snapshot(tmp_path):
    failed = run_fail({"path": str(tmp_path / NAME)})
    assert failed["msg"] == f"snapshot {tmp_path / NAME} does not exist"


def test_status_compared_with_metadata(backup, tmp_path):
    snapshot, _unused = backup
    tools = fake_etcdutl(tmp_path)
    result = run({"path": str(snapshot), "tools": tools})
    assert result["status"] == STATUS

    tools = fake_etcdutl(tmp_path, revision=99, total_key=3)
    failed = run_fail({"path": str(snapshot), "tools": tools})
    assert failed["problems"] == [
        "snapshot status reports revision 99 but the metadata records 42",
        "snapshot status reports key count 3 but the metadata records 17",
    ]
    assert failed["status"]["revision"] == 99


def test_status_failing_tool(backup, tmp_path):
    snapshot, _unused = backup
    tool = tmp_path / "etcdctl"
    tool.write_text("#!/bin/sh\necho 'Error: invalid database' >&2\nexit 1\n")
    tool.chmod(0o755)
    tools = {"etcdctl": {"path": str(tool), "version": "3.4.23"}, "etcdutl": None}
    failed = run_fail({"path": str(snapshot), "tools": tools})
    assert failed["problems"] == ["snapshot status failed (rc=1): Error: invalid database"]


def test_trial_restore_scratch_removed(backup, tmp_path):
    snapshot, _unused = backup
    log = tmp_path / "restores.log"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tools = fake_etcdutl(tmp_path, log=log)
    result = run(
        {"path": str(snapshot), "tools": tools, "trial_restore": True, "scratch_dir": str(scratch)}
    )
    assert result["trial_restore"] is True
    (data_dir,) = log.read_text().split()
    assert data_dir.startswith(f"{scratch}/.kubedr-trial-restore-")
    assert data_dir.endswith("/data")
    assert list(scratch.iterdir()) == []


def test_trial_restore_needs_tools(backup):
    snapshot, _unused = backup
    failed = run_fail({"path": str(snapshot), "trial_restore": True})
    assert failed["msg"].startswith("trial_restore needs the etcd tools: pass tools")


def test_tools_without_a_tool(backup):
    snapshot, _unused = backup
    failed = run_fail({"path": str(snapshot), "tools": {"etcdctl": None, "etcdutl": None}})
    assert failed["msg"].startswith("tools names neither etcdctl nor etcdutl with a path")


def test_trial_restore_failure_is_listed(backup, tmp_path):
    snapshot, _unused = backup
    tool = tmp_path / "etcdutl"
    tool.write_text(
        "#!/bin/sh\n"
        '[ "$2" = status ] && { echo \'{"hash":1,"revision":42,"totalKey":17,"totalSize":1}\';'
        " exit 0; }\n"
        "echo 'Error: expected sha256 [1 2], got [3 4]' >&2\nexit 1\n"
    )
    tool.chmod(0o755)
    tools = {"etcdctl": None, "etcdutl": {"path": str(tool), "version": "3.5.16"}}
    failed = run_fail({"path": str(snapshot), "tools": tools, "trial_restore": True})
    assert failed["problems"] == [
        f"trial restore of {snapshot} failed: trial restore failed (rc=1): Error: expected"
        " sha256 [1 2], got [3 4]"
    ]
    assert failed["trial_restore"] is None
    assert sorted(p.name for p in snapshot.parent.iterdir()) == [NAME, f"{NAME}.json", "etcdutl"]


@pytest.mark.parametrize("broken", [False, True])
def test_check_mode_changes_nothing(backup, tmp_path, broken):
    snapshot, _unused = backup
    if broken:
        flip_byte(snapshot, 100)
    log = tmp_path / "restores.log"
    tools = fake_etcdutl(tmp_path, log=log)
    before = {p.name: (p.stat().st_mtime_ns, sha(p)) for p in tmp_path.iterdir()}
    args = {
        "path": str(snapshot),
        "tools": tools,
        "trial_restore": True,
        "_ansible_check_mode": True,
    }
    if broken:
        assert "is corrupt" in run_fail(args)["msg"]
    else:
        result = run(args)
        assert result["changed"] is False
        assert result["trial_restore"] is True
        assert result["status"] == STATUS
        before["restores.log"] = None  # the fake tool's own log
    after = {p.name: (p.stat().st_mtime_ns, sha(p)) for p in tmp_path.iterdir()}
    if not broken:
        after["restores.log"] = None
    assert after == before


def test_an_encrypted_backup_asks_for_decryption_first(tmp_path, age_key):
    directory = tmp_path / "cluster"
    directory.mkdir()
    make_backup(directory, "20261126T030000Z")
    name = snap("20261126T030000Z")
    run_module(
        etcd_backup_encrypt.main,
        {"dir": str(directory), "snapshot": name, "recipients": [age_key.recipient]},
    )
    for given in (directory / name, directory / f"{name}.age"):
        failed = run_fail({"path": str(given)})
        assert f"is stored encrypted ({directory / name}.age)" in failed["msg"]
        assert "kubedr.etcd.etcd_backup_decrypt" in failed["msg"]
