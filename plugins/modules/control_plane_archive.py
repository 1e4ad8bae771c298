#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: control_plane_archive
short_description: Archive a master's control-plane files (/etc/kubernetes)
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Writes a gzip'd tar of C(/etc/kubernetes) - static pod manifests (also moved-aside
    copies), PKI, kubeconfigs - as C(kubernetes-<host>-<stamp>.tar.gz), mode 0600 from the
    first byte since it holds private keys.
  - The archive is streamed to a hidden temporary name, hashed as it is written, and renamed
    into place; a failure (a full disk, say) leaves nothing behind.
  - A dead master needs these files back, and a restore moves the manifests around; keep one
    archive per master with each etcd snapshot.
  - Given O(keep_last) or O(keep_days), once the archive is written it prunes O(dest_dir) by
    those rules, exactly as M(kubedr.etcd.etcd_backup_retention) does, never the new archive -
    on a master that does not save the snapshot, its archives are the only backups it keeps.
    A rule that would delete every backup is refused before anything is written; a file it
    cannot remove is a warning (the next run tries again).
attributes:
  check_mode:
    support: full
    details: Reports the archive it would write.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: With the same O(stamp), a second run finds the archive and changes nothing.
notes:
  - Runs with the Python standard library only.
extends_documentation_fragment:
  - kubedr.etcd.control_plane_archive
  - kubedr.etcd.attributes
  - kubedr.etcd.retention
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Archive /etc/kubernetes beside the snapshot of the same backup
  kubedr.etcd.control_plane_archive:
    dest_dir: /var/backups/kubedr-etcd
    host: "{{ inventory_hostname }}"
    stamp: "{{ backup_stamp }}"
  register: archive
"""

RETURN = r"""
retention:
  description:
    - What retention did in O(dest_dir) once the archive was written (in check mode, what it
      would prune of what is there) - the fields M(kubedr.etcd.etcd_backup_retention)
      returns - C(kept), C(pruned), C(ignored), C(reasons) and C(msg) - and C(errors), the
      files it could not remove.
  returned: when O(keep_last) or O(keep_days) is set
  type: dict
  sample:
    kept: [/var/backups/kubedr-etcd/kubernetes-docker9-20261126T030000Z.tar.gz]
    pruned: []
    ignored: []
    reasons: {}
    msg: nothing to prune, kept 0
path:
  description: Full path of the archive.
  returned: always
  type: str
  sample: /var/backups/kubedr-etcd/kubernetes-docker8-20261126T030000Z.tar.gz
file:
  description: File name of the archive.
  returned: always
  type: str
  sample: kubernetes-docker8-20261126T030000Z.tar.gz
host:
  description: The master's name used in the file name.
  returned: always
  type: str
  sample: docker8
size:
  description: Size in bytes.
  returned: success, not in check mode
  type: int
  sample: 28412
sha256:
  description: sha256 of the archive file.
  returned: success, not in check mode
  type: str
  sample: 5e2b...
entries:
  description: Number of files and directories archived.
  returned: when the archive was written
  type: int
  sample: 41
"""


from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    control_plane_argument_spec,
    retention_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._control_plane import (  # noqa: E402
    ControlPlaneError,
    archive_of,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)


def main():
    module = AnsibleModule(
        argument_spec={**control_plane_argument_spec(), **retention_argument_spec()},
        supports_check_mode=True,
    )
    exit_from(
        module,
        lambda: archive_of(module.params, module.check_mode, warn=module.warn),
        ControlPlaneError,
    )


if __name__ == "__main__":
    main()
