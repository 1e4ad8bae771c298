#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_receive
short_description: Verify a copied etcd backup and install it in a backup directory
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Runs where a backup is kept off the master (the controller through
    C(delegate_to=localhost), or a backup host), after a snapshot, its metadata record and
    the control-plane archives were copied into O(incoming_dir).
  - Reads the metadata record C(<snapshot>.json), checks the snapshot (its sha256 trailer, and
    size and sha256 equal to the record) and every control-plane archive the record lists
    (size and sha256), and only then moves them into O(dest_dir) - archives first, then the
    snapshot, the metadata record last, so a backup without its record is never taken for a
    complete one.
  - Moves are renames when both directories are on one file system; otherwise each file is
    copied to a hidden temporary name in O(dest_dir), checked again, flushed to disk, renamed,
    and only then removed from O(incoming_dir).
  - An encrypted backup (its record has an C(encryption) section, see
    M(kubedr.etcd.etcd_backup_encrypt)) is received as it is stored - C(<name>.age) files,
    each checked by the size and sha256 the record gives for it; no key is needed.
  - Never overwrites. A file already in O(dest_dir) with the same sha256 counts as received
    and its incoming duplicate is removed; a different file under the same name is an error
    that names both hashes.
  - When a copy is truncated or corrupt, every incoming file of this backup is removed (they
    are copies; the snapshot stays on the master), nothing of it is left in O(dest_dir), the
    backups received before are not touched, and the module fails naming the file, the
    expected and the actual values.
  - Given O(keep_last) or O(keep_days), once the backup is installed it prunes O(dest_dir) by
    those rules, exactly as M(kubedr.etcd.etcd_backup_retention) does, and never the backup it
    received. Without either, nothing is pruned. A file it cannot remove is a warning - the
    backup stays received, and the next run tries again.
options:
  incoming_dir:
    description: Directory the files of the backup were copied into.
    type: path
    required: true
  dest_dir:
    description: Directory the verified backup is installed in; created (mode 0700) if missing.
    type: path
    required: true
  snapshot:
    description:
      - File name (not a path) of the snapshot, for example
        C(etcd-snapshot-20261126T030000Z.db). Its metadata record is the same name plus C(.json).
    type: str
    required: true
  require_archives:
    description:
      - Fail when a control-plane archive listed in the metadata record is not in
        O(incoming_dir) (nor already in O(dest_dir)).
      - When V(false), a missing archive is reported in RV(missing_archives) and the rest is
        installed.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Verifies everything, then reports what it would install; moves and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - When every file is already in O(dest_dir) with the right sha256, nothing changes
        (incoming duplicates are removed, which does not count as a change), and a second
        run with the same retention rules finds nothing to prune.
notes:
  - Runs with the Python standard library only.
  - Installed files get mode 0600; they hold every secret of the cluster.
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_snapshot_verify
  - module: kubedr.etcd.etcd_backup_retention
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - kubedr.etcd.retention
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Fetch the backup of this master into the controller's incoming directory
  ansible.builtin.fetch:
    src: "{{ item }}"
    dest: /srv/etcd-backups/incoming/
    flat: true
  loop: "{{ [snapshot.snapshot, snapshot.metadata_file] + archive_paths }}"

- name: Verify it, install it beside the earlier backups, and keep the newest 14
  kubedr.etcd.etcd_backup_receive:
    incoming_dir: /srv/etcd-backups/incoming
    dest_dir: /srv/etcd-backups/cluster1
    snapshot: "{{ snapshot.snapshot | basename }}"
    keep_last: 14
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
snapshot:
  description: Path of the snapshot in O(dest_dir) (in check mode, the path it would have).
  returned: success
  type: str
  sample: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db
metadata_file:
  description: Path of the metadata record in O(dest_dir).
  returned: success
  type: str
  sample: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db.json
archives:
  description: Paths of the control-plane archives of this backup in O(dest_dir).
  returned: success
  type: list
  elements: str
  sample: [/srv/etcd-backups/cluster1/kubernetes-cp-1-20261126T030000Z.tar.gz]
verified:
  description: sha256 of each file of the backup, by file name.
  returned: success
  type: dict
  sample:
    etcd-snapshot-20261126T030000Z.db: "e3b0c44298fc1c149afbf4c8996fb924..."
installed:
  description: Paths installed by this run (in check mode, that would be installed).
  returned: success
  type: list
  elements: str
  sample: [/srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db]
missing_archives:
  description:
    - Archives listed in the metadata record that were not received (O(require_archives=false)).
  returned: success
  type: list
  elements: str
  sample: []
retention:
  description:
    - What retention did in O(dest_dir) - the same fields
      M(kubedr.etcd.etcd_backup_retention) returns (in check mode, what it would prune), and
      C(errors), the files it could not remove.
  returned: when O(keep_last) or O(keep_days) is set
  type: dict
  contains:
    kept:
      description: Paths of the backups kept, newest first, then standalone archives.
      returned: success
      type: list
      elements: str
    pruned:
      description: Paths of the files removed (in check mode, that would be removed).
      returned: success
      type: list
      elements: str
    ignored:
      description: Snapshots without a readable metadata record, left alone.
      returned: success
      type: list
      elements: str
    reasons:
      description: Why each backup was kept, pruned or ignored, by file name.
      returned: success
      type: dict
    msg:
      description: What retention did, in one line.
      returned: success
      type: str
    errors:
      description: The files it could not remove, each with why (also a warning).
      returned: success
      type: list
      elements: str
  sample:
    kept: [/srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db]
    pruned: []
    ignored: []
    reasons: {}
    msg: nothing to prune, kept 1
    errors: []
removed_from_incoming:
  description: Incoming files removed - duplicates on success, the whole failed backup on failure.
  returned: always
  type: list
  elements: str
  sample: [/srv/etcd-backups/incoming/etcd-snapshot-20261126T030000Z.db]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    retention_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._receive import (  # noqa: E402
    Receiver,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "incoming_dir": {"type": "path", "required": True},
            "dest_dir": {"type": "path", "required": True},
            "snapshot": {"type": "str", "required": True},
            "require_archives": {"type": "bool", "default": True},
            **retention_argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    receiver = Receiver(
        p["incoming_dir"],
        p["dest_dir"],
        p["snapshot"],
        require_archives=p["require_archives"],
        check_mode=module.check_mode,
        warn=module.warn,
        retention=p,
    )
    exit_from(module, receiver.run)


if __name__ == "__main__":
    main()
