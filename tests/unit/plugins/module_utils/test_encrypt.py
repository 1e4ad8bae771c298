"""Unit tests of _encrypt, called directly, with the real age binary and real key pairs
(tests/unit/conftest.py's age_key) on a backup as a master writes it (make_backup)."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._age import decrypt_file
from ansible_collections.kubedr.etcd.plugins.module_utils._archive import archive_name
from ansible_collections.kubedr.etcd.plugins.module_utils._encrypt import (
    EncryptError,
    encrypt,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    is_encrypted,
    load_metadata,
    metadata_path,
)
from tests.support.files import flip_byte, listing, sha
from tests.unit.plugins.modules.conftest import HOSTS, backup_names, make_backup, snap

STAMP = "20261126T030000Z"
PLAIN = backup_names(STAMP)[:-1]  # archives and snapshot; the record stays in the clear


@pytest.fixture
def backup(tmp_path):
    directory = tmp_path / "cluster"
    directory.mkdir()
    make_backup(directory, STAMP)
    return directory


def test_encrypts_then_removes_the_plain_files(backup, age_key):
    plain = {name: sha(backup / name) for name in PLAIN}
    result = encrypt(str(backup), snap(STAMP), recipients=[age_key.recipient])
    assert result["changed"] is True
    assert listing(backup) == sorted(
        [*(f"{name}.age" for name in PLAIN), metadata_path(snap(STAMP))]
    )
    record = load_metadata(str(backup / metadata_path(snap(STAMP))))
    assert is_encrypted(record)
    assert record["encryption"]["recipients"] == [age_key.recipient]
    for name, digest in plain.items():
        back = decrypt_file(result["age"], str(backup / f"{name}.age"), [str(age_key.identity)])
        assert back["plain"]["sha256"] == digest


def test_check_mode_changes_nothing(backup, age_key):
    before = {name: sha(backup / name) for name in listing(backup)}
    result = encrypt(str(backup), snap(STAMP), recipients=[age_key.recipient], check_mode=True)
    assert result["changed"] is True
    assert result["msg"].startswith("would encrypt ")
    assert {name: sha(backup / name) for name in listing(backup)} == before


def test_second_run_changes_nothing_and_warns_of_other_recipients(backup, age_key):
    encrypt(str(backup), snap(STAMP), recipients=[age_key.recipient])
    warnings = []
    again = encrypt(
        str(backup),
        snap(STAMP),
        recipients=["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"],
        warn=warnings.append,
    )
    assert again["changed"] is False
    assert again["msg"] == f"{snap(STAMP)} was encrypted already"
    assert len(warnings) == 1
    assert "not encrypted again" in warnings[0]


def test_missing_archive_is_left_out_with_a_warning(backup, age_key):
    (backup / archive_name(HOSTS[1], STAMP)).unlink()
    warnings = []
    result = encrypt(str(backup), snap(STAMP), recipients=[age_key.recipient], warn=warnings.append)
    assert result["missing_archives"] == [archive_name(HOSTS[1], STAMP)]
    assert warnings == [
        f"control-plane archive {archive_name(HOSTS[1], STAMP)} is not in {backup}: not encrypted"
    ]


def test_damaged_plain_file_fails_and_leaves_the_backup(backup, age_key):
    snapshot = backup / snap(STAMP)
    flip_byte(snapshot, -1)
    before = {name: sha(backup / name) for name in listing(backup)}
    with pytest.raises(EncryptError, match="is damaged and was not encrypted") as caught:
        encrypt(str(backup), snap(STAMP), recipients=[age_key.recipient])
    assert caught.value.details["recipients"] == [age_key.recipient]
    assert {name: sha(backup / name) for name in listing(backup)} == before  # no temp left


def test_without_a_snapshot_checks_the_recipients_only(age_key):
    result = encrypt(None, None, recipients=[age_key.recipient])
    assert result["changed"] is False
    assert result["msg"].endswith("accepts all 1 recipient(s)")


def test_refuses_a_secret_key_as_recipient(backup):
    with pytest.raises(EncryptError, match="nothing was encrypted"):
        encrypt(str(backup), snap(STAMP), recipients=["AGE-SECRET-KEY-1XXXX"])


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("sub/x.db", "is not a file name"),
        ("x\0.db", "is not a file name"),
        (f"{snap(STAMP)}.age", "give the plain name"),
    ],
)
def test_refuses_names_that_are_not_plain_snapshots(backup, age_key, name, why):
    with pytest.raises(EncryptError, match=why):
        encrypt(str(backup), name, recipients=[age_key.recipient])
