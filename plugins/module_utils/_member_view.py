# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""A master's own view of its etcd cluster: what its own member answers, asked on its
own client URL only (never through another master's), with its own client certificate.

``own_view`` is what a surviving master reports before a member replacement
(``_replace_plan.replace_plan`` reads these views and nothing else): the member list, its
own endpoint status (its member id, the leader it follows, the raft index), the alarms
and its health. A master whose etcd does not answer gives no view (ViewError, with what
etcdctl said): it is not counted as answering.
"""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    NO_LEADER_YET,
    EtcdctlError,
    alarm_list_argv,
    check,
    check_retrying,
    client_env,
    endpoint_health_argv,
    endpoint_status_argv,
    member_list_argv,
    parse_alarm_list,
    parse_endpoint_health,
    parse_endpoint_status,
    parse_member_list,
    run,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._replace_plan import survivor_view


class ViewError(Exception):
    """This master's etcd gave no view; the message says what it answered."""


def own_view(host, etcdctl, endpoint, tls, timeout=30, settle=15):
    """survivor_view of the member at ``endpoint`` (this master's own client URL), asked
    with ``tls`` (cacert, cert, key). A request that goes through raft (the alarm list)
    times out while a leader is elected: it is asked again for up to ``settle`` seconds.
    Raises ViewError when the member does not answer."""
    env = client_env([endpoint], *tls, dial_timeout="3s", command_timeout=f"{timeout}s")

    def ask(argv, what):
        return check_retrying(argv, env, settle, what, NO_LEADER_YET, attempt_timeout=timeout)

    try:
        status = parse_endpoint_status(
            check(endpoint_status_argv(etcdctl), env, timeout, f"endpoint status of {endpoint}")
        )
        if len(status) != 1:
            raise EtcdctlError(f"endpoint status of {endpoint}: {len(status)} answers, not one")
        members = parse_member_list(ask(member_list_argv(etcdctl), f"member list from {endpoint}"))
        alarms = parse_alarm_list(ask(alarm_list_argv(etcdctl), f"alarm list from {endpoint}"))
        # endpoint health exits 1 when unhealthy but still prints its JSON
        _rc, out, err = run(endpoint_health_argv(etcdctl), env=env, timeout=timeout)
        try:
            health = parse_endpoint_health(out)
        except EtcdctlError:
            health = [{"health": False, "error": err.strip() or out.strip()}]
    except EtcdctlError as exc:
        raise ViewError(f"{host}'s etcd at {endpoint} gave no view: {exc}") from None
    view = survivor_view(host, members, status[0], alarms, all(h["health"] for h in health))
    view["endpoint"] = endpoint
    if not view["healthy"]:
        view["errors"] = view["errors"] + [h["error"] for h in health if h.get("error")]
    return view
