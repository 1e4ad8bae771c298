# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_replace_plan: whether one master's etcd member may be
replaced now, decided on the controller from what every surviving master said about
itself (its registered etcd_member_view); the documentation lives in
plugins/modules/etcd_replace_plan.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._data import plain
from ansible_collections.kubedr.etcd.plugins.module_utils._replace_plan import (
    ReplaceRefused,
    replace_plan,
    target_identity,
)

ARGUMENT_SPEC = {
    "target": {"type": "str", "required": True},
    "hosts": {"type": "list", "elements": "str", "required": True},
    "view_var": {"type": "str", "default": "etcd_replace__view"},
    "facts_var": {"type": "str", "default": "etcd_replace__facts"},
    "name": {"type": "str", "default": ""},
    "peer_urls": {"type": "list", "elements": "str", "default": []},
    "force": {"type": "bool", "default": False},
}


def _var(host_vars, name):
    if not isinstance(host_vars, Mapping) or name not in host_vars:
        return None
    value = host_vars[name]
    if isinstance(value, Mapping):
        return plain(value)
    return value


def _member_fact(host_vars):
    member = _var(host_vars, "kubedr_etcd_member")
    if member is None:
        facts = _var(host_vars, "ansible_facts") or {}
        member = facts.get("kubedr_etcd_member")
    return member if isinstance(member, dict) else None


def gather(args, hostvars):
    """(target identity, survivors' views, unreachable {host: why}, target's own view,
    whether the target host itself was reached)."""
    views, unreachable, target_view, problems, reached = [], {}, None, [], True
    for host in args["hosts"]:
        if host not in hostvars:
            problems.append(f"{host}: not in the inventory")
            continue
        said = _var(hostvars[host], args["view_var"])
        if host == args["target"]:
            if isinstance(said, dict) and said.get("answered"):
                target_view = said["view"]
            facts = _var(hostvars[host], args["facts_var"])
            reached = not any(
                isinstance(result, dict) and result.get("unreachable") for result in (said, facts)
            )
            continue
        if not isinstance(said, dict) or said.get("skipped") or "answered" not in said:
            facts = _var(hostvars[host], args["facts_var"])
            why = [
                (said or {}).get("msg") if isinstance(said, dict) else None,
                (facts or {}).get("msg") if isinstance(facts, dict) else None,
                "no answer from the host (unreachable, or its etcd manifest unreadable)",
            ]
            unreachable[host] = next(text for text in why if text)
        elif said.get("answered"):
            views.append(said["view"])
        else:
            unreachable[host] = said.get("error") or "its etcd did not answer"
    if args["target"] not in hostvars:
        problems.append(
            f"{args['target']} (etcd_replace_member) is not an inventory host: name the master"
            " to replace as the inventory does"
        )
    elif args["target"] not in args["hosts"]:
        problems.append(
            f"{args['target']} (etcd_replace_member) is not one of the masters"
            f" ({', '.join(args['hosts'])}): name a host of the masters group"
        )
    if problems:
        raise ReplaceRefused(problems)
    target_vars = hostvars[args["target"]]
    target = target_identity(
        args["target"],
        _member_fact(target_vars),
        _var(target_vars, "ansible_host"),
        name=args["name"] or None,
        peer_urls=args["peer_urls"] or None,
    )
    return target, views, unreachable, target_view, reached


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
        try:
            target, views, unreachable, target_view, reached = gather(args, hostvars)
            plan = replace_plan(
                target, views, unreachable, args["force"], target_view, target_reached=reached
            )
        except ReplaceRefused as exc:
            result.update(
                failed=True,
                changed=False,
                msg="\n".join(exc.problems),
                problems=exc.problems,
            )
            return result
        result.update(changed=False, plan=plan, problems=[])
        return result
