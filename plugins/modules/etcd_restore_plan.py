#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: kubedr.etcd.etcd_restore_plan is an action plugin that runs on the
# controller (plugins/action/etcd_restore_plan.py); nothing of this file runs.

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_plan
short_description: Plan the restore of every etcd member of a multi-master control plane
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Computes, once and on the controller, the plan that every master follows to restore the
    same etcd snapshot - each member with its own name and peer URLs, one C(--initial-cluster)
    and one fresh C(--initial-cluster-token) for all - or refuses with every problem found,
    one line each, naming the master and the fix.
  - Reads each master's facts from C(hostvars) - C(kubedr_etcd_member) and C(kubedr_etcd_tools)
    from M(kubedr.etcd.etcd_member_facts), C(kubedr_etcd_preflight) from
    M(kubedr.etcd.etcd_restore_preflight), and C(ansible_host) - so run those on the masters
    first, and run this task once (C(run_once)).
  - Refuses when a master has no member facts (no etcd manifest), two members share a name or a
    peer URL, a master is not on the address its peer URL names (the data and certificates were
    written for that address), Ansible connects to an address the master does not have, the peer
    certificate does not cover the peer address, a master has no usable restore tool for its etcd
    version (C(etcdutl) for etcd 3.5 and newer, C(etcdctl) for 3.3 and 3.4), the data dir's file
    system has less free space than twice the snapshot plus 64 MiB, or the snapshot comes from a
    newer etcd release than a master runs.
  - Warns about an even number of members, a hostname that differs from the member name, a
    snapshot taken from members with other names, a missing metadata record, and a restore
    without C(--bump-revision).
  - Changes nothing.
options:
  hosts:
    description:
      - The masters, by inventory name, in inventory order (for example
        V("{{ groups['kube_control_plane'] }}")).
      - The order is the order of C(--initial-cluster) and of O(hosts) in the start order.
    type: list
    elements: str
    required: true
  snapshot_metadata:
    description:
      - The snapshot's metadata record (the parsed C(<snapshot>.json) written by
        M(kubedr.etcd.etcd_snapshot)), or V(null) for a snapshot without one.
      - Gives the snapshot size for the free-space check, the revision, the etcd version that
        wrote it and the member names it was taken from.
    type: dict
  stamp:
    description:
      - Names this restore, for example V(20261126T031500Z); used in the default O(token).
      - Letters, digits, C(.), C(_) and C(-) only.
    type: str
    required: true
  token:
    description:
      - The C(--initial-cluster-token) of the restored cluster.
      - Defaults to C(kubedr-restore-<stamp>-<6 random hex digits>), new for each restore, so that
        members of the old cluster cannot join the new one by mistake.
    type: str
  bump_revision:
    description:
      - Restore with C(--bump-revision <bump_revision> --mark-compacted), so that Kubernetes
        watch caches and informers do not miss changes.
      - Used only when the restore tool of every master supports it (C(etcdctl) 3.4.27+,
        C(etcdutl) 3.5.10+); otherwise the plan has no bump and a warning says which master's tool
        cannot, and that the control-plane components and kubelets need a restart.
      - V(0) disables the bump.
    type: int
    default: 1000000000
  snapshot:
    description:
      - The snapshot this run restores (C(name), C(sha256), C(size)), as the controller verified
        it. With it, the plan also decides the run from every master's restore journal (read by
        M(kubedr.etcd.etcd_restore_preflight) into C(kubedr_etcd_preflight.journal)) and returns
        it as RV(mode) and RV(run).
      - V(new) - no run holds a master; a new run id (C(<stamp>-<6 hex>)) names the run, and
        the token is C(kubedr-restore-<run id>).
      - V(resume) - an unfinished run holds the masters and its controller is gone (the same
        controller, whose ansible-playbook process has ended), or O(takeover) names it; its
        plan, stamp and token are returned as its journals hold them.
      - V(done) - every master finished a run of this very snapshot.
      - A refusal names the run, its controller, its phase on each master and its age, when it
        still runs, when it ran elsewhere and O(takeover) does not name it, when it restores
        another snapshot, or when different runs hold the masters.
    type: dict
  takeover:
    description: The run id of an unfinished run started from another controller, to take over.
    type: str
    default: ""
  manifests_dir:
    description: The kubelet's static pod directory, for the run's journal.
    type: path
    default: /etc/kubernetes/manifests
  on_failure:
    description:
      - What a cut-over that fails before etcd is verified does, for the run's journal -
        V(rollback), V(keep), or V(auto) (rollback when the old cluster had quorum at
        pre-flight); the choice is resolved here into C(on_failure) of RV(run).
    type: str
    choices: [auto, rollback, keep]
    default: auto
  allow_other_cluster:
    description:
      - Plan a snapshot whose recorded member names or cluster id differ from the live cluster's
        (a warning instead of a refusal).
    type: bool
    default: false
  force:
    description: Plan a new run even when every master finished a run of this snapshot.
    type: bool
    default: false
  purpose:
    description:
      - V(rollback) only finds the run that holds the masters (RV(mode) V(rollback) or
        V(nothing)), for playbooks/restore-rollback.yml; no plan is computed.
    type: str
    choices: [restore, rollback]
    default: restore
attributes:
  check_mode:
    support: full
    details: The plan changes nothing, so it is computed the same in check mode.
  diff_mode:
    support: full
    details:
      - With C(--diff), RV(diff) holds each master's etcd member as its facts found it
        (C(before) - name, peer and client URLs, C(--initial-cluster) and its token, data
        directory, which masters run etcd and which leads) and as the restore will make it
        (C(after) - the planned name, URLs, C(--initial-cluster) and token, where the old
        C(member/) is moved aside, the stop and start order). A resumed run shows the plan
        its journals hold; a finished one shows none.
      - The plan itself changes nothing and reports no change, and C(ansible-playbook)'s
        default output prints the diffs of changed tasks only - read it from the registered
        result (or with C(-v)).
  idempotent:
    support: full
    details: The plan is the same for the same facts, except the random part of the default token.
  action:
    support: full
    details: Runs on the controller only; the masters are not contacted.
notes:
  - The members are stopped followers first and the leader last (stopping all at once can stall
    etcd's graceful stop), and started one at a time in inventory order, each once the previous
    one serves its peer port (etcd's initial corrupt check makes members that start together
    wait on each other).
seealso:
  - module: kubedr.etcd.etcd_member_facts
  - module: kubedr.etcd.etcd_snapshot_verify
  - name: etcd disaster recovery
    description: Restoring an etcd cluster from a snapshot.
    link: https://etcd.io/docs/v3.5/op-guide/recovery/
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.attributes.action
"""

EXAMPLES = r"""
- name: Plan the restore
  kubedr.etcd.etcd_restore_plan:
    hosts: "{{ groups['masters'] }}"
    snapshot_metadata: "{{ snapshot_metadata_file.content | b64decode | from_json }}"
    stamp: "{{ restore_stamp }}"
  run_once: true
  register: restore_plan

- name: Plan the restore of a snapshot without metadata, without bumping the revision
  kubedr.etcd.etcd_restore_plan:
    hosts: "{{ groups['masters'] }}"
    snapshot_metadata: null
    stamp: "20261126T031500Z"
    bump_revision: 0
  run_once: true
  register: restore_plan

- name: Show this master's restore tool
  ansible.builtin.debug:
    msg: >-
      {{ (restore_plan.plan.members | selectattr('host', '==', inventory_hostname) | first).tool }}
"""

RETURN = r"""
mode:
  description: With O(snapshot) - V(new), V(resume), V(done) (or V(rollback), V(nothing)).
  returned: when O(snapshot) is given, or O(purpose=rollback)
  type: str
  sample: new
run:
  description:
    - The run's journal header - C(run_id), C(stamp), C(controller) (host, user, machine and
      boot id, pid of ansible-playbook), C(snapshot), C(plan), C(manifests_dir), C(policy),
      C(on_failure), C(old_cluster) (had_quorum, running, member_ids, cluster_id).
  returned: when O(snapshot) is given
  type: dict
journals:
  description: Each master's journal in short (run id, phase, outcome, controller, times).
  returned: when O(snapshot) is given
  type: dict
plan:
  description: The restore plan, the same for every master.
  returned: success
  type: dict
  contains:
    stamp:
      description: O(stamp).
      returned: success
      type: str
      sample: 20261126T031500Z
    token:
      description: The C(--initial-cluster-token) for every member.
      returned: success
      type: str
      sample: kubedr-restore-20261126T031500Z-3f9a0c
    initial_cluster:
      description:
        - The C(--initial-cluster) for every member, C(name=peer-url) for every peer URL of
          every member, in inventory order.
      returned: success
      type: str
      sample: master-1=https://10.0.0.11:2380,master-2=https://10.0.0.12:2380,master-3=https://10.0.0.13:2380
    bump_revision:
      description:
        - The C(--bump-revision) value (always with C(--mark-compacted)), or V(null) for a
          restore without it.
      returned: success
      type: int
      sample: 1000000000
    members:
      description: One entry per master, in inventory order.
      returned: success
      type: list
      elements: dict
      contains:
        host:
          description: The inventory name.
          returned: success
          type: str
          sample: master-1
        name:
          description: The member name (C(--name)).
          returned: success
          type: str
          sample: master-1
        address:
          description: The address Ansible connects to (C(ansible_host), else the inventory name).
          returned: success
          type: str
          sample: 10.0.0.11
        peer_urls:
          description: The member's C(--initial-advertise-peer-urls).
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.11:2380"]
        peer_ports:
          description:
            - The ports of the member's C(--listen-peer-urls) (else of its peer URLs); the
              start step and a rollback wait until this master listens on them.
          returned: success
          type: list
          elements: int
          sample: [2380]
        client_urls:
          description: The member's C(--advertise-client-urls).
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.11:2379"]
        client_ports:
          description:
            - The ports of the member's C(--listen-client-urls) (else of its client URLs);
              the stop step waits until this master no longer listens on them.
          returned: success
          type: list
          elements: int
          sample: [2379]
        apiserver_port:
          description:
            - The C(--secure-port) of this master's kube-apiserver manifest (6443 when it
              sets none or there is no such manifest); the stop step waits until it is
              closed too.
          returned: success
          type: int
          sample: 6443
        data_dir:
          description: The data directory on the host.
          returned: success
          type: str
          sample: /var/lib/etcd
        etcd_version:
          description: The etcd version the member runs.
          returned: success
          type: str
          sample: 3.5.16
        tool:
          description: The tool that restores the snapshot on this master.
          returned: success
          type: dict
          contains:
            name:
              description: V(etcdutl) or V(etcdctl) (run it with C(ETCDCTL_API=3)).
              returned: success
              type: str
              sample: etcdutl
            path:
              description: Its path on the master.
              returned: success
              type: str
              sample: /usr/local/bin/etcdutl
            version:
              description: Its version.
              returned: success
              type: str
              sample: 3.5.16
    stop_order:
      description:
        - Inventory names in the order to stop etcd - the followers, then the leader; inventory
          order when the leader is unknown.
      returned: success
      type: list
      elements: str
      sample: ["master-2", "master-3", "master-1"]
    start_order:
      description:
        - Inventory names in the order to start etcd, one at a time, each once the previous one
          serves its peer port.
      returned: success
      type: list
      elements: str
      sample: ["master-1", "master-2", "master-3"]
    expected_revision_min:
      description:
        - The lowest revision the restored cluster can have - the snapshot's revision plus
          RV(plan.bump_revision); V(null) without metadata.
      returned: success
      type: int
      sample: 1000012345
    snapshot:
      description: What the metadata record tells about the snapshot; V(null) values without it.
      returned: success
      type: dict
      contains:
        size:
          description: Size of the snapshot file in bytes.
          returned: success
          type: int
          sample: 20971552
        revision:
          description: The etcd revision of the snapshot.
          returned: success
          type: int
          sample: 12345
        total_key:
          description: The number of keys in the snapshot.
          returned: success
          type: int
          sample: 1024
        etcd_version:
          description: The etcd version that wrote the snapshot.
          returned: success
          type: str
          sample: 3.5.16
diff:
  description:
    - With C(--diff), the members as found (C(before)) and as the restore will make them
      (C(after)), by inventory name; see the C(diff_mode) attribute.
  returned: in diff mode, when a plan is returned (not for a finished run, nor O(purpose=rollback))
  type: dict
  sample:
    before_header: etcd members as found
    before:
      members:
        master-1: {name: master-1, peer_urls: ["https://10.0.0.11:2380"],
                   initial_cluster_token: etcd-cluster, member_dir: /var/lib/etcd/member,
                   old_member_moved_to: null}
      order: {etcd_running_on: [master-1, master-2, master-3], leader: master-1}
    after_header: etcd members after restore 20261126T031500Z
    after:
      members:
        master-1: {name: master-1, peer_urls: ["https://10.0.0.11:2380"],
                   initial_cluster_token: kubedr-restore-20261126T031500Z-3f9a0c,
                   member_dir: /var/lib/etcd/member (restored from the snapshot),
                   old_member_moved_to: /var/lib/etcd/member.kubedr-20261126T031500Z}
      order: {stop_order: [master-2, master-3, master-1],
              start_order: [master-1, master-2, master-3]}
problems:
  description: Every reason the restore is refused, one line each, naming the master.
  returned: failure
  type: list
  elements: str
  sample:
    - "master-3: the data and certificates were written for 10.0.0.13; this master has
      10.77.0.13: a restore needs each master back on its old address (give it 10.0.0.13 again,
      or point the inventory entry at the master that has it)"
warnings:
  description: Things worth a look that do not stop the restore; also shown as warnings.
  returned: always
  type: list
  elements: str
  sample: ["4 members tolerate no more failures than 3 (1 of them): an odd number of masters is
    the usual layout"]
"""
