# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_restore_plan: the restore plan, computed on the controller.

It runs once (``run_once: true``) and reads every master's facts from hostvars; the
documentation lives in plugins/modules/etcd_restore_plan.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J
from ansible_collections.kubedr.etcd.plugins.module_utils._cutover import concurrency_problem
from ansible_collections.kubedr.etcd.plugins.module_utils._data import plain
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_plan import (
    DEFAULT_BUMP_REVISION,
    build_plan,
    plan_diff,
)

display = Display()

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "snapshot_metadata": {"type": "dict"},
    "stamp": {"type": "str", "required": True},
    "token": {"type": "str"},
    "bump_revision": {"type": "int", "default": DEFAULT_BUMP_REVISION},
    # the journaled run: given the snapshot, decide new / resume / done / refuse
    "snapshot": {"type": "dict"},
    "takeover": {"type": "str", "default": ""},
    "allow_other_cluster": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    # rollback: only find the run that holds the masters (restore-rollback.yml)
    "purpose": {"type": "str", "default": "restore", "choices": ["restore", "rollback"]},
    "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
    "on_failure": {"type": "str", "default": "auto", "choices": list(J.FAILURE_POLICIES)},
}
# the header fields a resumed run takes from a master's journal
_HEADER = (
    "format",
    "run_id",
    "stamp",
    "controller",
    "snapshot",
    "plan",
    "manifests_dir",
    "policy",
    "on_failure",
    "old_cluster",
    "created",
)

FACTS = {
    "member": "kubedr_etcd_member",
    "tools": "kubedr_etcd_tools",
    "preflight": "kubedr_etcd_preflight",
}


def _fact(host_vars, name):
    """A fact set as a top-level variable, or only under ansible_facts; None when absent."""
    if name in host_vars:
        value = host_vars[name]
    else:
        facts = host_vars["ansible_facts"] if "ansible_facts" in host_vars else None
        value = facts.get(name) if isinstance(facts, Mapping) else None
    return plain(value) if isinstance(value, Mapping) else None


def masters_from_hostvars(hosts, hostvars):
    """build_plan's masters list from the hostvars of ``hosts`` (inventory names)."""
    masters = []
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else None
        if not isinstance(host_vars, Mapping):
            masters.append({"host": host, "address": host})
            continue
        address = host_vars["ansible_host"] if "ansible_host" in host_vars else None
        master = {"host": host, "address": str(address or host)}
        master.update({key: _fact(host_vars, name) for key, name in FACTS.items()})
        masters.append(master)
    return masters


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def _strategy(self):
        """The strategy of the play this task runs in, or None when it cannot be told."""
        try:
            play = self._task.get_play()
        except AttributeError:
            return None
        strategy = getattr(play, "strategy", None)
        return strategy if isinstance(strategy, str) else None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        hostvars = task_vars.get("hostvars") or {}
        masters = masters_from_hostvars(args["hosts"], hostvars)
        shared = J.shared_state_problems(
            {
                m["host"]: {
                    "machine_id": (m.get("preflight") or {}).get("machine_id"),
                    "state_dir": (m.get("preflight") or {}).get("state_dir"),
                    "state_dir_identity": (m.get("preflight") or {}).get("state_dir_identity"),
                    "journal": (m.get("preflight") or {}).get("journal"),
                    "member_name": (m.get("member") or {}).get("name"),
                }
                for m in masters
            }
        )
        if shared:
            # before any decision: a shared journal looks like one run held everywhere
            result.update(
                failed=True, changed=False, mode="refuse", msg="\n".join(shared), problems=shared
            )
            return result
        busy = concurrency_problem(
            [m["host"] for m in masters],
            forks=task_vars.get("ansible_forks"),
            batch=task_vars.get("ansible_play_batch"),
            strategy=self._strategy(),
        )
        if busy:
            result.update(failed=True, changed=False, mode="refuse", msg=busy, problems=[busy])
            return result
        run = None
        if args["purpose"] == "rollback":
            return self._rollback(result, args, masters, task_vars)
        if args["snapshot"] is not None:
            run = self._decide(args, masters, task_vars)
            if run["mode"] == "refuse":
                result.update(
                    failed=True,
                    changed=False,
                    msg=run["msg"],
                    mode="refuse",
                    journals=run["journals"],
                )
                return result
            if run["mode"] in ("resume", "done"):
                result.update(
                    changed=False,
                    mode=run["mode"],
                    msg=run["msg"],
                    plan=run["header"]["plan"],
                    run=run["header"],
                    journals=run["journals"],
                    warnings=[],
                )
                if run["mode"] == "resume" and self._task.diff:
                    result["diff"] = plan_diff(masters, run["header"]["plan"])
                return result
        outcome = build_plan(
            masters,
            plain(args["snapshot_metadata"]),
            stamp=args["stamp"] if run is None else run["stamp"],
            token=args["token"],
            bump_revision=args["bump_revision"],
            random_hex=None if run is None else run["hex"],
            allow_other_cluster=args["allow_other_cluster"],
        )
        # a host missing from the inventory has no facts: say that instead of "no facts"
        unknown = [host for host in args["hosts"] if host not in hostvars]
        problems = [
            f"{host}: not in the inventory; hosts must name the masters as the inventory does"
            for host in unknown
        ]
        problems += [
            problem
            for problem in outcome["problems"]
            if not any(problem.startswith(f"{host}: ") for host in unknown)
        ]
        warnings = outcome["warnings"]
        for warning in warnings:
            display.warning(warning)
        if problems:
            result.update(
                failed=True,
                changed=False,
                msg="\n".join(problems),
                problems=problems,
                warnings=warnings,
            )
            return result
        result.update(changed=False, plan=outcome["plan"], warnings=warnings)
        if self._task.diff:
            result["diff"] = plan_diff(masters, outcome["plan"])
        if run is not None:
            header = J.run_header(
                run_id=run["run_id"],
                controller=run["controller"],
                snapshot=plain(args["snapshot"]),
                plan=outcome["plan"],
                manifests_dir=args["manifests_dir"],
                policy=args["on_failure"],
                old=J.old_cluster(masters),
            )
            result.update(mode="new", msg=run["msg"], run=header, journals=run["journals"])
        return result

    def _rollback(self, result, args, masters, task_vars):
        run = self._decide(dict(args, snapshot={}), masters, task_vars)
        if run["mode"] == "refuse":
            result.update(
                failed=True, changed=False, msg=run["msg"], mode="refuse", journals=run["journals"]
            )
        elif run["mode"] == "resume":
            result.update(
                changed=False,
                mode="rollback",
                msg=run["msg"].replace("resuming", "rolling back"),
                plan=run["header"]["plan"],
                run=run["header"],
                journals=run["journals"],
            )
        else:
            result.update(
                changed=False,
                mode="nothing",
                run=None,
                plan=None,
                journals=run["journals"],
                msg="no unfinished restore run holds any master: nothing to roll back",
            )
        return result

    def _decide(self, args, masters, task_vars):
        """new / resume / done / refuse, from the journals the pre-flight read."""
        journals = {m["host"]: (m.get("preflight") or {}).get("journal") for m in masters}
        # this task runs in a worker process forked by ansible-playbook: its parent is the
        # run's process, whose life tells a later run whether this one still goes on
        controller = J.controller_identity(
            os.getppid(), user=str(task_vars.get("ansible_user_id") or "") or None
        )
        decision = J.decide(
            journals,
            controller,
            snapshot_sha256=(args["snapshot"] or {}).get("sha256"),
            takeover=args["takeover"] or None,
            purpose=args["purpose"],
        )
        if decision["mode"] == "done" and args["force"]:
            decision = {
                "mode": "new",
                "journal": None,
                "msg": f"{decision['msg']}; restoring again (force)",
            }
        shown = {host: J.summary(j) for host, j in journals.items()}
        run = {"mode": decision["mode"], "msg": decision["msg"], "journals": shown}
        if decision["mode"] in ("resume", "done"):
            journal = decision["journal"]
            header = {key: journal.get(key) for key in _HEADER}
            if decision["mode"] == "resume":
                header["takes_over"] = journal.get("controller")
                header["controller"] = controller
                if decision.get("finished"):
                    # a master serves the restored member, verified: a failure from here
                    # keeps the journals (a rollback of the others would split the cluster)
                    header["on_failure"] = "keep"
            run["header"] = header
            return run
        if decision["mode"] == "new":
            stamp = str(args["stamp"])
            run_id = J.new_run_id(stamp)
            run.update(
                run_id=run_id, stamp=stamp, hex=run_id.rsplit("-", 1)[1], controller=controller
            )
        return run
