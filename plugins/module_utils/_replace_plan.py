# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Whether one failed master's etcd member may be replaced now, and how: the proof taken
before anything changes (playbooks/replace-member.yml).

Every surviving master reports its own view of the cluster (``survivor_view``): the
member list as its own etcd serves it, its own endpoint status (its member id, the leader
it follows), the alarms, its health. ``replace_plan`` reads only those views - a member
counts as answering only when its own master said so - and either returns the plan or
raises ReplaceRefused with every reason, each naming the host and the fix:

* the survivors agree on the cluster id, the voting members and the leader; no learner
  (etcd takes one at a time and a learner left over is a replacement half done); no alarm
  (NOSPACE, CORRUPT);
* the target is found by member id among the survivors' members: the member whose name
  *and* peer URLs are the inventory host's (from its etcd manifest, else from the
  inventory); a name or a peer URL of another member is a wrong inventory, not a target;
* every member but the target answers through its own master, and after the removal
  the answering members are still a quorum of the members left; a target that answers
  and is healthy is replaced only with ``force``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    PEER_PORT,
    ManifestError,
    host_port,
    url_host,
)


class ReplaceRefused(Exception):
    """The replacement may not go ahead; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def quorum(voting):
    """The number of voting members that make a majority of ``voting``."""
    return voting // 2 + 1


def _peer_key(url):
    """A peer URL as two spellings of one URL compare equal: scheme, host (as the manifest
    reader writes hosts: ``_etcd_manifest.url_host``, IPv6 in its canonical form) and
    port, the path ignored."""
    parts = urlsplit(str(url).strip())
    try:
        port = parts.port
        host = url_host(str(url))
    except (ValueError, ManifestError):
        port, host = None, (parts.hostname or "").lower()
    return (parts.scheme.lower(), host, port)


def peer_keys(urls):
    return {_peer_key(url) for url in urls or []}


def target_identity(host, member=None, address=None, name=None, peer_urls=None):
    """Who the target inventory host's member is: ``name`` and ``peer_urls`` when the user
    gave them, else its etcd manifest (``member``, the kubedr_etcd_member fact), else - a
    master that is offline or rebuilt without a manifest - the inventory: its name and
    ``https://<ansible_host>:2380``. {'host', 'name', 'peer_urls', 'source'}."""
    if name and peer_urls:
        return {"host": host, "name": name, "peer_urls": list(peer_urls), "source": "settings"}
    if member and member.get("name"):
        urls = member.get("initial_advertise_peer_urls") or member.get("listen_peer_urls") or []
        return {
            "host": host,
            "name": name or member["name"],
            "peer_urls": list(peer_urls or urls),
            "source": "manifest",
        }
    return {
        "host": host,
        "name": name or host,
        "peer_urls": list(peer_urls or [f"https://{host_port(address or host, PEER_PORT)}"]),
        "source": "inventory",
    }


def survivor_view(host, members, status, alarms, healthy):
    """One master's own view: ``members`` (parse_member_list), ``status`` (its own
    endpoint's parse_endpoint_status entry), ``alarms`` (parse_alarm_list), ``healthy``
    (its own endpoint health)."""
    return {
        "host": host,
        "member_id": status["member_id"],
        "cluster_id": members["cluster_id"],
        "leader": status.get("leader"),
        "raft_index": status.get("raft_index", 0),
        "errors": list(status.get("errors") or []),
        "members": list(members["members"]),
        "alarms": list(alarms or []),
        "healthy": bool(healthy),
    }


def _voting(view):
    return sorted(m["id"] for m in view["members"] if not m["is_learner"])


def _membership(view):
    """Every member a view lists, voting or learner: the views must agree on all of it."""
    return sorted((m["id"], bool(m["is_learner"])) for m in view["members"])


def _listed(view):
    return ", ".join(f"{i}{' (learner)' if learner else ''}" for i, learner in _membership(view))


def _describe(member):
    return f"{member['id']} ({member.get('name') or 'unstarted'}, {', '.join(member['peer_urls'])})"


def _agreement(views, problems):
    """The one view all survivors share, or None (the problems say why)."""
    first = views[0]
    for view in views[1:]:
        if view["cluster_id"] != first["cluster_id"]:
            problems.append(
                f"{view['host']} is in etcd cluster {view['cluster_id']} and {first['host']}"
                f" in {first['cluster_id']}: these masters are not one cluster; fix the"
                " inventory's masters group"
            )
            return None
        if _membership(view) != _membership(first):
            problems.append(
                f"{view['host']} and {first['host']} see different members"
                f" ({_listed(view)} / {_listed(first)}): a membership change is under way;"
                " wait for it, then re-run"
            )
            return None
    leaders = {view["leader"] for view in views}
    if len(leaders) != 1 or not first["leader"] or first["leader"] == "0" * 16:
        seen = ", ".join(f"{view['host']}: {view['leader'] or 'none'}" for view in views)
        problems.append(
            f"the surviving masters do not follow one leader ({seen}):"
            " an election may be under way; re-run in a few seconds, or look at"
            " etcd's log on those masters"
        )
    return first


def _find_target(target, members, survivors, problems):
    """The member that is the target inventory host's, by its name and peer URLs."""
    name, keys = target["name"], peer_keys(target["peer_urls"])
    by_name = [m for m in members if m.get("name") == name]
    by_peer = [m for m in members if peer_keys(m["peer_urls"]) & keys]
    both = [m for m in by_name if m in by_peer]
    source = target.get("source") or "manifest"
    if len(both) == 1 and len(by_peer) == 1:
        member = both[0]
        owner = survivors.get(member["id"])
        if owner:
            problems.append(
                f"member {_describe(member)} is {owner}'s own (its etcd says so), not"
                f" {target['host']}'s: {target['host']}'s {source} names another master's"
                " member; fix the inventory or that manifest"
            )
            return None
        return member
    if not by_name and not by_peer:
        problems.append(
            f"no member of the cluster is {target['host']}'s (name {name}, peer URLs"
            f" {', '.join(target['peer_urls'])}, from its {source}); the members are"
            f" {'; '.join(_describe(m) for m in members)}. If the member was removed"
            " already, add it back by hand (etcdctl member add --learner), or check"
            " the inventory host"
        )
        return None
    seen = by_name + [m for m in by_peer if m not in by_name]
    problems.append(
        f"{target['host']}'s member (name {name}, peer URLs"
        f" {', '.join(target['peer_urls'])}, from its {source}) matches no one member by"
        f" both name and peer URL: {'; '.join(_describe(m) for m in seen)}. The inventory"
        " host may be another member's: fix the inventory (ansible_host, the masters group)"
        " or the manifest"
    )
    return None


def replace_plan(
    target, views, unreachable=None, force=False, target_view=None, target_reached=True
):
    """The plan to replace ``target`` ({'host', 'name', 'peer_urls', 'source'}), from the
    surviving masters' own ``views`` (survivor_view); ``unreachable``: {host: why} of
    masters other than the target that gave no view; ``target_view``: the target's own
    view when its etcd answered; ``target_reached``: False when the target host itself
    could not be reached - it then cannot show that its etcd is down, and only ``force``
    (the user's word that the machine is off or its disk gone) lets the plan go on.
    Returns {'target': {'host', 'id', 'name', 'peer_urls'},
    'cluster_id', 'leader', 'voting_before', 'voting_after', 'quorum_after',
    'answering_after', 'survivors', 'initial_cluster', 'forced'}; ReplaceRefused
    otherwise."""
    problems = []
    for host, why in sorted((unreachable or {}).items()):
        problems.append(
            f"{host} gave no view of etcd ({why}): with the target down too, two members"
            " are out; bring it back first (or restore with playbooks/restore-ha.yml)"
        )
    if not views:
        problems.append(
            f"no surviving master answered: {target['host']} cannot be replaced with nothing"
            " to join; restore the cluster with playbooks/restore-ha.yml"
        )
        raise ReplaceRefused(problems)
    views = sorted(views, key=lambda view: view["host"])
    shared = _agreement(views, problems)
    if shared is None:
        raise ReplaceRefused(problems)
    members = shared["members"]
    owners = {}
    for view in views:
        if view["member_id"] in owners:
            problems.append(
                f"{view['host']} and {owners[view['member_id']]} answer as one member"
                f" {view['member_id']}: two inventory hosts on one master; fix the inventory"
            )
        owners[view["member_id"]] = view["host"]
    learners = {m["id"]: m for view in views for m in view["members"] if m["is_learner"]}
    for member in learners.values():
        if member["is_learner"]:
            problems.append(
                f"member {_describe(member)} is a learner: a member is added half way"
                " already (etcd takes one learner at a time). Promote it, or remove it with"
                f" etcdctl member remove {member['id']}, then re-run"
            )
    member = _find_target(target, members, owners, problems)
    answering_leaders = set(owners)
    if target_view is not None and target_view["healthy"] and not target_view["errors"]:
        answering_leaders.add(target_view["member_id"])  # the target itself may lead
    if shared["leader"] and shared["leader"] not in answering_leaders:
        problems.append(
            f"the surviving masters still follow {shared['leader']}, which does not answer"
            " through any of them (the leader just failed?): a new leader is being elected;"
            " re-run in a few seconds"
        )
    alarms = sorted(
        {
            (a["member_id"], a["alarm"]): view["host"] for view in views for a in view["alarms"]
        }.items()
    )
    for (member_id, alarm), seen_from in alarms:
        if member is not None and member_id == member["id"] and alarm == "CORRUPT":
            problems.append(
                f"alarm CORRUPT is raised on {target['host']}'s member {member_id} (seen from"
                f" {seen_from}): the cluster refuses writes while it is raised. Disarm it"
                " (etcdctl alarm disarm) and re-run: the replacement then removes that member"
                " and adds it back empty"
            )
            continue
        problems.append(
            f"alarm {alarm} is raised on member {member_id} (seen from {seen_from}): clear"
            " its cause and the alarm (etcdctl alarm disarm) before changing the membership"
        )
    for view in views:
        if not view["healthy"] or view["errors"]:
            problems.append(
                f"{view['host']}'s own etcd is not healthy"
                f" ({'; '.join(view['errors']) or 'endpoint health failed'}): it cannot"
                " carry the cluster through the replacement"
            )
    voting = _voting(shared)
    answering = sorted(set(owners) & set(voting))
    if member is not None:
        others = [
            m
            for m in members
            if m["id"] != member["id"] and m["id"] not in owners and not m["is_learner"]
        ]
        for other in others:
            problems.append(
                f"member {_describe(other)} does not answer through any surviving master"
                f" in the inventory: with {target['host']} down too, two members are out"
                " (or that master is missing from the masters group); bring it back first"
            )
        healthy_target = bool(target_view and target_view["healthy"] and not target_view["errors"])
        if target_view is not None and target_view["member_id"] == member["id"] and healthy_target:
            if not force:
                problems.append(
                    f"{target['host']}'s member {member['id']} answers and is healthy: there"
                    " is nothing to replace. To replace it anyway (a disk you no longer"
                    " trust), re-run with -e etcd_replace_force=true"
                )
        if not target_reached and not force:
            problems.append(
                f"{target['host']} cannot be reached, so it cannot show that its etcd is down"
                " (it may still run and serve, cut off only from this controller). If the"
                " machine is off or its disk is gone, re-run with -e etcd_replace_force=true"
            )
        # the removal itself is a change the members before it agree on: a quorum of
        # them must answer, the target not counted. The members left after it are one
        # fewer, so that quorum of the answering is a quorum of theirs too
        answering_now = len([v for v in answering if v != member["id"]])
        if answering_now < quorum(len(voting)):
            problems.append(
                f"{answering_now} of the {len(voting)} voting members answer without"
                f" {target['host']}'s, fewer than the {quorum(len(voting))} a quorum needs to"
                " agree on the removal: the cluster has lost quorum; restore it with"
                " playbooks/restore-ha.yml"
            )
    if problems:
        raise ReplaceRefused(problems)
    left = [m for m in members if m["id"] != member["id"]]
    initial = [(m["name"], url) for m in left for url in m["peer_urls"]]
    initial += [(target["name"], url) for url in target["peer_urls"]]
    return {
        "target": {
            "host": target["host"],
            "id": member["id"],
            "name": target["name"],
            "peer_urls": list(target["peer_urls"]),
            "started": bool(member.get("started")),
        },
        "cluster_id": shared["cluster_id"],
        "leader": shared["leader"],
        "voting_before": len(voting),
        "voting_after": len(voting) - 1,
        "quorum_after": quorum(len(voting) - 1),
        "answering_after": len([v for v in answering if v != member["id"]]),
        "survivors": [view["host"] for view in views],
        "initial_cluster": ",".join(f"{name}={url}" for name, url in initial),
        "forced": bool(
            force and (not target_reached or (target_view is not None and target_view["healthy"]))
        ),
    }
