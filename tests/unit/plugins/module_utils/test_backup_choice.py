"""Unit tests of _backup_choice: which stored backup a restore or a drill takes."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._backup_choice import (
    NoSuchBackup,
    choose,
    find,
)
from tests.unit.plugins.modules.conftest import make_backup, make_three_backups, snap

OLD, NEW = "20261125T030000Z", "20261126T030000Z"


def test_latest_is_the_newest_complete_backup(tmp_path):
    directory, stamps = make_three_backups(tmp_path)
    make_backup(directory, "29991231T000000Z", complete=False)  # a copy still on its way
    assert [b["name"] for b in choose(str(directory))] == [snap(stamps[0])]
    assert [b["name"] for b in choose(str(directory), "latest", 5)] == [snap(s) for s in stamps]


def test_a_named_backup_by_file_name_or_path(tmp_path):
    directory, stamps = make_three_backups(tmp_path)
    (only,) = choose(str(directory), snap(stamps[2]))
    assert only["name"] == snap(stamps[2])
    (again,) = choose(str(directory), f"/anywhere/{snap(stamps[2])}")
    assert again["name"] == snap(stamps[2])
    # by the name of its record or of its encrypted file, as a listing shows them
    for shown in (f"{snap(stamps[2])}.json", f"{snap(stamps[2])}.age"):
        assert [b["name"] for b in choose(str(directory), shown)] == [snap(stamps[2])]


def test_an_incomplete_or_missing_backup_is_refused_with_what_is_there(tmp_path):
    directory = tmp_path / "b"
    directory.mkdir()
    make_backup(directory, OLD)
    make_backup(directory, NEW, complete=False)
    with pytest.raises(NoSuchBackup) as caught:
        choose(str(directory), snap(NEW))
    assert str(caught.value) == (
        f"no complete backup {snap(NEW)} in {directory} (complete there, newest first: {snap(OLD)})"
    )
    with pytest.raises(NoSuchBackup, match=r"no complete backup x\.db in .*: none\)"):
        choose(str(tmp_path / "empty"), "x.db")
    with pytest.raises(NoSuchBackup, match=f"^no complete backup in {tmp_path / 'empty'}$"):
        choose(str(tmp_path / "empty"))


def test_a_long_list_is_cut_to_the_newest_ten(tmp_path):
    directory = tmp_path / "b"
    directory.mkdir()
    stamps = [f"202611{day:02d}T030000Z" for day in range(1, 14)]
    for stamp in stamps:
        make_backup(directory, stamp, hosts=())
    with pytest.raises(NoSuchBackup) as caught:
        choose(str(directory), "nope.db")
    assert f"{snap(stamps[-1])}, " in str(caught.value)
    assert str(caught.value).endswith(f"{snap(stamps[3])} and 3 older)")


def test_find_describes_the_files_of_an_encrypted_backup(tmp_path):
    directory = tmp_path / "b"
    directory.mkdir()
    make_backup(directory, NEW, hosts=())
    plain = directory / snap(NEW)
    plain.rename(directory / f"{snap(NEW)}.age")  # as etcd_backup_encrypt leaves it
    found = find(str(directory))
    assert found["changed"] is False
    assert found["backup"] == {
        "name": snap(NEW),
        "snapshot": str(plain),
        "files": [f"{plain}.age"],
        "metadata_file": f"{plain}.json",
        "size": (directory / f"{snap(NEW)}.age").stat().st_size,
    }
    assert found["backups"] == [found["backup"]]


def test_a_directory_that_cannot_be_read_says_so(tmp_path, monkeypatch):
    def denied(_directory):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(
        "ansible_collections.kubedr.etcd.plugins.module_utils._backup_choice.scan", denied
    )
    with pytest.raises(
        NoSuchBackup, match=f"^cannot read the backups in {tmp_path}: Permission denied$"
    ):
        choose(str(tmp_path))
