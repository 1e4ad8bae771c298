"""Unit tests of _receive, called directly: real backup files in temporary directories,
as a master writes them (make_backup), copied into an incoming directory."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import archive_name
from ansible_collections.kubedr.etcd.plugins.module_utils._receive import (
    ReceiveError,
    Receiver,
    check_arguments,
)
from tests.support.files import listing, sha
from tests.unit.plugins.modules.conftest import HOSTS, backup_names, make_backup, snap

STAMP = "20261126T030000Z"


@pytest.fixture
def copied(tmp_path):
    """(incoming, dest): one backup written on a 'master' and copied into incoming."""
    master, incoming = tmp_path / "master", tmp_path / "incoming"
    master.mkdir()
    incoming.mkdir()
    make_backup(master, STAMP)
    for name in backup_names(STAMP):
        shutil.copyfile(master / name, incoming / name)
    return incoming, tmp_path / "backups"


def receiver(incoming, dest, **kwargs):
    return Receiver(str(incoming), str(dest), snap(STAMP), **kwargs)


def test_installs_in_order_and_reports(copied):
    incoming, dest = copied
    digests = {name: sha(incoming / name) for name in backup_names(STAMP)}
    result = receiver(incoming, dest).run()
    assert result["changed"] is True
    assert result["installed"] == [str(dest / name) for name in backup_names(STAMP)]
    assert result["verified"] == digests
    assert result["snapshot"] == str(dest / snap(STAMP))
    assert listing(incoming) == []
    assert listing(dest) == sorted(backup_names(STAMP))
    assert {stat.S_IMODE((dest / name).stat().st_mode) for name in listing(dest)} == {0o600}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700


def test_check_mode_moves_nothing(copied):
    incoming, dest = copied
    result = receiver(incoming, dest, check_mode=True).run()
    assert result["changed"] is True
    assert result["msg"].startswith("would install ")
    assert listing(incoming) == sorted(backup_names(STAMP))
    assert listing(dest) is None


def test_second_run_changes_nothing(copied):
    incoming, dest = copied
    receiver(incoming, dest).run()
    result = receiver(incoming, dest).run()
    assert result["changed"] is False
    assert result["installed"] == []


def test_corrupt_copy_raises_and_clears_incoming(copied):
    incoming, dest = copied
    snapshot = incoming / snap(STAMP)
    snapshot.write_bytes(snapshot.read_bytes()[:-100])
    with pytest.raises(ReceiveError) as caught:
        receiver(incoming, dest).run()
    failure = caught.value
    assert "run the backup again" in str(failure)
    assert failure.details["problems"]
    assert sorted(failure.details["removed_from_incoming"]) == sorted(
        str(incoming / name) for name in backup_names(STAMP)
    )
    assert listing(incoming) == []
    assert listing(dest) is None


def test_missing_archive_warns_when_not_required(copied):
    incoming, dest = copied
    (incoming / archive_name(HOSTS[1], STAMP)).unlink()
    warnings = []
    result = receiver(incoming, dest, require_archives=False, warn=warnings.append).run()
    assert result["missing_archives"] == [archive_name(HOSTS[1], STAMP)]
    assert len(warnings) == 1
    assert archive_name(HOSTS[1], STAMP) in warnings[0]
    assert "require_archives=false" in warnings[0]


def test_missing_archive_fails_when_required(copied):
    incoming, dest = copied
    (incoming / archive_name(HOSTS[1], STAMP)).unlink()
    with pytest.raises(ReceiveError, match=f"{archive_name(HOSTS[1], STAMP)} listed in"):
        receiver(incoming, dest).run()
    assert listing(dest) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "is not a file name"),
        ("sub/etcd-snapshot-20261126T030000Z.db", "is not a file name"),
        (".etcd-snapshot-20261126T030000Z.db.tmp", "is not a file name"),
        ("etcd\0.db", "is not a file name"),
    ],
)
def test_check_arguments_refuses_paths(tmp_path, name, why):
    with pytest.raises(ReceiveError, match=why):
        check_arguments(str(tmp_path), str(tmp_path / "dest"), name)


def test_check_arguments_refuses_same_directory(tmp_path):
    with pytest.raises(ReceiveError, match="are both"):
        check_arguments(str(tmp_path), str(tmp_path), snap(STAMP))


def test_check_arguments_refuses_missing_incoming(tmp_path):
    with pytest.raises(ReceiveError, match="is not a directory: copy the backup there first"):
        check_arguments(str(tmp_path / "nowhere"), str(tmp_path / "dest"), snap(STAMP))


OLDER = ("20261124T030000Z", "20261125T030000Z")


@pytest.fixture
def copied_beside_older(copied):
    """``copied``, with two older complete backups already in dest."""
    incoming, dest = copied
    dest.mkdir()
    for stamp in OLDER:
        make_backup(dest, stamp)
    return incoming, dest


def test_retention_prunes_dest_after_installing(copied_beside_older):
    incoming, dest = copied_beside_older
    result = receiver(incoming, dest, retention={"keep_last": 2, "keep_days": None}).run()
    assert result["changed"] is True
    assert listing(dest) == sorted(backup_names(STAMP) + backup_names(OLDER[1]))
    assert sorted(result["retention"]["pruned"]) == sorted(
        str(dest / name) for name in backup_names(OLDER[0])
    )
    files = len(backup_names(OLDER[0]))
    assert result["msg"].endswith(f"; pruned 1 backup(s) ({files} files), kept 2")


def test_retention_never_prunes_the_backup_received(copied_beside_older):
    """keep_days that no backup is young enough for: the newest is kept by plan(), and the
    one received is protected even when an older file claims to be newer."""
    incoming, dest = copied_beside_older
    make_backup(dest, "20261127T030000Z")  # newer than the one received
    result = receiver(incoming, dest, retention={"keep_last": 1}).run()
    assert snap(STAMP) in listing(dest)
    assert result["retention"]["reasons"][snap(STAMP)] == "kept: the backup this run made"
    assert snap(OLDER[0]) not in listing(dest)


def test_without_rules_nothing_is_pruned(copied_beside_older):
    incoming, dest = copied_beside_older
    result = receiver(incoming, dest, retention={"keep_last": None, "keep_days": None}).run()
    assert "retention" not in result
    assert len(listing(dest)) == 3 * len(backup_names(STAMP))


def test_retention_in_check_mode_removes_nothing(copied_beside_older):
    incoming, dest = copied_beside_older
    before = listing(dest)
    result = receiver(incoming, dest, check_mode=True, retention={"keep_last": 1}).run()
    assert result["retention"]["pruned"]
    assert listing(dest) == before
    assert len(listing(incoming)) == len(backup_names(STAMP))


def test_a_rule_that_would_delete_everything_is_refused_before_receiving(copied_beside_older):
    incoming, dest = copied_beside_older
    before = listing(dest)
    with pytest.raises(ReceiveError, match=r"keep_last=0 would delete every backup; use at"):
        receiver(incoming, dest, retention={"keep_last": 0}).run()
    assert listing(dest) == before
    assert len(listing(incoming)) == len(backup_names(STAMP))


def test_a_file_retention_cannot_remove_is_a_warning_and_the_backup_is_received(
    copied_beside_older, monkeypatch
):
    incoming, dest = copied_beside_older
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path).endswith(snap(OLDER[0])):
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    warned = []
    result = receiver(incoming, dest, retention={"keep_last": 2}, warn=warned.append).run()
    assert warned == [
        f"retention in {dest} could not remove {dest / snap(OLDER[0])}: Permission denied"
    ]
    assert result["retention"]["errors"] == [f"{dest / snap(OLDER[0])}: Permission denied"]
    assert snap(STAMP) in listing(dest)
    assert result["installed"]


def test_every_file_is_on_disk_before_it_has_its_name(copied, monkeypatch):
    """A crash right after a rename must not leave a named but half-written backup: each
    file is fsynced before its rename into dest_dir, and dest_dir after it."""
    incoming, dest = copied
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        events.append(("rename", str(src)))
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    receiver(incoming, dest).run()
    for name in backup_names(STAMP):
        source = str(incoming / name)
        renamed = events.index(("rename", source))
        assert ("fsync", source) in events[:renamed], name
        assert ("fsync", str(dest)) in events[renamed:], name
