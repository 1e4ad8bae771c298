"""Unit tests of the etcd_backup_receive module, run through its main()."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import archive_name
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import metadata_path
from ansible_collections.kubedr.etcd.plugins.modules import etcd_backup_encrypt, etcd_backup_receive
from tests.support.files import sha
from tests.unit.plugins.modules.conftest import (
    HOSTS,
    backup_names,
    fail_module,
    make_backup,
    run_module,
    snap,
)

OLD, NEW = "20261125T030000Z", "20261126T030000Z"
PAGES = 8  # make_backup's default: snapshot body of 8 pages, then the 32-byte trailer
SIZE = PAGES * 4096 + 32
RERUN = "the copy was interrupted or corrupted; run the backup again"


@pytest.fixture(autouse=True)
def _warnings(warnings):
    """Every test records the module's warnings (conftest's ``warnings``)."""
    return warnings


def deliver(master, incoming, stamp, hosts=HOSTS, skip=()):
    for name in backup_names(stamp, hosts):
        if name not in skip:
            shutil.copyfile(master / name, incoming / name)


def state(directory):
    """{name: (sha256, mode)} of everything in a directory (hidden files too)."""
    if not directory.exists():
        return None
    return {p.name: (sha(p), stat.S_IMODE(p.stat().st_mode)) for p in directory.iterdir()}


@pytest.fixture
def dirs(tmp_path):
    master, incoming = tmp_path / "master", tmp_path / "incoming"
    master.mkdir()
    incoming.mkdir()
    return master, incoming, tmp_path / "backups"


def args(incoming, dest, stamp, **extra):
    return {"incoming_dir": str(incoming), "dest_dir": str(dest), "snapshot": snap(stamp), **extra}


def run(arguments):
    return run_module(etcd_backup_receive.main, arguments)


def run_fail(arguments):
    return fail_module(etcd_backup_receive.main, arguments)


@pytest.fixture
def received_old(dirs):
    """dest_dir already holds an earlier backup (OLD); returns its state."""
    master, incoming, dest = dirs
    make_backup(master, OLD)
    deliver(master, incoming, OLD)
    run(args(incoming, dest, OLD))
    before = state(dest)
    assert sorted(before) == sorted(backup_names(OLD))
    return before


# --------------------------------------------------------------------------


def test_receive_valid_backup(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    result = run(args(incoming, dest, NEW))
    final = [str(dest / name) for name in backup_names(NEW)]
    assert result["changed"] is True
    assert result["snapshot"] == str(dest / snap(NEW))
    assert result["metadata_file"] == str(dest / f"{snap(NEW)}.json")
    assert result["archives"] == final[:2]
    assert result["installed"] == final
    assert result["verified"] == {name: sha(master / name) for name in backup_names(NEW)}
    assert result["missing_archives"] == []
    assert result["removed_from_incoming"] == []
    assert result["msg"] == f"installed {', '.join(backup_names(NEW))} into {dest}"
    assert state(dest) == {name: (sha(master / name), 0o600) for name in backup_names(NEW)}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert list(incoming.iterdir()) == []


def test_rerun_is_idempotent(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    run(args(incoming, dest, NEW))
    installed = state(dest)
    mtimes = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}

    # incoming is empty now: the record in dest_dir says what to expect
    again = run(args(incoming, dest, NEW))
    assert again["changed"] is False
    assert again["installed"] == []
    assert again["msg"] == f"{snap(NEW)} is already in {dest}"
    assert again["verified"] == {name: sha(master / name) for name in backup_names(NEW)}

    # the same files copied again: duplicates are removed, nothing changes
    deliver(master, incoming, NEW)
    third = run(args(incoming, dest, NEW))
    assert third["changed"] is False
    assert third["removed_from_incoming"] == [str(incoming / name) for name in backup_names(NEW)]
    assert list(incoming.iterdir()) == []
    assert state(dest) == installed
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == mtimes


def test_parts_already_received_are_kept(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    dest.mkdir()
    for name in backup_names(NEW)[:2]:  # an earlier run filed the archives only
        shutil.copyfile(master / name, dest / name)
    deliver(master, incoming, NEW)
    result = run(args(incoming, dest, NEW))
    assert result["changed"] is True
    assert result["installed"] == [str(dest / name) for name in backup_names(NEW)[2:]]
    assert result["removed_from_incoming"] == [
        str(incoming / name) for name in backup_names(NEW)[:2]
    ]
    assert result["archives"] == [str(dest / name) for name in backup_names(NEW)[:2]]
    assert sorted(state(dest)) == sorted(backup_names(NEW))
    assert list(incoming.iterdir()) == []


def test_truncated_snapshot_installs_nothing(dirs, received_old):
    master, incoming, dest = dirs
    record = make_backup(master, NEW)
    deliver(master, incoming, NEW)
    bad = incoming / snap(NEW)
    bad.write_bytes(bad.read_bytes()[:16384])  # an interrupted copy
    truncated_sha = sha(bad)

    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"snapshot {bad} (16384 bytes) has no sha256 trailer: not a file written by `etcdctl"
        " snapshot save` (a copy of member/snap/db has none), or it was truncated",
        f"incoming snapshot {bad}: size is 16384 bytes but the metadata records {SIZE} bytes",
        f"incoming snapshot {bad}: sha256 is {truncated_sha} but the metadata records"
        f" {record['snapshot']['sha256']}",
    ]
    assert failed["msg"] == (
        f"receiving {snap(NEW)} failed: {'; '.join(failed['problems'])}. {RERUN} (removed from"
        f" {incoming}: {', '.join(backup_names(NEW))}; nothing of it was installed in {dest})"
    )
    assert failed["removed_from_incoming"] == [str(incoming / name) for name in backup_names(NEW)]
    assert state(dest) == received_old
    assert list(incoming.iterdir()) == []
    assert sorted(p.name for p in master.iterdir() if p.is_file()) == sorted(
        backup_names(OLD) + backup_names(NEW)
    )


def test_flipped_byte_in_snapshot(dirs, received_old):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    bad = incoming / snap(NEW)
    data = bytearray(bad.read_bytes())
    data[4096] ^= 0xFF
    bad.write_bytes(bytes(data))
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"][0] == (
        f"snapshot {bad} is corrupt: the sha256 of its content does not match the trailer etcd"
        " wrote when saving it"
    )
    assert failed["problems"][1].startswith(f"incoming snapshot {bad}: sha256 is ")
    assert len(failed["problems"]) == 2
    assert RERUN in failed["msg"]
    assert state(dest) == received_old
    assert list(incoming.iterdir()) == []


def test_corrupt_archive(dirs, received_old):
    master, incoming, dest = dirs
    record = make_backup(master, NEW)
    deliver(master, incoming, NEW)
    bad = incoming / archive_name("cp-2", NEW)
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0x01
    bad.write_bytes(bytes(data))
    expected, actual = record["control_plane_archives"][1]["sha256"], sha(bad)
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"incoming control-plane archive {bad} has sha256 {actual} but the metadata records"
        f" {expected}"
    ]
    assert failed["msg"].startswith(f"receiving {snap(NEW)} failed: incoming control-plane")
    assert state(dest) == received_old
    assert list(incoming.iterdir()) == []


def test_metadata_records_other_values(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    record_path = incoming / f"{snap(NEW)}.json"
    record = json.loads(record_path.read_text())
    record["snapshot"]["size"] = 4096
    record["snapshot"]["sha256"] = "0" * 64
    record_path.write_text(json.dumps(record))
    failed = run_fail(args(incoming, dest, NEW))
    shown = incoming / snap(NEW)
    assert failed["problems"] == [
        f"incoming snapshot {shown}: size is {SIZE} bytes but the metadata records 4096 bytes",
        f"incoming snapshot {shown}: sha256 is {sha(master / snap(NEW))} but the metadata"
        f" records {'0' * 64}",
    ]
    assert not dest.exists()
    assert list(incoming.iterdir()) == []


def test_metadata_missing_or_unreadable(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW, skip=[f"{snap(NEW)}.json"])
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"no metadata file {snap(NEW)}.json in {incoming} (nor in {dest}): the metadata record"
        " is copied with the snapshot"
    ]
    assert failed["removed_from_incoming"] == [str(incoming / snap(NEW))]
    assert sorted(p.name for p in incoming.iterdir()) == backup_names(NEW)[:2]

    deliver(master, incoming, NEW)
    (incoming / f"{snap(NEW)}.json").write_text('{"format": "kubedr.etcd/snap')
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"][0].startswith(
        f"metadata file {incoming / snap(NEW)}.json is not valid JSON"
    )
    assert not dest.exists()


def test_missing_archive(dirs, warnings):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    missing = archive_name("cp-2", NEW)
    deliver(master, incoming, NEW, skip=[missing])
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"control-plane archive {missing} listed in the metadata is not in {incoming}"
    ]
    assert not dest.exists()
    assert list(incoming.iterdir()) == []

    deliver(master, incoming, NEW, skip=[missing])
    result = run(args(incoming, dest, NEW, require_archives=False))
    assert result["changed"] is True
    assert result["missing_archives"] == [missing]
    assert result["archives"] == [str(dest / archive_name("cp-1", NEW))]
    assert missing not in result["verified"]
    assert sorted(state(dest)) == sorted(set(backup_names(NEW)) - {missing})
    assert warnings == [
        f"control-plane archive {missing} listed in the metadata of {snap(NEW)} was not"
        " received (require_archives=false)"
    ]


def test_name_clash_with_different_content(dirs, received_old):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    squatter = dest / snap(NEW)
    body = os.urandom(4096)
    squatter.write_bytes(body + hashlib.sha256(body).digest())
    dest_before, incoming_before = state(dest), state(incoming)
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"{squatter} exists already with sha256 {sha(squatter)}, but the incoming"
        f" {incoming / snap(NEW)} has sha256 {sha(master / snap(NEW))}: a backup is never"
        " overwritten; find out which is right and move the other away"
    ]
    assert failed["msg"].endswith("Nothing was moved or removed.")
    assert state(dest) == dest_before
    assert state(incoming) == incoming_before


def test_metadata_clash(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    dest.mkdir()
    other = dest / f"{snap(NEW)}.json"
    other.write_text('{"something": "else"}\n')
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"{other} exists already with sha256 {sha(other)}, but the incoming"
        f" {incoming / snap(NEW)}.json has sha256 {sha(master / f'{snap(NEW)}.json')}: a backup"
        " is never overwritten; find out which is right and move the other away"
    ]
    assert sorted(p.name for p in dest.iterdir()) == [other.name]


def test_across_file_systems(dirs, monkeypatch):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append((str(src), str(dst)))
        if len(calls) == 1:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    result = run(args(incoming, dest, NEW))
    first = backup_names(NEW)[0]
    assert calls[0] == (str(incoming / first), str(dest / first))
    temp, target = calls[1]
    assert os.path.dirname(temp) == str(dest)
    assert os.path.basename(temp).startswith(f".{first}.") and temp.endswith(".tmp")
    assert target == str(dest / first)
    # archives, the snapshot, the metadata record last; one fallback, then plain renames
    assert [target for _unused, target in calls[1:]] == [
        str(dest / name) for name in backup_names(NEW)
    ]
    assert result["changed"] is True
    assert state(dest) == {name: (sha(master / name), 0o600) for name in backup_names(NEW)}
    assert list(incoming.iterdir()) == []


def test_failure_while_copying_across_rolls_back(dirs, received_old, monkeypatch):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        if os.path.dirname(str(src)) == str(incoming):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return real_replace(src, dst)

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{snap(NEW)}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    failed = run_fail(args(incoming, dest, NEW))
    assert failed["problems"] == [
        f"installing {snap(NEW)} into {dest} failed: No space left on device"
    ]
    assert RERUN in failed["msg"]
    # the archives copied before are taken out again, no temporary file is left
    assert state(dest) == received_old
    assert list(incoming.iterdir()) == []


def test_check_mode_changes_nothing(dirs, received_old):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    incoming_before = state(incoming)
    result = run(args(incoming, dest, NEW, _ansible_check_mode=True))
    assert result["changed"] is True
    assert result["msg"] == f"would install {', '.join(backup_names(NEW))} into {dest}"
    assert result["installed"] == [str(dest / name) for name in backup_names(NEW)]
    assert state(dest) == received_old
    assert state(incoming) == incoming_before

    bad = incoming / snap(NEW)
    bad.write_bytes(bad.read_bytes()[:8192])
    incoming_before = state(incoming)
    failed = run_fail(args(incoming, dest, NEW, _ansible_check_mode=True))
    assert failed["msg"].endswith(f"{RERUN} (check mode: nothing was removed)")
    assert failed["removed_from_incoming"] == []
    assert state(incoming) == incoming_before
    assert state(dest) == received_old


def test_check_mode_creates_no_dest_dir(dirs):
    master, incoming, dest = dirs
    make_backup(master, NEW)
    deliver(master, incoming, NEW)
    result = run(args(incoming, dest, NEW, _ansible_check_mode=True))
    assert result["changed"] is True
    assert not dest.exists()


@pytest.mark.parametrize("name", ["../etcd-snapshot-x.db", "/tmp/etcd.db", ".hidden.db", ".."])
def test_snapshot_must_be_a_file_name(dirs, name):
    _unused, incoming, dest = dirs
    failed = run_fail({"incoming_dir": str(incoming), "dest_dir": str(dest), "snapshot": name})
    assert failed["msg"] == (
        f"snapshot={name!r} is not a file name: give the snapshot's name without a directory,"
        " e.g. etcd-snapshot-20261126T030000Z.db"
    )


def test_incoming_and_dest_must_differ(dirs):
    _unused, incoming, _unused = dirs
    failed = run_fail(args(incoming, incoming, NEW))
    assert failed["msg"].startswith(f"incoming_dir and dest_dir are both {incoming}")


# --------------------------------------------------------------------------
# encrypted backups (etcd_backup_encrypt, real age)
# --------------------------------------------------------------------------


def encrypted_names(stamp):
    return [*(f"{name}.age" for name in backup_names(stamp)[:-1]), metadata_path(snap(stamp))]


@pytest.fixture
def encrypted_delivery(dirs, age_key):
    """A backup encrypted where it was filed (master), copied as stored to incoming."""
    master, incoming, dest = dirs
    make_backup(master, NEW)
    run_module(
        etcd_backup_encrypt.main,
        {"dir": str(master), "snapshot": snap(NEW), "recipients": [age_key.recipient]},
    )
    for name in encrypted_names(NEW):
        shutil.copyfile(master / name, incoming / name)
    return master, incoming, dest


def test_receive_an_encrypted_backup_as_stored(encrypted_delivery):
    master, incoming, dest = encrypted_delivery
    result = run(args(incoming, dest, NEW))
    assert result["changed"] is True
    assert result["snapshot"] == str(dest / f"{snap(NEW)}.age")
    assert result["verified"] == {name: sha(master / name) for name in encrypted_names(NEW)}
    assert state(dest) == {name: (sha(master / name), 0o600) for name in encrypted_names(NEW)}
    assert run(args(incoming, dest, NEW))["changed"] is False


def test_a_damaged_encrypted_copy_is_refused(encrypted_delivery):
    _master, incoming, dest = encrypted_delivery
    path = incoming / f"{snap(NEW)}.age"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    failed = run_fail(args(incoming, dest, NEW))
    assert f"incoming encrypted snapshot {path} has sha256" in failed["msg"]
    assert not dest.exists()
    assert list(incoming.iterdir()) == []
