"""Unit tests of _age against the real age binary (Debian package age)."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (
    AgeError,
    age_message,
    check_recipients,
    decrypt_file,
    encrypt_file,
    find_age,
    recipient_list,
)
from tests.support.files import sha

AGE = find_age()
SIZE = 3 * (1 << 20) + 12345  # several chunks, and a short last one


@pytest.fixture
def plain(tmp_path):
    path = tmp_path / "snapshot.db"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def encrypted(tmp_path, plain, age_key):
    dest = tmp_path / "snapshot.db.age"
    encrypt_file(AGE, str(plain), str(dest), [age_key.recipient])
    return dest


# --------------------------------------------------------------------------
# find_age, recipients
# --------------------------------------------------------------------------


def test_find_age_in_path_and_by_path(tmp_path):
    assert os.path.basename(AGE) == "age"
    assert find_age(AGE) == AGE
    with pytest.raises(AgeError, match=r"'age-missing' was not found in PATH.*apt install age"):
        find_age("age-missing")
    not_executable = tmp_path / "age"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(AgeError, match=r"does not exist or is not executable.*apt install age"):
        find_age(str(not_executable))


def test_recipient_list_reads_files_and_drops_repeats(tmp_path, age_key, other_age_key):
    listed = tmp_path / "recipients.txt"
    listed.write_text(f"# ops team\n{other_age_key.recipient}\n\n{age_key.recipient}\n")
    assert recipient_list([age_key.recipient], [str(listed)]) == [
        age_key.recipient,
        other_age_key.recipient,
    ]


@pytest.mark.parametrize(
    ("recipients", "files", "message"),
    [
        ([], [], "no age recipient given"),
        ([" "], [], "no age recipient given"),
        (["AGE-SECRET-KEY-1QQQ"], [], r"secret key.*age-keygen -y"),
        ([], ["/nonexistent/recipients.txt"], "cannot read recipients file"),
    ],
)
def test_recipient_list_refuses(recipients, files, message):
    with pytest.raises(AgeError, match=message):
        recipient_list(recipients, files)


def test_recipients_file_without_recipients(tmp_path):
    empty = tmp_path / "recipients.txt"
    empty.write_text("# nobody yet\n")
    with pytest.raises(AgeError, match="lists no recipient"):
        recipient_list([], [str(empty)])


def test_check_recipients(age_key):
    check_recipients(AGE, [age_key.recipient])
    with pytest.raises(AgeError, match=r"malformed recipient.*not a valid age or SSH public"):
        check_recipients(AGE, [age_key.recipient, "age1-not-a-key"])


# --------------------------------------------------------------------------
# encrypt and decrypt
# --------------------------------------------------------------------------


def test_round_trip_streams_and_hashes(tmp_path, plain, age_key):
    dest = tmp_path / "snapshot.db.age"
    done = encrypt_file(AGE, str(plain), str(dest), [age_key.recipient])
    assert done["plain"] == {"size": SIZE, "sha256": sha(plain)}
    assert done["encrypted"] == {"size": dest.stat().st_size, "sha256": sha(dest)}
    assert dest.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert plain.read_bytes()[:4096] not in dest.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600

    back = tmp_path / "back.db"
    opened = decrypt_file(AGE, str(dest), [str(age_key.identity)], str(back))
    assert opened["plain"] == done["plain"]
    assert opened["encrypted"] == done["encrypted"]
    assert back.read_bytes() == plain.read_bytes()
    assert stat.S_IMODE(back.stat().st_mode) == 0o600
    # only hashing: nothing written
    assert decrypt_file(AGE, str(dest), [str(age_key.identity)])["plain"] == done["plain"]


def test_any_one_recipient_decrypts(tmp_path, plain, age_key, other_age_key):
    dest = tmp_path / "two.age"
    encrypt_file(AGE, str(plain), str(dest), [age_key.recipient, other_age_key.recipient])
    for key in (age_key, other_age_key):
        assert decrypt_file(AGE, str(dest), [str(key.identity)])["plain"]["sha256"] == sha(plain)


def test_encrypt_never_overwrites(tmp_path, plain, age_key):
    dest = tmp_path / "there.age"
    dest.write_bytes(b"keep me")
    with pytest.raises(AgeError, match="cannot create"):
        encrypt_file(AGE, str(plain), str(dest), [age_key.recipient])
    assert dest.read_bytes() == b"keep me"


def test_encrypt_with_a_bad_recipient_leaves_nothing(tmp_path, plain):
    dest = tmp_path / "bad.age"
    with pytest.raises(AgeError, match=r"encrypting .*age exited 1.*unknown recipient type"):
        encrypt_file(AGE, str(plain), str(dest), ["bogus"])
    assert not dest.exists()


def test_wrong_identity(tmp_path, encrypted, other_age_key):
    dest = tmp_path / "out.db"
    with pytest.raises(AgeError, match=r"no identity matched.*does not hold the private key"):
        decrypt_file(AGE, str(encrypted), [str(other_age_key.identity)], str(dest))
    assert not dest.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_ciphertext_is_refused(tmp_path, encrypted, age_key, damage):
    data = bytearray(encrypted.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[len(data) - 1000 :]
    encrypted.write_bytes(bytes(data))
    dest = tmp_path / "out.db"
    with pytest.raises(AgeError, match=r"authenticate payload.*damaged or cut short"):
        decrypt_file(AGE, str(encrypted), [str(age_key.identity)], str(dest))
    assert not dest.exists()


def test_plain_file_is_not_age(tmp_path, plain, age_key):
    with pytest.raises(AgeError, match=r"failed to read header.*not age-encrypted"):
        decrypt_file(AGE, str(plain), [str(age_key.identity)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_identity_must_exist(tmp_path, encrypted):
    with pytest.raises(AgeError, match=r"identity file .* does not exist"):
        decrypt_file(AGE, str(encrypted), [str(tmp_path / "nokey.txt")])
    with pytest.raises(AgeError, match="no age identity file given"):
        decrypt_file(AGE, str(encrypted), [])


def test_age_message_keeps_errors_short_and_printable():
    raw = b'age: error: failed to read header: unexpected intro: "\x00\xff' + b"x" * 500 + b'"\n'
    raw += b"age: report unexpected or unhelpful errors at https://filippo.io/age/report\n"
    message = age_message(raw)
    assert message.startswith("error: failed to read header")
    assert "report unexpected" not in message
    assert len(message) <= 303 and message.isprintable()


def test_a_full_disk_fails_clearly_and_leaves_nothing(tiny_disk, plain, encrypted, age_key):
    with pytest.raises(AgeError, match=r"writing .*failed: No space left on device"):
        encrypt_file(AGE, str(plain), str(tiny_disk / "snapshot.db.age"), [age_key.recipient])
    with pytest.raises(AgeError, match=r"writing .*failed: No space left on device"):
        decrypt_file(AGE, str(encrypted), [str(age_key.identity)], str(tiny_disk / "out.db"))
    assert os.listdir(tiny_disk) == []
