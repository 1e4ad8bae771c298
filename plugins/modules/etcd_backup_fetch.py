#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_fetch
short_description: Copy a backup's files from a master into a directory on the controller
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Copies each file of O(src) from the host into O(dest) on the controller, under its own
    name, replacing a file of that name there. Made for the incoming directory that
    M(kubedr.etcd.etcd_backup_receive) then checks against the backup's record.
  - Unlike M(ansible.builtin.fetch) it computes no checksum on either end (the record's
    sha256 is checked afterwards, once), and over the C(ssh) connection it turns SSH
    compression off for the copy unless O(compress).
  - With become (C(ansible_become)), each file is first copied as the become user (root)
    into a private temporary directory of the connection's user on the host (mode 0600,
    owned by that user), read off from there the same way, and removed before the next
    file is copied. The host needs room for the largest file (plus 16 MiB) in the user's
    C(remote_tmp), checked before each copy; the task fails naming the host,
    the directory and both sizes when there is not. Nothing is read into memory, unlike
    M(ansible.builtin.fetch) with become.
options:
  src:
    description: Paths of the files on the host.
    type: list
    elements: path
    required: true
  dest:
    description: Directory on the controller; made (mode 0700) when missing.
    type: path
    required: true
  compress:
    description:
      - Whether SSH may compress the copy (the C(ssh) connection plugin).
      - Off by default, whatever C(ssh_args) says - over a fast link, compressing hundreds
        of MiB costs more time than it saves. Without compression the copy goes over a
        control connection of its own, so a compressing one opened earlier is not reused.
    type: bool
    default: false
attributes:
  action:
    support: full
    details: Runs on the controller; only the connection's file transfer touches the host.
  check_mode:
    support: none
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run copies the files again.
notes:
  - Runs on the controller, as an action plugin; nothing runs on the host but the file
    transfer of the connection plugin.
seealso:
  - module: kubedr.etcd.etcd_backup_receive
  - module: ansible.builtin.fetch
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - kubedr.etcd.attributes.action
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Copy the snapshot and its record into the controller's incoming directory
  kubedr.etcd.etcd_backup_fetch:
    src:
      - /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
      - /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db.json
    dest: /srv/etcd-backups/incoming
"""

RETURN = r"""
fetched:
  description: Paths of the copies on the controller.
  returned: always
  type: list
  elements: str
  sample: [/srv/etcd-backups/incoming/etcd-snapshot-20261126T030000Z.db]
without_compression:
  description: Whether SSH compression was turned off for the copy.
  returned: success
  type: bool
  sample: true
seconds:
  description: How long the copies took.
  returned: success
  type: float
  sample: 1.42
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "list", "elements": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "compress": {"type": "bool", "default": False},
        },
    )
    module.fail_json(msg="etcd_backup_fetch runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
