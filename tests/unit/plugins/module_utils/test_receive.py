"""Unit tests of _receive, called directly: real backup files in temporary directories,
as a master writes them (make_backup), copied into an incoming directory."""

from __future__ import annotations

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
