#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_preflight
short_description: Gather what a restore must check on one master, changing nothing
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Returns, as the fact C(kubedr_etcd_preflight), what the restore plan checks on this master
    before anything is stopped - its hostname, which of the given addresses are configured on
    it, the IP addresses its etcd peer and server certificates were issued for, the free space
    and mount state of the etcd data directory, whether its etcd runs and leads the cluster.
  - The checks themselves are made once for all masters by M(kubedr.etcd.etcd_restore_plan).
options:
  member:
    description: This master's C(kubedr_etcd_member) fact from M(kubedr.etcd.etcd_member_facts).
    type: dict
    required: true
  tools:
    description: This master's C(kubedr_etcd_tools) fact.
    type: dict
    required: true
  addresses:
    description:
      - IP addresses to test - which of them are configured on this master. Pass the member's
        peer URL hosts and the address Ansible connects to.
    type: list
    elements: str
    default: []
  snapshot_dir:
    description: Directory the restore copies the snapshot to; its free space is reported.
    type: path
    default: /var/lib/kubedr-etcd/restore
  state_dir:
    description: Directory of the restore journal (see M(kubedr.etcd.etcd_restore_journal)).
    type: path
    default: /var/lib/kubedr-etcd/restore
  status_timeout:
    description: Seconds to wait for the local etcd's status (leader, revision).
    type: int
    default: 10
  manifest_path:
    description:
      - Where the kubelet reads the etcd static pod manifest. When it is not there, the
        manifests are moved aside (RV(ansible_facts.kubedr_etcd_preflight.manifests_moved_aside)).
    type: path
    default: /etc/kubernetes/manifests/etcd.yaml
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Runs with the Python standard library only.
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Gather the restore checks
  kubedr.etcd.etcd_restore_preflight:
    member: "{{ kubedr_etcd_member }}"
    tools: "{{ kubedr_etcd_tools }}"
    addresses: >-
      {{ [ansible_host] + kubedr_etcd_member.initial_advertise_peer_urls
         | map('urlsplit', 'hostname') | list }}
"""

RETURN = r"""
ansible_facts:
  description: The preflight facts.
  returned: always
  type: dict
  contains:
    kubedr_etcd_preflight:
      description: What this master looks like to a restore.
      type: dict
      contains:
        hostname:
          description: The master's hostname.
          type: str
          sample: docker8
        addresses:
          description: The given addresses that are configured on this master.
          type: list
          elements: str
          sample: [10.77.0.8]
        peer_cert_ips:
          description: IP addresses in the subjectAltName of the member's peer certificate.
          type: list
          elements: str
          sample: [10.77.0.8, 127.0.0.1, "::1"]
        server_cert_ips:
          description: IP addresses in the subjectAltName of the member's server certificate.
          type: list
          elements: str
        data_dir_free:
          description: Free bytes in the file system of the etcd data directory.
          type: int
        data_dir_is_mount:
          description: Whether the data directory is a mount point (then only its content moves).
          type: bool
        etcd_running:
          description: Whether the local etcd answered its status.
          type: bool
        is_leader:
          description: Whether the local etcd leads the cluster; null when it did not answer.
          type: bool
        revision:
          description: The local etcd's current revision; null when it did not answer.
          type: int
        last_restore:
          description:
            - The newest restore by this collection found in the data directory (stamp, sha256
              and path of the snapshot, time); null when there is none.
          type: dict
        member_id:
          description: The local member's id (hex); null when etcd did not answer.
          type: str
        cluster_id:
          description: The cluster id the local etcd reports; null when it did not answer.
          type: str
        members:
          description:
            - The live cluster's members as the local etcd lists them (name, id, peer_urls,
              is_learner, started); null when it did not answer.
          type: list
          elements: dict
        snapshot_dir:
          description: O(snapshot_dir).
          type: str
        snapshot_dir_free:
          description: Free bytes where the snapshot will be copied (O(snapshot_dir)).
          type: int
        snapshot_dir_on_data_dir_fs:
          description:
            - Whether O(snapshot_dir) takes its room from the data dir's file system; the plan
              then asks there for the copy and the staged restore together.
          type: bool
        journal:
          description:
            - The restore journal on this master (C(<state_dir>/journal.json)), null when
              there is none, or C({error}) when it cannot be read.
          type: dict
        manifests_moved_aside:
          description:
            - Whether O(manifest_path) is missing, read at the same moment as the journal
              (a restore run that goes on elsewhere changes both).
          type: bool
        state_dir:
          description: O(state_dir), as given.
          type: str
        state_dir_identity:
          description:
            - Which directory O(state_dir) is on this kernel - C(boot_id), C(dev), C(ino) of
              it or of its nearest existing parent, and C(rest) of the path - so that the
              plan refuses masters on one kernel that see one state dir; null when unknown.
          type: dict
        machine_id:
          description:
            - This master's C(/etc/machine-id); the plan refuses two masters with one, and
              the journal records it. Null when the master has none.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (  # noqa: E402
    DEFAULT_MANIFEST,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._preflight import gather  # noqa: E402
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (  # noqa: E402
    DEFAULT_STATE_DIR,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "member": {"type": "dict", "required": True},
            "tools": {"type": "dict", "required": True},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "snapshot_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
            "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
            "status_timeout": {"type": "int", "default": 10},
            "manifest_path": {"type": "path", "default": DEFAULT_MANIFEST},
        },
        supports_check_mode=True,
    )
    p = module.params
    facts = gather(
        p["member"],
        p["tools"],
        p["addresses"],
        p["snapshot_dir"],
        p["state_dir"],
        p["status_timeout"],
        p["manifest_path"],
    )
    module.exit_json(changed=False, ansible_facts={"kubedr_etcd_preflight": facts})


if __name__ == "__main__":
    main()
