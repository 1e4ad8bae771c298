#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_find
short_description: Find a stored etcd backup - the newest complete one, or one by name
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Looks in a backup directory as M(kubedr.etcd.etcd_backup_receive) fills it (on the
    controller or on a backup host) for the backup a run should take, and returns where its
    files are.
  - A backup is complete when its metadata record C(<snapshot>.json) lies beside its snapshot,
    plain or encrypted (C(<snapshot>.age)); incomplete ones (a copy in progress or cut short)
    are never chosen. The newest is the one whose name carries the latest time.
  - Fails, naming the directory and the complete backups there (newest first), when the
    backup asked for is not there or there is none.
  - Reads only; the files are not checked here (M(kubedr.etcd.etcd_snapshot_verify) and
    M(kubedr.etcd.etcd_backup_receive) check them against their record).
options:
  dir:
    description: The backup directory, for example C(/var/backups/kubedr-etcd/kubernetes).
    type: path
    required: true
  snapshot:
    description:
      - V(latest) for the newest complete backups, or a backup's file name
        (C(etcd-snapshot-20261126T030000Z.db)); of a path, only the last part counts.
    type: str
    default: latest
  last:
    description: With V(latest), how many of the newest complete backups to return.
    type: int
    default: 1
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Reads only.
notes:
  - Runs with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_backup_receive
  - module: kubedr.etcd.etcd_backup_fetch
  - module: kubedr.etcd.etcd_drill
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Find the newest complete backup on a backup host
  kubedr.etcd.etcd_backup_find:
    dir: /var/backups/kubedr-etcd/kubernetes
  delegate_to: backup1
  register: found

- name: Find one backup by name on the controller
  kubedr.etcd.etcd_backup_find:
    dir: ~/kubedr-etcd-backups/kubernetes
    snapshot: etcd-snapshot-20261126T030000Z.db
  delegate_to: localhost
"""

RETURN = r"""
backup:
  description: The backup chosen (the newest, with O(snapshot=latest)).
  returned: success
  type: dict
  contains:
    name:
      description: The snapshot's plain file name.
      type: str
      sample: etcd-snapshot-20261126T030000Z.db
    snapshot:
      description:
        - Path by the plain name, as restore-ha and M(kubedr.etcd.etcd_backup_decrypt) take
          it - also when only the encrypted file is stored.
      type: str
      sample: /var/backups/kubedr-etcd/kubernetes/etcd-snapshot-20261126T030000Z.db
    files:
      description: The snapshot files stored - the plain one, the encrypted one, or both.
      type: list
      elements: str
      sample: [/var/backups/kubedr-etcd/kubernetes/etcd-snapshot-20261126T030000Z.db.age]
    metadata_file:
      description: Path of the metadata record.
      type: str
      sample: /var/backups/kubedr-etcd/kubernetes/etcd-snapshot-20261126T030000Z.db.json
    size:
      description: Size in bytes of the stored snapshot file.
      type: int
      sample: 268435488
backups:
  description:
    - The backups returned, newest first, each as RV(backup) (O(last) of them with V(latest)).
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._backup_choice import (  # noqa: E402
    find,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "snapshot": {"type": "str", "default": "latest"},
            "last": {"type": "int", "default": 1},
        },
        supports_check_mode=True,
    )
    p = module.params
    exit_from(module, lambda: find(p["dir"], p["snapshot"], p["last"]))


if __name__ == "__main__":
    main()
