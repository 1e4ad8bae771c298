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

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    age_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._decrypt import decrypt  # noqa: E402
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)


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
    exit_from(
        module,
        lambda: decrypt(
            p["snapshot"],
            p["dest_dir"],
            identity_files=p["identity_files"],
            include_archives=p["include_archives"],
            age_command=p["age_command"],
            check_mode=module.check_mode,
            warn=module.warn,
        ),
    )


if __name__ == "__main__":
    main()
