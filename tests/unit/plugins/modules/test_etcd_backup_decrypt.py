"""Unit tests of the etcd_backup_decrypt module, with the real age binary."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.modules import etcd_backup_decrypt, etcd_backup_encrypt
from tests.support.files import sha
from tests.unit.plugins.modules.conftest import (
    backup_names,
    fail_module,
    make_backup,
    run_module,
    snap,
)

STAMP = "20261126T030000Z"


def run(arguments):
    return run_module(etcd_backup_decrypt.main, arguments)


def run_fail(arguments):
    return fail_module(etcd_backup_decrypt.main, arguments)


@pytest.fixture
def plain_backup(tmp_path):
    directory = tmp_path / "cluster"
    directory.mkdir()
    record = make_backup(directory, STAMP)
    return directory, record


@pytest.fixture
def encrypted_backup(plain_backup, age_key):
    directory, record = plain_backup
    run_module(
        etcd_backup_encrypt.main,
        {"dir": str(directory), "snapshot": snap(STAMP), "recipients": [age_key.recipient]},
    )
    return directory, record


def args(directory, tmp_path, key, **extra):
    return {
        "snapshot": str(directory / snap(STAMP)),
        "dest_dir": str(tmp_path / "decrypted"),
        "identity_files": [str(key.identity)],
        **extra,
    }


def test_decrypts_the_snapshot_and_writes_a_plain_record(encrypted_backup, tmp_path, age_key):
    directory, record = encrypted_backup
    before = sorted(os.listdir(directory))
    result = run(args(directory, tmp_path, age_key))
    dest = tmp_path / "decrypted"
    assert result["changed"] is True and result["encrypted"] is True
    assert result["snapshot"] == str(dest / snap(STAMP))
    assert sha(dest / snap(STAMP)) == record["snapshot"]["sha256"] == result["sha256"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / snap(STAMP)).stat().st_mode) == 0o600
    copy = json.loads((dest / f"{snap(STAMP)}.json").read_text())
    assert "encryption" not in copy
    assert copy["snapshot"] == record["snapshot"]
    assert copy["decrypted_from"] == str(directory / f"{snap(STAMP)}.json")
    assert result["recipients"] == [age_key.recipient]
    assert sorted(os.listdir(dest)) == [snap(STAMP), f"{snap(STAMP)}.json"]
    assert sorted(os.listdir(directory)) == before  # the backup is as it was

    again = run(args(directory, tmp_path, age_key))
    assert again["changed"] is False


def test_the_encrypted_name_works_too_and_archives_on_request(encrypted_backup, tmp_path, age_key):
    directory, record = encrypted_backup
    result = run(
        args(
            directory,
            tmp_path,
            age_key,
            snapshot=str(directory / f"{snap(STAMP)}.age"),
            include_archives=True,
        )
    )
    dest = tmp_path / "decrypted"
    assert sorted(os.listdir(dest)) == sorted(backup_names(STAMP))
    for archive in record["control_plane_archives"]:
        assert sha(dest / archive["file"]) == archive["sha256"]
    assert result["archives"] == [str(dest / a["file"]) for a in record["control_plane_archives"]]


def test_check_mode_decrypts_to_check_and_writes_nothing(encrypted_backup, tmp_path, age_key):
    directory, _unused = encrypted_backup
    result = run({**args(directory, tmp_path, age_key), "_ansible_check_mode": True})
    assert result["changed"] is True and "would decrypt" in result["msg"]
    assert not (tmp_path / "decrypted").exists()


def test_a_plain_backup_is_used_as_it_is(plain_backup, tmp_path, age_key):
    directory, _unused = plain_backup
    result = run(args(directory, tmp_path, age_key, identity_files=[]))
    assert result == {
        **result,
        "changed": False,
        "encrypted": False,
        "snapshot": str(directory / snap(STAMP)),
    }
    assert not (tmp_path / "decrypted").exists()


def test_without_an_identity_says_which_recipients(encrypted_backup, tmp_path, age_key):
    directory, _unused = encrypted_backup
    failed = run_fail(args(directory, tmp_path, age_key, identity_files=[]))
    assert "is stored encrypted" in failed["msg"]
    assert age_key.recipient in failed["msg"]
    assert "etcd_restore_age_identity" in failed["msg"]


def test_wrong_identity_leaves_nothing(encrypted_backup, tmp_path, other_age_key):
    directory, _unused = encrypted_backup
    failed = run_fail(args(directory, tmp_path, other_age_key))
    assert "no identity matched" in failed["msg"]
    assert os.listdir(tmp_path / "decrypted") == []


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_ciphertext_leaves_nothing(encrypted_backup, tmp_path, age_key, damage):
    directory, _unused = encrypted_backup
    path = directory / f"{snap(STAMP)}.age"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[-200:]
    path.write_bytes(bytes(data))
    failed = run_fail(args(directory, tmp_path, age_key))
    assert "damaged or cut short" in failed["msg"]
    assert os.listdir(tmp_path / "decrypted") == []


def test_ciphertext_of_another_file_is_caught_by_the_record(encrypted_backup, tmp_path, age_key):
    directory, _unused = encrypted_backup
    stored = directory / f"{snap(STAMP)}.age"
    archive = directory / f"{backup_names(STAMP)[0]}.age"
    stored.write_bytes(archive.read_bytes())  # decrypts fine, but to the wrong file
    failed = run_fail(args(directory, tmp_path, age_key))
    assert "but the record gives" in failed["msg"]
    assert os.listdir(tmp_path / "decrypted") == []


def test_refusals(encrypted_backup, tmp_path, age_key):
    directory, _unused = encrypted_backup
    same = run_fail(args(directory, tmp_path, age_key, dest_dir=str(directory)))
    assert "is the backup's own directory" in same["msg"]
    nothing = run_fail(args(directory, tmp_path, age_key, snapshot=str(tmp_path / "none.db")))
    assert "does not exist" in nothing["msg"]
    (directory / f"{snap(STAMP)}.json").write_text("{")
    broken = run_fail(args(directory, tmp_path, age_key))
    assert "not valid JSON" in broken["msg"] and "age -d -i" in broken["msg"]
