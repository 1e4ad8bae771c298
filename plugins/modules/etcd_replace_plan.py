#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: kubedr.etcd.etcd_replace_plan is an action plugin that runs on the
# controller (plugins/action/etcd_replace_plan.py); nothing of this file runs.

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_replace_plan
short_description: Decide whether one master's etcd member may be replaced now
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Decides, once and on the controller, whether the etcd member of O(target) may be removed
    and added back empty while the others keep quorum, from what every other master said
    about itself - its registered M(kubedr.etcd.etcd_member_view) (O(view_var)). A member
    counts as answering only when its own master said so; nothing is inferred from a port.
  - Refuses, with every reason, each naming the master and the fix, when - a master other
    than the target gave no view (two members out); the survivors disagree on the cluster,
    its voting members or the leader, or still follow a leader none of them is (an
    election); a learner is in the cluster; an alarm is raised; a survivor's own etcd is
    unhealthy; no member, or more than one, has both the target's name and peer URLs (the
    inventory host is another member's); the target's member is a survivor's own; fewer
    members answer than a quorum, now or after the removal; the target answers and is
    healthy (unless O(force)).
  - The target's name and peer URLs come from O(name) and O(peer_urls) when given, else from
    its etcd manifest (its C(kubedr_etcd_member) fact), else, for a master that is offline
    or was rebuilt without one, from the inventory - its name and
    C(https://<ansible_host>:2380).
  - Changes nothing.
options:
  target:
    description: The inventory host whose member is to be replaced.
    type: str
    required: true
  hosts:
    description: Every master, the target among them, as the inventory names them.
    type: list
    elements: str
    required: true
  view_var:
    description: The variable each master registered its M(kubedr.etcd.etcd_member_view)
      result in.
    type: str
    default: etcd_replace__view
  facts_var:
    description: The variable each master registered its M(kubedr.etcd.etcd_member_facts)
      result in; its message says why a master gave no view.
    type: str
    default: etcd_replace__facts
  name:
    description: The target's etcd member name, when its manifest cannot be read.
    type: str
    default: ""
  peer_urls:
    description: The target's peer URLs, when its manifest cannot be read.
    type: list
    elements: str
    default: []
  force:
    description: Replace a target whose member answers and is healthy.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
    details: Runs on the controller only; the masters are not contacted.
seealso:
  - module: kubedr.etcd.etcd_member_view
  - name: etcd runtime reconfiguration
    description: Replacing a failed member, and why a learner first.
    link: https://etcd.io/docs/v3.5/op-guide/runtime-configuration/
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.attributes.action
"""

EXAMPLES = r"""
- name: Decide whether cp-b's member may be replaced now
  kubedr.etcd.etcd_replace_plan:
    target: cp-b
    hosts: "{{ groups['kubedr_etcd_masters'] }}"
  run_once: true
  register: replace_plan
"""

RETURN = r"""
plan:
  description: The replacement, when it may go ahead.
  returned: success
  type: dict
  contains:
    target:
      description: The target - C(host), member C(id) (16 hex digits, as the survivors list
        it), C(name), C(peer_urls), C(started).
      type: dict
    cluster_id:
      description: The cluster id the survivors share.
      type: str
    leader:
      description: The member id of the leader they follow.
      type: str
    voting_before:
      description: Voting members now.
      type: int
    voting_after:
      description: Voting members once the target's is removed.
      type: int
    quorum_after:
      description: The quorum of those.
      type: int
    answering_after:
      description: Of those, how many answered through their own master.
      type: int
    survivors:
      description: The masters whose views were read.
      type: list
      elements: str
    initial_cluster:
      description: The C(--initial-cluster) the new member starts with (every member left,
        then the target).
      type: str
      sample: cp-a=https://10.0.0.1:2380,cp-c=https://10.0.0.3:2380,cp-b=https://10.0.0.2:2380
    forced:
      description: Whether a healthy target is replaced because of O(force).
      type: bool
problems:
  description: Every reason the replacement is refused, one line each (empty on success).
  returned: always
  type: list
  elements: str
"""
