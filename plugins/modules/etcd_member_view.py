#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_member_view
short_description: A master's own view of its etcd cluster, asked of its own member only
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Asks this master's own etcd member, on its own client URL (O(endpoint)) only, for the
    member list, its own endpoint status (its member id, the leader it follows, its raft
    index), the alarms and its health - what M(kubedr.etcd.etcd_replace_plan) reads, from
    every surviving master, before a member is replaced.
  - A member that does not answer gives no view - RV(answered) is V(false) and RV(error)
    says what etcdctl answered; the task does not fail, so that the plan can name it.
  - Requests that go through raft (the alarm list, the member list on etcd 3.5) time out
    while a leader is elected, for example just after the leader failed; they are asked
    again for up to O(settle) seconds.
  - Changes nothing.
options:
  endpoint:
    description: This master's own etcd client URL, for example the first of
      C(kubedr_etcd_member.client_urls).
    type: str
    required: true
  host:
    description: This master's inventory name, which the view and its errors carry.
    type: str
    required: true
  timeout:
    description: Seconds each etcdctl command may take.
    type: int
    default: 30
  settle:
    description: Seconds a request through raft is asked again while a leader is elected.
    type: int
    default: 15
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
extends_documentation_fragment:
  - kubedr.etcd.tls
  - kubedr.etcd.tools
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Ask this master's own etcd for its view of the cluster
  kubedr.etcd.etcd_member_view:
    endpoint: "{{ kubedr_etcd_member.client_urls | first }}"
    host: "{{ inventory_hostname }}"
    ca_file: "{{ kubedr_etcd_member.tls.trusted_ca_file }}"
    cert_file: "{{ kubedr_etcd_member.tls.client_cert_file }}"
    key_file: "{{ kubedr_etcd_member.tls.client_key_file }}"
    tools: "{{ kubedr_etcd_tools }}"
  register: view
"""

RETURN = r"""
answered:
  description: Whether this master's etcd answered.
  returned: always
  type: bool
error:
  description: What etcdctl said when it did not answer, else V(null).
  returned: always
  type: str
view:
  description: This master's view, or V(null) when it did not answer.
  returned: always
  type: dict
  contains:
    host:
      description: The inventory host.
      type: str
    member_id:
      description: This master's own member id (16 hex digits).
      type: str
      sample: 7cc83eb522e18dda
    cluster_id:
      description: The cluster id.
      type: str
    leader:
      description: The member id of the leader this member follows.
      type: str
    raft_index:
      description: This member's raft index.
      type: int
    members:
      description: The member list (id, name, peer_urls, client_urls, is_learner, started).
      type: list
      elements: dict
    alarms:
      description: Alarms raised (member_id, alarm - NOSPACE or CORRUPT).
      type: list
      elements: dict
    healthy:
      description: Whether this member's own health check passed.
      type: bool
    errors:
      description: The errors its status and health checks gave.
      type: list
      elements: str
    endpoint:
      description: The URL asked.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    tls_argument_spec,
    tools_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._member_view import (  # noqa: E402
    ViewError,
    own_view,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "str", "required": True},
            "host": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 30},
            "settle": {"type": "int", "default": 15},
            **tls_argument_spec(),
            **tools_argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    etcdctl = (p["tools"] or {}).get("etcdctl")
    if not etcdctl or not etcdctl.get("path"):
        module.fail_json(msg="etcdctl was not found on this master (tools.etcdctl is empty)")
    tls = (p["ca_file"], p["cert_file"], p["key_file"])
    try:
        view = own_view(p["host"], etcdctl["path"], p["endpoint"], tls, p["timeout"], p["settle"])
    except ViewError as exc:
        module.exit_json(changed=False, answered=False, error=str(exc), view=None)
    module.exit_json(changed=False, answered=True, error=None, view=view)


if __name__ == "__main__":
    main()
