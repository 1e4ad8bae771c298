"""Unit tests of the etcd_backup_encrypt module, with the real age binary."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._age import decrypt_file, find_age
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import load_metadata
from ansible_collections.kubedr.etcd.plugins.modules import etcd_backup_encrypt
from tests.support.files import sha
from tests.unit.plugins.modules.conftest import (
    backup_names,
    fail_module,
    make_backup,
    run_module,
    snap,
)

STAMP = "20261126T030000Z"
AGE = find_age()


def run(arguments):
    return run_module(etcd_backup_encrypt.main, arguments)


def run_fail(arguments):
    return fail_module(etcd_backup_encrypt.main, arguments)


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.fixture
def backup(tmp_path):
    directory = tmp_path / "cluster"
    directory.mkdir()
    record = make_backup(directory, STAMP)
    return directory, record


def args(directory, recipient, **extra):
    return {"dir": str(directory), "snapshot": snap(STAMP), "recipients": [recipient], **extra}


def test_encrypts_every_file_and_records_it(backup, age_key, tmp_path):
    directory, record = backup
    plain = {name: sha(directory / name) for name in backup_names(STAMP)[:-1]}
    result = run(args(directory, age_key.recipient))

    assert result["changed"] is True
    stored = [f"{name}.age" for name in backup_names(STAMP)[:-1]]
    assert result["files"] == [*stored, f"{snap(STAMP)}.json"]
    assert listing(directory) == sorted(result["files"])  # no plain file, no temp file left
    assert result["removed"] == [str(directory / name) for name in plain]

    metadata = load_metadata(str(directory / f"{snap(STAMP)}.json"))
    assert metadata["snapshot"] == record["snapshot"]  # the plain file's size and sha256 stay
    encryption = metadata["encryption"]
    assert encryption["method"] == "age"
    assert encryption["recipients"] == [age_key.recipient]
    for name, digest in plain.items():
        entry = encryption["files"][name]
        assert entry["file"] == f"{name}.age"
        assert entry["sha256"] == sha(directory / entry["file"])
        assert entry["size"] == (directory / entry["file"]).stat().st_size
        back = decrypt_file(AGE, str(directory / entry["file"]), [str(age_key.identity)])
        assert back["plain"]["sha256"] == digest


def test_check_mode_changes_nothing(backup, age_key):
    directory, _unused = backup
    before = {name: sha(directory / name) for name in listing(directory)}
    result = run({**args(directory, age_key.recipient), "_ansible_check_mode": True})
    assert result["changed"] is True
    assert "would encrypt" in result["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before


def test_second_run_changes_nothing(backup, age_key, warnings):
    directory, _unused = backup
    run(args(directory, age_key.recipient))
    before = {name: sha(directory / name) for name in listing(directory)}
    again = run(args(directory, age_key.recipient))
    assert again["changed"] is False
    assert "encrypted already" in again["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before
    assert warnings == []


def test_rerun_after_an_interruption_removes_the_plain_leftovers(backup, age_key):
    directory, _unused = backup
    keep = {name: (directory / name).read_bytes() for name in backup_names(STAMP)[:-1]}
    run(args(directory, age_key.recipient))
    for name, data in keep.items():  # as if the run died before removing the plain files
        (directory / name).write_bytes(data)
    result = run(args(directory, age_key.recipient))
    assert result["changed"] is True
    assert sorted(result["removed"]) == sorted(str(directory / name) for name in keep)
    assert not any((directory / name).exists() for name in keep)


def test_other_recipients_later_are_not_applied_and_say_so(
    backup, age_key, other_age_key, warnings
):
    directory, _unused = backup
    run(args(directory, age_key.recipient))
    result = run(args(directory, other_age_key.recipient))
    assert result["changed"] is False
    assert "not encrypted again" in warnings[0]


def test_check_identity_proves_decryption(backup, age_key):
    directory, _unused = backup
    result = run(args(directory, age_key.recipient, check_identity_files=[str(age_key.identity)]))
    assert result["changed"] is True


def test_check_identity_that_does_not_match_stops_before_any_change(backup, age_key, other_age_key):
    directory, _unused = backup
    before = {name: sha(directory / name) for name in listing(directory)}
    failed = run_fail(
        args(directory, age_key.recipient, check_identity_files=[str(other_age_key.identity)])
    )
    assert "does not decrypt with check_identity_files" in failed["msg"]
    assert "no identity matched" in failed["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before


def test_a_damaged_plain_file_is_not_encrypted(backup, age_key):
    directory, _unused = backup
    snapshot = directory / snap(STAMP)
    data = bytearray(snapshot.read_bytes())
    data[100] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    before = {name: sha(directory / name) for name in listing(directory)}
    failed = run_fail(args(directory, age_key.recipient))
    assert "but the metadata records" in failed["msg"]
    assert "is damaged and was not encrypted" in failed["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before


def test_a_missing_archive_is_reported_and_the_rest_encrypted(backup, age_key, warnings):
    directory, _unused = backup
    lost = backup_names(STAMP)[0]
    os.unlink(directory / lost)
    result = run(args(directory, age_key.recipient))
    assert result["missing_archives"] == [lost]
    assert lost in warnings[0]
    record = json.loads((directory / f"{snap(STAMP)}.json").read_text())
    assert lost not in record["encryption"]["files"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"recipients": ["age1bogus"]}, "malformed recipient"),
        ({"recipients": []}, "no age recipient given"),
        ({"age_command": "/nonexistent/age"}, "does not exist or is not executable"),
        ({"snapshot": "../x.db"}, "is not a file name"),
        ({"snapshot": f"{snap(STAMP)}.age"}, "give the plain name"),
        ({"snapshot": snap("20261125T030000Z")}, "does not exist"),
    ],
)
def test_refusals_change_nothing(backup, age_key, extra, message):
    directory, _unused = backup
    before = {name: sha(directory / name) for name in listing(directory)}
    failed = run_fail({**args(directory, age_key.recipient), **extra})
    assert message in failed["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before


def test_without_a_snapshot_only_checks(age_key):
    result = run({"recipients": [age_key.recipient]})
    assert result["changed"] is False
    assert result["recipients"] == [age_key.recipient]
    assert "accepts all 1 recipient" in result["msg"]
    assert "malformed recipient" in run_fail({"recipients": ["age1x"]})["msg"]


def test_a_full_disk_leaves_the_plain_backup_as_it_was(tiny_disk, age_key):
    directory = tiny_disk / "cluster"
    directory.mkdir()
    make_backup(directory, STAMP, hosts=(), pages=160)  # 640 KiB: no room for a second copy
    before = {name: sha(directory / name) for name in listing(directory)}
    failed = run_fail(args(directory, age_key.recipient))
    assert "No space left on device" in failed["msg"]
    assert "the plain backup in" in failed["msg"] and "was left as it is" in failed["msg"]
    assert {name: sha(directory / name) for name in listing(directory)} == before
