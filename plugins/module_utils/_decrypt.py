# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Decrypt one backup stored encrypted with age (the etcd_backup_decrypt module).

``decrypt`` reads the backup's metadata record, streams each encrypted file through age
into a hidden temporary file in ``dest_dir``, checks size and sha256 against the record
and only then renames it into place, and writes a plain copy of the record beside it. A
plain backup (no record, or a record without an ``encryption`` section) is used as it
is. Any problem raises DecryptError and leaves nothing half-written in ``dest_dir``.
"""

from __future__ import annotations

import os

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (
    AgeError,
    decrypt_file,
    find_age,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import (
    fsync_dir,
    remove,
    temp_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    ENCRYPTED_SUFFIX,
    SnapshotError,
    backup_files,
    is_encrypted,
    load_metadata,
    metadata_path,
    sha256_file,
    write_json_atomic,
)


class DecryptError(TaskFailure):
    """The backup cannot be decrypted; ``details`` are the fields known so far."""


def already_there(path, plain):
    """Whether ``path`` is the plain file the record describes."""
    try:
        return os.path.getsize(path) == plain["size"] and sha256_file(path) == plain["sha256"]
    except (OSError, SnapshotError):
        return False


def decrypt(
    snapshot,
    dest_dir,
    identity_files=(),
    include_archives=False,
    age_command=None,
    check_mode=False,
    warn=lambda _msg: None,
):
    """Decrypt the backup ``snapshot`` (its plain name or its .age name) into ``dest_dir``;
    returns the module's result."""
    given = snapshot
    plain_path = given[: -len(ENCRYPTED_SUFFIX)] if given.endswith(ENCRYPTED_SUFFIX) else given
    source_dir = os.path.dirname(os.path.abspath(plain_path))
    meta_path = metadata_path(plain_path)
    result = {"changed": False, "encrypted": False, "archives": [], "recipients": []}

    def fail(msg):
        raise DecryptError(msg, **result)

    if not os.path.exists(meta_path) and not given.endswith(ENCRYPTED_SUFFIX):
        if not os.path.exists(plain_path):
            fail(f"snapshot {plain_path} does not exist")
        return dict(
            result,
            snapshot=plain_path,
            metadata_file=None,
            msg=f"{plain_path} has no metadata record and is not encrypted: used as it is",
        )
    try:
        metadata = load_metadata(meta_path)
    except SnapshotError as exc:
        fail(
            f"{exc}: an encrypted backup is decrypted and checked with its record; by hand,"
            f" age -d -i <identity file> -o {plain_path} {plain_path}{ENCRYPTED_SUFFIX}"
        )
    recorded = metadata["snapshot"]
    if recorded["file"] != os.path.basename(plain_path):
        fail(
            f"metadata file {meta_path} describes snapshot {recorded['file']}, not"
            f" {os.path.basename(plain_path)}"
        )
    result.update(size=recorded["size"], sha256=recorded["sha256"])
    if not is_encrypted(metadata):
        return dict(
            result,
            snapshot=plain_path,
            metadata_file=meta_path,
            msg=f"{plain_path} is not encrypted: used as it is",
        )

    recipients = metadata["encryption"].get("recipients") or []
    result.update(encrypted=True, recipients=recipients)
    if not identity_files:
        fail(
            f"{plain_path} is stored encrypted ({recorded['file']}{ENCRYPTED_SUFFIX}) to"
            f" {', '.join(recipients) or 'unrecorded recipients'}: give the identity file"
            " (private key) of one of them (identity_files; for restore-ha,"
            " etcd_restore_age_identity)"
        )
    if os.path.realpath(dest_dir) == os.path.realpath(source_dir):
        fail(f"dest_dir {dest_dir} is the backup's own directory: decrypt into another one")
    try:
        age = find_age(age_command)
    except AgeError as exc:
        fail(str(exc))

    wanted = [
        part for part in backup_files(metadata) if part["kind"] == "snapshot" or include_archives
    ]
    parts = [part for part in wanted if part["encrypted"]]
    for part in wanted:
        if not part["encrypted"]:
            warn(
                f"{part['plain']['file']} is not listed as encrypted in {meta_path}: not decrypted"
            )
    if not parts or parts[-1]["kind"] != "snapshot":
        fail(f"metadata file {meta_path} lists no encrypted snapshot: the record is damaged")
    for part in parts:
        part["src"] = os.path.join(source_dir, part["stored"]["file"])
        part["dest"] = os.path.join(dest_dir, part["plain"]["file"])
        if not os.path.isfile(part["src"]):
            fail(f"{part['src']} of backup {recorded['file']} does not exist")

    if not check_mode:
        try:
            os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create dest_dir {dest_dir}: {exc.strerror or exc}")
    written, pending = [], []
    for part in parts:
        plain = part["plain"]
        if already_there(part["dest"], plain):
            continue
        if os.path.lexists(part["dest"]):
            fail(
                f"{part['dest']} exists and is not the file the record describes; move it"
                " away or choose another dest_dir"
            )
        pending.append(part["dest"])
        temp = None if check_mode else temp_name(part["dest"])
        try:
            done = decrypt_file(age, part["src"], identity_files, temp)["plain"]
        except AgeError as exc:
            remove(*written)
            fail(f"{exc}; nothing was left in {dest_dir}")
        if done["sha256"] != plain["sha256"] or done["size"] != plain["size"]:
            remove(*[path for path in (temp, *written) if path])
            fail(
                f"{part['src']} decrypts to {done['size']} bytes with sha256"
                f" {done['sha256']}, but the record gives {plain['size']} bytes with sha256"
                f" {plain['sha256']}: this is not the backup the record describes; nothing was"
                f" left in {dest_dir}"
            )
        if temp:
            os.replace(temp, part["dest"])
            written.append(part["dest"])
    copy_path = metadata_path(os.path.join(dest_dir, recorded["file"]))
    if not check_mode:
        plain_record = {key: value for key, value in metadata.items() if key != "encryption"}
        plain_record["decrypted_from"] = os.path.abspath(meta_path)
        write_json_atomic(copy_path, plain_record)
        fsync_dir(dest_dir)
    if written:
        msg = f"decrypted {', '.join(map(os.path.basename, written))} into {dest_dir}"
    elif pending:
        msg = f"would decrypt {', '.join(map(os.path.basename, pending))} into {dest_dir}"
    else:
        msg = f"{recorded['file']} was decrypted into {dest_dir} already"
    return dict(
        result,
        changed=bool(pending),
        snapshot=parts[-1]["dest"],
        metadata_file=copy_path,
        archives=[part["dest"] for part in parts if part["kind"] == "archive"],
        msg=msg,
    )
