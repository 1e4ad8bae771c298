#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_retention
short_description: Prune old etcd backups in one directory
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Run it after a new backup was saved (or received) and verified. It looks at the backups
    C(etcd-snapshot-<time>.db) in O(dir) and keeps every one that a rule keeps - among the
    newest O(keep_last), or younger than O(keep_days) days. With neither rule, all are kept.
  - A pruned backup loses its snapshot, its metadata record C(<snapshot>.json), the record of
    its newest drill C(<snapshot>.drill.json), and the
    control-plane archives its record lists that are in O(dir) - those only, and never a file
    that a kept backup also needs. The metadata record goes first, so a backup pruned halfway
    is never taken for a complete one.
  - Control-plane archives that no snapshot record lists (on the masters that did not save
    the snapshot) are pruned by the same rules, counted among themselves.
  - Only complete backups count. A snapshot without a readable metadata record (a save in
    progress or interrupted, or a file someone else put there) is never removed and never
    counts as the newest backup; it is reported in RV(ignored). The newest complete backup is
    always kept.
options:
  dir:
    description: Directory holding the backups. When it does not exist there is nothing to prune.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Reports what it would prune and removes nothing.
  diff_mode:
    support: full
    details:
      - The files in O(dir), one a line, before and after the prune (in check mode, what
        would be pruned).
  idempotent:
    support: full
    details: A second run with the same rules finds nothing to prune.
notes:
  - Runs with the Python standard library only.
  - The time of a backup is the one in its file name, else the file's modification time.
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_backup_receive
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - kubedr.etcd.retention
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Keep the last 7 backups on each master, and any younger than 3 days
  kubedr.etcd.etcd_backup_retention:
    dir: /var/backups/kubedr-etcd
    keep_last: 7
    keep_days: 3

- name: Keep 30 days of backups on the controller
  kubedr.etcd.etcd_backup_retention:
    dir: /srv/etcd-backups/cluster1
    keep_days: 30
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
diff:
  description:
    - With C(--diff), the file names in O(dir), one a line, before and after the prune.
  returned: when diff mode is on and O(dir) exists
  type: dict
  sample:
    before_header: /var/backups/kubedr-etcd
    after_header: /var/backups/kubedr-etcd
    before: |
      etcd-snapshot-20261119T030000Z.db
      etcd-snapshot-20261119T030000Z.db.json
      etcd-snapshot-20261126T030000Z.db
      etcd-snapshot-20261126T030000Z.db.json
    after: |
      etcd-snapshot-20261126T030000Z.db
      etcd-snapshot-20261126T030000Z.db.json
kept:
  description: Snapshots kept, newest first, then standalone archives kept.
  returned: success
  type: list
  elements: str
  sample: [/var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db]
pruned:
  description:
    - Files removed (in check mode, that would be removed) - snapshots, metadata records,
      archives.
  returned: success
  type: list
  elements: str
  sample:
    - /var/backups/kubedr-etcd/etcd-snapshot-20261119T030000Z.db.json
    - /var/backups/kubedr-etcd/etcd-snapshot-20261119T030000Z.db
    - /var/backups/kubedr-etcd/kubernetes-cp-1-20261119T030000Z.tar.gz
ignored:
  description: Snapshots left alone because they have no readable metadata record.
  returned: success
  type: list
  elements: str
  sample: [/var/backups/kubedr-etcd/etcd-snapshot-20261126T040000Z.db]
reasons:
  description: Why each snapshot was kept, pruned or ignored, by file name.
  returned: success
  type: dict
  sample: {etcd-snapshot-20261126T030000Z.db: "kept: newest complete backup, among the newest 7"}
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    retention_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import (  # noqa: E402
    prune,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            **retention_argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    directory = p["dir"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"dir {directory} is not a directory: check the backup directory")
    if not os.path.exists(directory):  # nothing saved there yet (or check mode)
        module.exit_json(
            changed=False,
            kept=[],
            pruned=[],
            ignored=[],
            reasons={},
            msg=f"no backups in {directory}: nothing to prune",
        )
    try:
        result, errors = prune(
            directory,
            keep_last=p["keep_last"],
            keep_days=p["keep_days"],
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except ValueError as exc:
        module.fail_json(msg=f"{exc}; nothing was removed")
    if errors:
        module.fail_json(**{**result, "msg": "could not remove " + "; ".join(errors)})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
