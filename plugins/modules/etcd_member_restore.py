#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_member_restore
short_description: Restore one master's etcd data from a snapshot, keeping the old data
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Restores an etcd snapshot into the data directory of the member on this master, with this
    member's own identity (O(name), O(initial_advertise_peer_urls)) and the cluster-wide
    O(initial_cluster) and O(initial_cluster_token). Run it on every master with the same
    snapshot, cluster and token.
  - Refuses while an etcd process still runs on O(data_dir) (stop the static pods first, for
    example with M(kubedr.etcd.static_pods)).
  - Works inside O(data_dir), which is often a mount point of its own disk - the directory
    itself is never renamed. The snapshot is restored into a staging directory
    C(<data_dir>/.kubedr-restore-<stamp>/); only when that succeeded is the current
    C(<data_dir>/member) renamed to C(<data_dir>/member.kubedr-<stamp>) and the restored
    C(member) renamed into its place. Nothing is deleted; etcd only warns about the extra
    entries in its data directory.
  - The restore tool is the one etcd prescribes for O(etcd_version) - C(etcdctl) for 3.3 and
    3.4, C(etcdutl) for 3.5 and later. The snapshot's sha256 trailer is checked first, and
    again by the tool.
  - A marker C(<data_dir>/.kubedr-restored-<stamp>) (JSON - snapshot, its sha256, member,
    token, tool, command, time) is written last; with it in place a second run does nothing.
  - When the restore tool fails, the staging directory is removed and C(member) is untouched.
options:
  snapshot:
    description: Path of the snapshot file on this master, as written by C(snapshot save).
    type: path
    required: true
  data_dir:
    description:
      - The member's data directory on the host
        (C(kubedr_etcd_member.data_dir_host_path) from M(kubedr.etcd.etcd_member_facts)).
      - Created (mode 0700) when missing.
    type: path
    required: true
  name:
    description: This member's name (its C(--name)).
    type: str
    required: true
  initial_cluster:
    description:
      - Every member of the restored cluster, as C(name1=https://ip1:2380,name2=...); the same
        on every master.
    type: str
    required: true
  initial_advertise_peer_urls:
    description: This member's peer URLs; they must be its URLs in O(initial_cluster).
    type: list
    elements: str
    required: true
  initial_cluster_token:
    description: A new token for the restored cluster; the same on every master.
    type: str
    required: true
  bump_revision:
    description:
      - Raise the revision by this much and mark it compacted, so Kubernetes watch caches
        notice the restore; the usual value is 1000000000.
      - Needs etcd 3.4.27+ or 3.5.10+ tools.
    type: int
  tools:
    description:
      - The etcd tools on this master, as the C(kubedr_etcd_tools) fact that
        M(kubedr.etcd.etcd_member_facts) returns.
    type: dict
    required: true
  etcd_version:
    description:
      - Version of the etcd being restored (C(kubedr_etcd_member.version)); chooses the tool
        when O(tool) is not given. Defaults to the newest tool present.
    type: str
  tool:
    description:
      - The restore tool the restore plan chose for this master (C(name), C(path),
        C(version)), as M(kubedr.etcd.etcd_restore_plan) returns it in each member. It is
        used as it is; without it the tool is chosen here the same way the plan chooses.
    type: dict
  stamp:
    description:
      - UTC time naming this restore, as C(20261126T030000Z); names the moved-aside data, the
        staging directory and the marker. Use the same stamp on every master.
    type: str
    required: true
  timeout:
    description: Seconds the restore tool may take before it is stopped.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details: Makes every check (running etcd, snapshot trailer, tool, arguments, free space),
      then reports what it would do.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: The marker of O(stamp) makes a second run report no change.
notes:
  - Code runs on the master with the Python standard library only.
  - To undo, stop etcd again and run the commands in RV(rollback).
  - When run as root and O(data_dir) belongs to another user (for example C(etcd)), the
    restored files are given to that user.
seealso:
  - module: kubedr.etcd.static_pods
  - module: kubedr.etcd.etcd_member_facts
  - module: kubedr.etcd.etcd_snapshot
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Restore this master's member from the shared snapshot
  kubedr.etcd.etcd_member_restore:
    snapshot: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
    data_dir: "{{ kubedr_etcd_member.data_dir_host_path }}"
    name: "{{ kubedr_etcd_member.name }}"
    initial_advertise_peer_urls: "{{ kubedr_etcd_member.initial_advertise_peer_urls }}"
    # the same on every master: name1=https://ip1:2380,name2=...
    initial_cluster: "{{ kubedr_etcd_member.initial_cluster_string }}"
    initial_cluster_token: kubedr-20261126T041500Z
    bump_revision: 1000000000
    tools: "{{ kubedr_etcd_tools }}"
    etcd_version: "{{ kubedr_etcd_member.version }}"
    stamp: 20261126T041500Z
  register: restored
"""

RETURN = r"""
moved_aside:
  description: Where the previous C(member) directory went; null when there was none.
  returned: always
  type: str
  sample: /var/lib/etcd/member.kubedr-20261126T041500Z
data_dir:
  description: The data directory.
  returned: always
  type: str
  sample: /var/lib/etcd
member_dir:
  description: The restored member directory.
  returned: always
  type: str
  sample: /var/lib/etcd/member
tool:
  description: The restore tool.
  returned: always
  type: str
  sample: etcdutl
version:
  description: Its version.
  returned: always
  type: str
  sample: 3.5.16
bump_revision:
  description: The revision bump applied, or null.
  returned: always
  type: int
  sample: 1000000000
argv:
  description: The restore command (restoring into the staging directory).
  returned: always
  type: list
  elements: str
  sample:
    - /usr/local/bin/etcdutl
    - snapshot
    - restore
    - /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
    - --data-dir
    - /var/lib/etcd/.kubedr-restore-20261126T041500Z/data
    - --name
    - cp-1
seconds:
  description: Seconds the restore took (0 when nothing was done).
  returned: always
  type: float
  sample: 1.8
rollback:
  description: Shell commands that undo the restore; stop etcd before running them.
  returned: always
  type: list
  elements: str
  sample:
    - mv -T /var/lib/etcd/member /var/lib/etcd/member.failed-20261126T041500Z
    - mv -T /var/lib/etcd/member.kubedr-20261126T041500Z /var/lib/etcd/member
    - mv -T /var/lib/etcd/.kubedr-restored-20261126T041500Z
      /var/lib/etcd/.kubedr-restored-20261126T041500Z.rolled-back
marker:
  description: The marker file of this restore.
  returned: always
  type: str
  sample: /var/lib/etcd/.kubedr-restored-20261126T041500Z
notes:
  description: What the tool choice or an interrupted earlier run left to know.
  returned: always
  type: list
  elements: str
  sample: ["removed /var/lib/etcd/.kubedr-restore-20261126T041500Z left by an interrupted run"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (  # noqa: E402
    RestoreError,
    restore_member,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "snapshot": {"type": "path", "required": True},
            "data_dir": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "initial_cluster": {"type": "str", "required": True},
            "initial_advertise_peer_urls": {"type": "list", "elements": "str", "required": True},
            "initial_cluster_token": {"type": "str", "required": True, "no_log": False},
            "bump_revision": {"type": "int"},
            "tools": {"type": "dict", "required": True},
            "etcd_version": {"type": "str"},
            "tool": {"type": "dict"},
            "stamp": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] <= 0:
        module.fail_json(msg=f"timeout={p['timeout']}: give the seconds the restore may take")
    exit_from(
        module,
        lambda: restore_member(
            tools=p["tools"],
            snapshot=p["snapshot"],
            data_dir=p["data_dir"],
            name=p["name"],
            initial_cluster=p["initial_cluster"],
            initial_advertise_peer_urls=p["initial_advertise_peer_urls"],
            initial_cluster_token=p["initial_cluster_token"],
            stamp=p["stamp"],
            bump_revision=p["bump_revision"],
            etcd_version=p["etcd_version"],
            tool=p["tool"],
            timeout=p["timeout"],
            check_mode=module.check_mode,
        ),
        RestoreError,
    )


if __name__ == "__main__":
    main()
