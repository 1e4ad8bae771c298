#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_encrypt
short_description: Encrypt a verified etcd backup at rest with age
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Encrypts the files of one backup in O(dir) - the snapshot and the control-plane archives
    its metadata record lists - to one or more age recipients (public keys). Each file
    C(<name>) is replaced by C(<name>.age). Decrypting needs only a matching identity file
    (the private key) and the C(age) tool; see M(kubedr.etcd.etcd_backup_decrypt).
  - Runs where the backup was filed and verified, typically on the controller after
    M(kubedr.etcd.etcd_backup_receive) (C(delegate_to=localhost)). Needs C(age) there, no
    private key.
  - "Safe order: every file is streamed through C(age) into a hidden temporary file while the
    plain file's sha256 is checked against the metadata record; the encrypted files are
    flushed and renamed into place; the metadata record gets an C(encryption) section
    (recipients, and the size and sha256 of every encrypted file) and is replaced atomically;
    only then are the plain files removed. An interruption leaves the plain backup usable, and
    a re-run finishes the job."
  - The metadata record stays in the clear, under the same name C(<snapshot>.json), so
    retention and restore find encrypted backups like plain ones. It holds no secret (sizes,
    hashes, revision, member names and peer URLs).
  - Without O(snapshot), only checks that C(age) is there and accepts every recipient; use this
    before a backup so a bad setting stops the run before anything is saved.
options:
  dir:
    description: Directory holding the backup (its snapshot, metadata record and archives).
    type: path
  snapshot:
    description:
      - File name (not a path) of the plain snapshot, for example
        C(etcd-snapshot-20261126T030000Z.db). Its metadata record is the same name plus
        C(.json).
      - Leave out to check O(recipients) and C(age) only.
    type: str
  recipients:
    description:
      - age recipients (public keys) to encrypt to - C(age1...) keys or SSH public keys.
        Anyone holding the identity of any one of them can decrypt.
    type: list
    elements: str
    default: []
  recipients_files:
    description: Files listing recipients, one per line (C(#) starts a comment).
    type: list
    elements: path
    default: []
  check_identity_files:
    description:
      - Identity files (private keys) to prove each encrypted file decrypts to the recorded
        sha256 before the plain file is removed. Optional; it costs a second pass, and keeping
        private keys off the host that encrypts is safer.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    details: Checks age, the recipients and the backup, and says what it would encrypt.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A backup whose record already has an C(encryption) section is not encrypted again; its
        encrypted files are checked against the record, and plain copies left by an
        interrupted run are removed.
notes:
  - Room for the backup twice is needed while it runs; the plain files go at the end.
  - A file C(<name>.age) that the metadata record does not list is what an interrupted run
    left, and is replaced.
  - Recipients are recorded in the metadata record so you can tell which key decrypts it.
seealso:
  - module: kubedr.etcd.etcd_backup_decrypt
  - module: kubedr.etcd.etcd_backup_receive
  - name: age
    description: The age file encryption tool and format.
    link: https://age-encryption.org
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.age
"""

EXAMPLES = r"""
- name: Stop early when age or a recipient is not usable
  kubedr.etcd.etcd_backup_encrypt:
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
  delegate_to: localhost
  run_once: true

- name: Encrypt the backup just filed on the controller
  kubedr.etcd.etcd_backup_encrypt:
    dir: /srv/etcd-backups/cluster1
    snapshot: etcd-snapshot-20261126T030000Z.db
    recipients_files: [/etc/kubedr/backup-recipients.txt]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
files:
  description: The backup's file names as now stored in O(dir), the metadata record last.
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: [kubernetes-cp-1-20261126T030000Z.tar.gz.age, etcd-snapshot-20261126T030000Z.db.age,
           etcd-snapshot-20261126T030000Z.db.json]
snapshot:
  description: Path of the encrypted snapshot.
  returned: success, with O(snapshot)
  type: str
  sample: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db.age
encryption:
  description: The C(encryption) section of the metadata record.
  returned: success, with O(snapshot)
  type: dict
  sample:
    method: age
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    files:
      etcd-snapshot-20261126T030000Z.db:
        file: etcd-snapshot-20261126T030000Z.db.age
        size: 360448261
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
removed:
  description: Plain files removed after their encrypted copies were in place.
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: [/srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db]
missing_archives:
  description: Archives the record lists that were not in O(dir) (not encrypted, not listed).
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: []
timings:
  description: Seconds spent encrypting (C(encrypt)) and, with O(check_identity_files),
    decrypting again (C(check)).
  returned: success, when files were encrypted
  type: dict
  sample: {encrypt: 1.9, check: 0.0}
peak_rss_kib:
  description: Peak resident memory of this module (self) and of the age processes it ran (age).
  returned: success, when files were encrypted
  type: dict
  sample: {self: 21000, age: 9000}
recipients:
  description: Every recipient, from O(recipients) and O(recipients_files).
  returned: success
  type: list
  elements: str
  sample: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
age:
  description: Path of the age binary used.
  returned: success
  type: str
  sample: /usr/bin/age
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    age_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._encrypt import encrypt  # noqa: E402
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path"},
            "snapshot": {"type": "str"},
            "recipients": {"type": "list", "elements": "str", "default": []},
            "recipients_files": {"type": "list", "elements": "path", "default": []},
            "check_identity_files": {"type": "list", "elements": "path", "default": []},
            **age_argument_spec(),
        },
        required_by={"snapshot": "dir"},
        supports_check_mode=True,
    )
    p = module.params
    exit_from(
        module,
        lambda: encrypt(
            p["dir"],
            p["snapshot"],
            recipients=p["recipients"],
            recipients_files=p["recipients_files"],
            check_identity_files=p["check_identity_files"],
            age_command=p["age_command"],
            check_mode=module.check_mode,
            warn=module.warn,
        ),
    )


if __name__ == "__main__":
    main()
