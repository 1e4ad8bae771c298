#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_step
short_description: Run one step of a journaled restore on a master - stage, stop, swap or start
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Runs one step of the restore that holds this master, reading everything it needs
    (snapshot, member name and peer URLs, cluster, token, restore tool, data and manifests
    directories) from the master's journal, written by M(kubedr.etcd.etcd_restore_journal).
    The controller passes only the run id.
  - O(step=stage) checks the run's copy of the snapshot against the sha256 the controller
    verified, and restores it with this member's identity into
    C(<data_dir>/.kubedr-restore-<stamp>/), beside the live member, while etcd still runs.
    That staged restore is the proof that this master can restore the snapshot.
  - O(step=stop) moves the manifests directory aside and waits until etcd and
    kube-apiserver are gone (see M(kubedr.etcd.static_pods)).
  - O(step=swap) renames C(member) to C(member.kubedr-<stamp>) and the staged member into
    its place - renames only, inside the data directory.
  - O(step=start) puts the manifests back and waits until this master's etcd listens on its
    peer ports and serves there (answers HTTP, asked with its own peer certificate).
  - Each step needs the one before it, checks its own result on the host, and records its
    phase in the journal. A step already recorded is not done again (a resumed run never
    stops a started member again); a step a killed run left half done is finished.
options:
  step:
    description:
      - The step to run.
      - O(step=stop) and O(step=start) are run on one master at a time, in the plan's
        C(stop_order) (followers first, the leader last) and C(start_order), by the role.
        A stop returns only once no process runs etcd on this master's data dir (found
        through C(/proc) by the directory's identity) and its etcd and apiserver ports
        are closed; a start only once its etcd serves its peers. The next master's turn
        comes after that answer.
    type: str
    choices: [stage, stop, swap, start]
    required: true
  run_id:
    description: The run that holds this master (its journal's C(run_id)).
    type: str
    required: true
  state_dir:
    description: Directory of the journal on the master.
    type: path
    default: /var/lib/kubedr-etcd/restore
  timeout:
    description: Seconds to wait for the pods to stop (O(step=stop)) or for the peer port
      (O(step=start)).
    type: int
    default: 180
  restore_timeout:
    description: Seconds the restore tool may take (O(step=stage)), and to wait for a step
      of a killed run that still runs on this master.
    type: int
    default: 600
  src:
    description:
      - O(step=stage) only. The snapshot on the controller (already checked there). The
        action plugin transfers it to the master before the stage, straight into Ansible's
        remote temporary directory, and the step moves it into the run's own directory
        (C(<snapshot_dir>/<run id>/), mode 0700) and checks it against the journal's sha256.
      - A resumed stage transfers it again. Without O(src) the run's copy must be on the
        master already.
    type: path
  compress:
    description:
      - Whether SSH may compress the transfer of O(src) (the C(ssh) connection plugin).
      - Off by default, whatever C(ssh_args) says - over a fast link, compressing hundreds
        of MiB costs more CPU time than it saves (measured in C(docs/restore.md)). The
        transfer then goes over a control connection of its own, so a compressing one
        opened earlier is not reused. Turn it on over a slow link.
    type: bool
    default: false
  upload:
    description:
      - Set by the action plugin, not by hand - the transferred copy of O(src) on the
        master, which the stage moves into the run's own directory.
    type: path
attributes:
  check_mode:
    support: full
    details: Makes the step's checks and says what it would do.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A step already done reports no change.
notes:
  - Code runs on the master with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_restore_journal
  - module: kubedr.etcd.etcd_restore_rollback
  - module: kubedr.etcd.static_pods
  - module: kubedr.etcd.etcd_member_restore
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Stage the restore on every master while etcd runs
  kubedr.etcd.etcd_restore_step:
    step: stage
    run_id: 20261126T031500Z-4f9a1c
    src: /var/backups/etcd/etcd-snapshot-20261126T030000Z.db

- name: Stop one master (the role runs this in the plan's order, one master at a time)
  kubedr.etcd.etcd_restore_step:
    step: stop
    run_id: 20261126T031500Z-4f9a1c
  when: inventory_hostname == "master-2"
"""

RETURN = r"""
phase:
  description: The phase this master reached.
  returned: success
  type: str
  sample: staged
seconds:
  description: Seconds waited (stop, start) or taken (stage) by this step.
  returned: success
  type: float
  sample: 1.4
detail:
  description: The step's own result (the restore command, what was moved where, how
    long a stop or start waited).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._cutover import (  # noqa: E402
    STEPS,
    CutoverError,
    step,
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
            "step": {"type": "str", "choices": list(STEPS), "required": True},
            **restore_run_argument_spec(),
            "timeout": {"type": "int", "default": 180},
            "restore_timeout": {"type": "int", "default": 600},
            "src": {"type": "path"},
            "compress": {"type": "bool", "default": False},
            "upload": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    exit_from(
        module,
        lambda: step(
            p["state_dir"],
            p["run_id"],
            p["step"],
            timeout=p["timeout"],
            restore_timeout=p["restore_timeout"],
            check_mode=module.check_mode,
            upload=p["upload"],
        ),
        CutoverError,
    )


if __name__ == "__main__":
    main()
