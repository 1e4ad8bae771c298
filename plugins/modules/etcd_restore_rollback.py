#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_rollback
short_description: Put a master back on its old etcd member and manifests, from its restore journal
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Undoes whatever part of the restore run O(run_id) happened on this master, reading
    only the master's journal (see M(kubedr.etcd.etcd_restore_journal)) - also after the
    controller that ran it was killed.
  - Stops the static pods when the restored member may run, moves the restored member to
    C(member.failed-<stamp>) (kept, never deleted), renames the old member back to
    C(member), puts the manifests back and waits until etcd listens on its peer port;
    removes the run's staged restore and snapshot copy; records C(rolled-back), which
    releases the lock.
  - Refuses a run that finished (phase C(done)), whose restore was verified.
options:
  run_id:
    description: The run to roll back (its journal's C(run_id)).
    type: str
    required: true
  state_dir:
    description: Directory of the journal on the master.
    type: path
    default: /var/lib/kubedr-etcd/restore
  start:
    description: Put the manifests back (start the old member) at the end.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the pods to stop, and for the peer port.
    type: int
    default: 180
attributes:
  check_mode:
    support: full
    details: Reads the journal and the data directory and lists the steps it would take.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A master already rolled back reports no change.
notes:
  - Code runs on the master with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_restore_step
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Roll every master back, one at a time
  kubedr.etcd.etcd_restore_rollback:
    run_id: 20261126T031500Z-4f9a1c
  delegate_to: "{{ item }}"
  loop: "{{ groups['masters'] }}"
  run_once: true
"""

RETURN = r"""
steps:
  description: What was done, in order.
  returned: success
  type: list
  elements: str
failed_kept:
  description: Where the restored member was kept, or null when it never replaced the old one.
  returned: success
  type: str
  sample: /var/lib/etcd/member.failed-20261126T031500Z
waited:
  description: Seconds spent waiting for the pods to stop and start.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._cutover import (  # noqa: E402
    CutoverError,
    rollback,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_args import (  # noqa: E402
    restore_run_argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec={
            **restore_run_argument_spec(),
            "start": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 180},
        },
        supports_check_mode=True,
    )
    p = module.params
    exit_from(
        module,
        lambda: rollback(
            p["state_dir"],
            p["run_id"],
            timeout=p["timeout"],
            start=p["start"],
            check_mode=module.check_mode,
        ),
        CutoverError,
    )


if __name__ == "__main__":
    main()
