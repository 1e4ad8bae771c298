#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_journal
short_description: Lock a master for a restore run, and record the run's last phases in its journal
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Every master keeps the journal of the restore that holds it in
    C(<state_dir>/journal.json) (root only). It is written atomically (temp file, fsync,
    rename) and holds the run id, the stamp, the controller, the snapshot and its sha256,
    the token, the whole plan and this master's phases with their times.
  - O(state=locked) writes the journal of the run in O(journal) before anything else
    changes, and refuses while another run holds the master. The same run again changes
    nothing; the finished journal of an earlier run is kept under C(<state_dir>/runs/).
  - O(state=verified) records that the restored cluster was verified.
  - O(state=done) records the end of the run, which releases the lock (the journal stays)
    and removes the run's copy of the snapshot from the master.
  - The steps in between are M(kubedr.etcd.etcd_restore_step); the way back is
    M(kubedr.etcd.etcd_restore_rollback).
options:
  state:
    description: What to write.
    type: str
    choices: [locked, verified, done]
    required: true
  state_dir:
    description: Directory of the journal and of the run's snapshot copy on the master.
    type: path
    default: /var/lib/kubedr-etcd/restore
  journal:
    description:
      - With O(state=locked), the run's journal header - C(run_id), C(stamp),
        C(controller), C(snapshot) (C(name), C(sha256), C(size)), C(plan), C(member) (this
        master's entry of the plan), C(manifests_dir), C(policy), C(old_cluster); for a
        resumed run also C(takes_over), the controller the journals named when the run
        was planned. The journal passes to the new controller only while it still names
        that one (compare-and-set) - of two controllers resuming one run, the second is
        refused.
    type: dict
  run_id:
    description: With O(state=verified) or O(state=done), the run that holds the master.
    type: str
  outcome:
    description: With O(state=done), how the run ended, for the journal.
    type: str
  details:
    description: Facts to keep in the journal with the phase (for example the downtime).
    type: dict
attributes:
  check_mode:
    support: full
    details: Reads the journal and says what would be written.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A phase already recorded is not recorded again.
notes:
  - Code runs on the master with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_restore_step
  - module: kubedr.etcd.etcd_restore_rollback
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Lock every master for this run
  kubedr.etcd.etcd_restore_journal:
    state: locked
    journal: "{{ etcd_restore__run.header | combine({'member': etcd_restore__member}) }}"

- name: Release the lock at the end
  kubedr.etcd.etcd_restore_journal:
    state: done
    run_id: "{{ etcd_restore__run.run_id }}"
    outcome: restored
"""

RETURN = r"""
journal:
  description: The journal's run id, phase, outcome, controller, snapshot and times.
  returned: success
  type: dict
  sample:
    run_id: 20261126T031500Z-4f9a1c
    phase: locked
    outcome: null
    started: "2026-11-26T03:15:02.120Z"
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._cutover import (  # noqa: E402
    CutoverError,
    finish,
    lock,
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
            "state": {"type": "str", "choices": ["locked", "verified", "done"], "required": True},
            **restore_run_argument_spec(run_id_required=False),
            "journal": {"type": "dict"},
            "outcome": {"type": "str"},
            "details": {"type": "dict"},
        },
        required_if=[
            ("state", "locked", ["journal"]),
            ("state", "verified", ["run_id"]),
            ("state", "done", ["run_id"]),
        ],
        supports_check_mode=True,
    )
    p = module.params

    def work():
        if p["state"] == "locked":
            return lock(p["state_dir"], p["journal"], check_mode=module.check_mode)
        return finish(
            p["state_dir"],
            p["run_id"],
            p["state"],
            outcome=p["outcome"],
            details=p["details"],
            check_mode=module.check_mode,
        )

    exit_from(module, work, CutoverError)


if __name__ == "__main__":
    main()
