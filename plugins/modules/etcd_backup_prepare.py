#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_prepare
short_description: Read a master's etcd member and archive its control-plane files, in one run
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Does on a master, in one run, what M(kubedr.etcd.etcd_member_facts) and
    M(kubedr.etcd.control_plane_archive) do - the backup role starts one module on every
    master instead of two.
  - Reads the etcd member from its static pod manifest and finds the etcd tools, and
    returns the same facts as M(kubedr.etcd.etcd_member_facts) (C(kubedr_etcd_member),
    C(kubedr_etcd_tools)), with the same checks and messages - any user but root is refused.
  - Then, unless O(archive=false), writes the archive of O(src) as
    M(kubedr.etcd.control_plane_archive) does; and prunes O(dest_dir) by O(keep_last) and
    O(keep_days) when they are set, never the new archive (RV(archive)). A file retention
    cannot remove is a warning - the archive is made; the next run tries again.
  - When the member cannot be read, nothing is written.
options:
  archive:
    description:
      - Write the control-plane archive. With V(false), O(keep_last) and O(keep_days) still
        prune O(dest_dir).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - Reads the member and reports the archive it would write, and what retention would
        prune of the backups there now.
  diff_mode:
    support: none
  facts:
    support: full
  idempotent:
    support: partial
    details: With the same O(stamp), a second run finds the archive and changes nothing.
  platform:
    support: full
    platforms: posix
notes:
  - Runs with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_member_facts
  - module: kubedr.etcd.control_plane_archive
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - kubedr.etcd.member
  - kubedr.etcd.control_plane_archive
  - kubedr.etcd.retention
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
"""

EXAMPLES = r"""
- name: Read each master's member and tools, archive /etc/kubernetes, keep the newest 7
  kubedr.etcd.etcd_backup_prepare:
    dest_dir: /var/backups/kubedr-etcd
    host: "{{ inventory_hostname }}"
    stamp: "{{ backup_stamp }}"
    keep_last: 7
  register: prepared

- name: Show where each master's etcd keeps its data, and its archive
  ansible.builtin.debug:
    msg: "{{ kubedr_etcd_member.data_dir }}; {{ prepared.archive.path }}"
"""

RETURN = r"""
ansible_facts:
  description:
    - C(kubedr_etcd_member) and C(kubedr_etcd_tools), exactly as
      M(kubedr.etcd.etcd_member_facts) returns them (see that module for every field).
  returned: success
  type: dict
  sample:
    kubedr_etcd_member: {"name": "master-1", "data_dir": "/var/lib/etcd"}
    kubedr_etcd_tools: {"etcdctl": {"path": "/usr/bin/etcdctl", "version": "3.5.16"}}
archive:
  description:
    - The archive, as M(kubedr.etcd.control_plane_archive) returns it (C(path), C(file),
      C(host), C(size), C(sha256), and C(retention) when rules are set); with
      O(archive=false), C(retention) only.
  returned: success
  type: dict
  sample:
    path: /var/backups/kubedr-etcd/kubernetes-docker8-20261126T030000Z.tar.gz
    file: kubernetes-docker8-20261126T030000Z.tar.gz
    host: docker8
    size: 28412
    sha256: 5e2b...
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    control_plane_argument_spec,
    member_argument_spec,
    retention_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._control_plane import (  # noqa: E402
    ControlPlaneError,
    archive_of,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._member_facts import (  # noqa: E402
    module_facts,
)


def main():
    module = AnsibleModule(
        argument_spec={
            **member_argument_spec(),
            "archive": {"type": "bool", "default": True},
            **control_plane_argument_spec(),
            **retention_argument_spec(),
        },
        supports_check_mode=True,
    )
    facts = module_facts(module)
    try:
        archive = archive_of(module.params, module.check_mode, warn=module.warn)
    except ControlPlaneError as exc:
        module.fail_json(msg=str(exc), archive=exc.details)
    module.exit_json(changed=archive.pop("changed"), ansible_facts=facts, archive=archive)


if __name__ == "__main__":
    main()
