# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_restore_plan: the restore plan, computed on the controller.

It runs once (``run_once: true``) and reads every master's facts from hostvars; the
documentation lives in plugins/modules/etcd_restore_plan.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_plan import (
    DEFAULT_BUMP_REVISION,
    build_plan,
)

display = Display()

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "snapshot_metadata": {"type": "dict"},
    "stamp": {"type": "str", "required": True},
    "token": {"type": "str"},
    "bump_revision": {"type": "int", "default": DEFAULT_BUMP_REVISION},
}

FACTS = {
    "member": "kubedr_etcd_member",
    "tools": "kubedr_etcd_tools",
    "preflight": "kubedr_etcd_preflight",
}


def _plain(value):
    """Mappings and lists as plain dicts and lists, all the way down."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _fact(host_vars, name):
    """A fact set as a top-level variable, or only under ansible_facts; None when absent."""
    if name in host_vars:
        value = host_vars[name]
    else:
        facts = host_vars["ansible_facts"] if "ansible_facts" in host_vars else None
        value = facts.get(name) if isinstance(facts, Mapping) else None
    return _plain(value) if isinstance(value, Mapping) else None


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

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        hostvars = task_vars.get("hostvars") or {}
        masters = masters_from_hostvars(args["hosts"], hostvars)
        outcome = build_plan(
            masters,
            _plain(args["snapshot_metadata"]),
            stamp=args["stamp"],
            token=args["token"],
            bump_revision=args["bump_revision"],
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
        return result
