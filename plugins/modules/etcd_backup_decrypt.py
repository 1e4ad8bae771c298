#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_decrypt
short_description: Decrypt an age-encrypted etcd backup and check it against its record
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Takes a backup as M(kubedr.etcd.etcd_backup_encrypt) left it - C(<snapshot>.age) and the
    metadata record C(<snapshot>.json) in the clear - and decrypts the snapshot (and, with
    O(include_archives), the control-plane archives) into O(dest_dir), with the identity files
    (private keys) given. Each file is streamed through C(age) into a hidden temporary file
    (mode 0600) and renamed to its plain name only when its size and sha256 equal those the
    record gives for the plain file.
  - A copy of the record is written beside the decrypted snapshot, without its
    C(encryption) section, so M(kubedr.etcd.etcd_snapshot_verify) and restore-ha treat the
    copy like any plain backup.
  - A backup that is not encrypted is left alone and returned as it is (RV(encrypted=false)),
    so a playbook can call this for every backup.
  - age authenticates what it decrypts; a wrong identity, a damaged or a cut-short file fails
    with age's reason and a hint, and leaves nothing in O(dest_dir).
options:
  snapshot:
    description:
      - Path of the backup's snapshot, by its plain name (C(.../etcd-snapshot-<time>.db)) or
        its encrypted one (C(.../etcd-snapshot-<time>.db.age)). Its metadata record
        C(<plain name>.json) must be beside it.
    type: path
    required: true
  dest_dir:
    description:
      - Directory for the decrypted files; created with mode 0700. Must not be the backup's
        own directory. Remove the plain copies when done; they hold every secret of the
        cluster.
    type: path
    required: true
  identity_files:
    description: age identity files (private keys); any one that matches a recipient will do.
    type: list
    elements: path
    default: []
  include_archives:
    description: Decrypt the control-plane archives the record lists too.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Decrypts to check the sha256 of every file, and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A decrypted file already in O(dest_dir) with the recorded sha256 is kept as it is.
notes:
  - By hand, C(age -d -i <identity file> -o <snapshot> <snapshot>.age) does the same for one
    file; check its sha256 against C(snapshot.sha256) in the record.
seealso:
  - module: kubedr.etcd.etcd_backup_encrypt
  - module: kubedr.etcd.etcd_snapshot_verify
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.age
"""

EXAMPLES = r"""
- name: Decrypt the newest backup on the controller for a restore
  kubedr.etcd.etcd_backup_decrypt:
    snapshot: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db
    dest_dir: /srv/etcd-backups/.decrypted
    identity_files: [/root/.config/kubedr/backup-identity.txt]
  delegate_to: localhost
  register: decrypted

- name: Get the control-plane files back too (private keys in the clear - handle with care)
  kubedr.etcd.etcd_backup_decrypt:
    snapshot: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db
    dest_dir: /root/restore-work
    identity_files: [/root/.config/kubedr/backup-identity.txt]
    include_archives: true
  delegate_to: localhost
"""

RETURN = r"""
encrypted:
  description: Whether the backup was stored encrypted.
  returned: success
  type: bool
  sample: true
snapshot:
  description:
    - Path of the plain snapshot to use - the decrypted copy in O(dest_dir), or the snapshot
      itself when the backup is not encrypted.
  returned: success
  type: str
  sample: /srv/etcd-backups/.decrypted/etcd-snapshot-20261126T030000Z.db
metadata_file:
  description: Path of the metadata record beside RV(snapshot).
  returned: success
  type: str
  sample: /srv/etcd-backups/.decrypted/etcd-snapshot-20261126T030000Z.db.json
archives:
  description: Paths of the decrypted control-plane archives (O(include_archives)).
  returned: success
  type: list
  elements: str
  sample: [/root/restore-work/kubernetes-cp-1-20261126T030000Z.tar.gz]
size:
  description: Size in bytes of the plain snapshot.
  returned: success
  type: int
  sample: 360448032
sha256:
  description: sha256 of the plain snapshot, as checked.
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
recipients:
  description: The recipients the record says the backup was encrypted to.
  returned: success
  type: list
  elements: str
  sample: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (  # noqa: E402
    AgeError,
    decrypt_file,
    find_age,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    age_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import (  # noqa: E402
    fsync_dir,
    remove,
    temp_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (  # noqa: E402
    ENCRYPTED_SUFFIX,
    SnapshotError,
    backup_files,
    is_encrypted,
    load_metadata,
    metadata_path,
    sha256_file,
    write_json_atomic,
)


def already_there(path, plain):
    """Whether ``path`` is the plain file the record describes."""
    try:
        return os.path.getsize(path) == plain["size"] and sha256_file(path) == plain["sha256"]
    except (OSError, SnapshotError):
        return False


def main():
    module = AnsibleModule(
        argument_spec={
            "snapshot": {"type": "path", "required": True},
            "dest_dir": {"type": "path", "required": True},
            "identity_files": {"type": "list", "elements": "path", "default": []},
            "include_archives": {"type": "bool", "default": False},
            **age_argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    given = p["snapshot"]
    plain_path = given[: -len(ENCRYPTED_SUFFIX)] if given.endswith(ENCRYPTED_SUFFIX) else given
    source_dir = os.path.dirname(os.path.abspath(plain_path))
    meta_path = metadata_path(plain_path)
    result = {"changed": False, "encrypted": False, "archives": [], "recipients": []}

    if not os.path.exists(meta_path) and not given.endswith(ENCRYPTED_SUFFIX):
        if not os.path.exists(plain_path):
            module.fail_json(msg=f"snapshot {plain_path} does not exist", **result)
        module.exit_json(
            snapshot=plain_path,
            metadata_file=None,
            msg=f"{plain_path} has no metadata record and is not encrypted: used as it is",
            **result,
        )
    try:
        metadata = load_metadata(meta_path)
    except SnapshotError as exc:
        module.fail_json(
            msg=f"{exc}: an encrypted backup is decrypted and checked with its record; by hand,"
            f" age -d -i <identity file> -o {plain_path} {plain_path}{ENCRYPTED_SUFFIX}",
            **result,
        )
    recorded = metadata["snapshot"]
    if recorded["file"] != os.path.basename(plain_path):
        module.fail_json(
            msg=f"metadata file {meta_path} describes snapshot {recorded['file']}, not"
            f" {os.path.basename(plain_path)}",
            **result,
        )
    result.update(size=recorded["size"], sha256=recorded["sha256"])
    if not is_encrypted(metadata):
        module.exit_json(
            snapshot=plain_path,
            metadata_file=meta_path,
            msg=f"{plain_path} is not encrypted: used as it is",
            **result,
        )

    recipients = metadata["encryption"].get("recipients") or []
    result.update(encrypted=True, recipients=recipients)
    if not p["identity_files"]:
        module.fail_json(
            msg=f"{plain_path} is stored encrypted ({recorded['file']}{ENCRYPTED_SUFFIX}) to"
            f" {', '.join(recipients) or 'unrecorded recipients'}: give the identity file"
            " (private key) of one of them (identity_files; for restore-ha,"
            " etcd_restore_age_identity)",
            **result,
        )
    dest_dir = p["dest_dir"]
    if os.path.realpath(dest_dir) == os.path.realpath(source_dir):
        module.fail_json(
            msg=f"dest_dir {dest_dir} is the backup's own directory: decrypt into another one",
            **result,
        )
    try:
        age = find_age(p["age_command"])
    except AgeError as exc:
        module.fail_json(msg=str(exc), **result)

    wanted = [
        part
        for part in backup_files(metadata)
        if part["kind"] == "snapshot" or p["include_archives"]
    ]
    parts = [part for part in wanted if part["encrypted"]]
    for part in wanted:
        if not part["encrypted"]:
            module.warn(
                f"{part['plain']['file']} is not listed as encrypted in {meta_path}: not decrypted"
            )
    if not parts or parts[-1]["kind"] != "snapshot":
        module.fail_json(
            msg=f"metadata file {meta_path} lists no encrypted snapshot: the record is damaged",
            **result,
        )
    for part in parts:
        part["src"] = os.path.join(source_dir, part["stored"]["file"])
        part["dest"] = os.path.join(dest_dir, part["plain"]["file"])
        if not os.path.isfile(part["src"]):
            module.fail_json(
                msg=f"{part['src']} of backup {recorded['file']} does not exist", **result
            )

    if not module.check_mode:
        try:
            os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            module.fail_json(
                msg=f"cannot create dest_dir {dest_dir}: {exc.strerror or exc}", **result
            )
    written, pending = [], []
    for part in parts:
        plain = part["plain"]
        if already_there(part["dest"], plain):
            continue
        if os.path.lexists(part["dest"]):
            module.fail_json(
                msg=f"{part['dest']} exists and is not the file the record describes; move it"
                " away or choose another dest_dir",
                **result,
            )
        pending.append(part["dest"])
        temp = None
        if not module.check_mode:
            temp = temp_name(part["dest"])
        try:
            done = decrypt_file(age, part["src"], p["identity_files"], temp)["plain"]
        except AgeError as exc:
            remove(*written)
            module.fail_json(msg=f"{exc}; nothing was left in {dest_dir}", **result)
        if done["sha256"] != plain["sha256"] or done["size"] != plain["size"]:
            remove(*[path for path in (temp, *written) if path])
            module.fail_json(
                msg=f"{part['src']} decrypts to {done['size']} bytes with sha256"
                f" {done['sha256']}, but the record gives {plain['size']} bytes with sha256"
                f" {plain['sha256']}: this is not the backup the record describes; nothing was"
                f" left in {dest_dir}",
                **result,
            )
        if temp:
            os.replace(temp, part["dest"])
            written.append(part["dest"])
    copy_path = metadata_path(os.path.join(dest_dir, recorded["file"]))
    if not module.check_mode:
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
    result.update(
        changed=bool(pending),
        snapshot=parts[-1]["dest"],
        metadata_file=copy_path,
        archives=[part["dest"] for part in parts if part["kind"] == "archive"],
        msg=msg,
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
