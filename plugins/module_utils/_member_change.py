# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""The membership changes of a member replacement, run on a surviving master against its
own etcd (its own client URL, its own client certificate): remove the failed member by
id, add it back as a learner, promote the learner, or remove the learner again when it
never caught up.

Each change first reads the member list and does nothing when it is done already - the
old id gone, a learner with the target's peer URLs there, that member voting - so a run
killed between a change and its journal entry, run again, neither fails nor changes twice.
etcd's passing refusals (``UNHEALTHY_CLUSTER`` for a few seconds after any change,
``NO_LEADER_YET`` while a new leader is elected, and ``LEARNER_NOT_READY`` until the
learner's log is close to the leader's) are tried again for a bounded time
(``_etcdctl.check_retrying``); a change applied whose answer was lost is found by reading
the member list again.
"""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    LEARNER_NOT_READY,
    NO_LEADER_YET,
    UNHEALTHY_CLUSTER,
    EtcdctlError,
    check,
    check_retrying,
    client_env,
    member_add_learner_argv,
    member_list_argv,
    member_promote_argv,
    member_remove_argv,
    parse_member_add,
    parse_member_list,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._replace_plan import peer_keys


class ChangeError(Exception):
    """A membership change failed; ``msg`` says which, what etcd said and what to do."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class Member:
    """etcdctl against this master's own etcd at ``endpoint`` with ``tls``."""

    def __init__(self, etcdctl, endpoint, tls, timeout=30):
        self.etcdctl = etcdctl
        self.endpoint = endpoint
        self.timeout = timeout
        self.env = client_env([endpoint], *tls, dial_timeout="3s", command_timeout="15s")

    def members(self):
        try:
            out = check(member_list_argv(self.etcdctl), self.env, self.timeout, "member list")
        except EtcdctlError as exc:
            raise ChangeError(f"cannot list the members at {self.endpoint}: {exc.msg}") from None
        return parse_member_list(out)["members"]

    def _with(self, peer_urls):
        keys = peer_keys(peer_urls)
        return [m for m in self.members() if peer_keys(m["peer_urls"]) & keys]

    def remove(self, member_id, timeout=60):
        """Remove ``member_id``; {'changed'}: False when it is gone already."""
        if member_id not in {m["id"] for m in self.members()}:
            return {"changed": False, "removed": member_id}
        argv = member_remove_argv(self.etcdctl, member_id)
        try:
            check_retrying(
                argv,
                self.env,
                timeout,
                f"member remove {member_id}",
                [UNHEALTHY_CLUSTER, *NO_LEADER_YET],
            )
        except EtcdctlError as exc:
            if member_id not in {m["id"] for m in self.members()}:
                return {"changed": True, "removed": member_id}  # applied, the answer lost
            raise ChangeError(
                f"etcd refused to remove member {member_id}: {exc.msg}. Nothing else was"
                " changed; re-run once the cluster is healthy",
                stderr=exc.stderr,
            ) from None
        return {"changed": True, "removed": member_id}

    def _added(self, name, peer_urls, replaced_id):
        """The member an earlier add of this replacement made, or None: it has these peer
        URLs, is not the member replaced, and bears ``name`` (or none yet: unstarted)."""
        there = self._with(peer_urls)
        if len(there) > 1:
            raise ChangeError(
                f"{len(there)} members have the peer URLs {', '.join(peer_urls)}"
                f" ({', '.join(m['id'] for m in there)}): remove the extra ones by id first"
            )
        if not there:
            return None
        found = there[0]
        if found["id"] == replaced_id:
            raise ChangeError(
                f"member {replaced_id} (the one replaced) still holds the peer URLs"
                f" {', '.join(peer_urls)}: remove it first; nothing was added"
            )
        if found["name"] not in ("", name):
            raise ChangeError(
                f"member {found['id']} named {found['name']} holds the peer URLs"
                f" {', '.join(peer_urls)}, not {name}: another member's; nothing was added"
            )
        return found

    def add_learner(self, name, peer_urls, replaced_id, timeout=60):
        """Add ``name`` with ``peer_urls`` as a learner; {'changed', 'id', 'is_learner'}.
        When an earlier add of this replacement made it already (those peer URLs, not
        ``replaced_id``, that name or none yet), that member, unchanged."""
        found = self._added(name, peer_urls, replaced_id)
        if found:
            return {"changed": False, "id": found["id"], "is_learner": found["is_learner"]}
        argv = member_add_learner_argv(self.etcdctl, name, peer_urls)
        try:
            out = check_retrying(
                argv, self.env, timeout, f"member add {name}", [UNHEALTHY_CLUSTER, *NO_LEADER_YET]
            )
        except EtcdctlError as exc:
            found = self._added(name, peer_urls, replaced_id)
            if found:  # applied, the answer lost
                return {"changed": True, "id": found["id"], "is_learner": found["is_learner"]}
            raise ChangeError(
                f"etcd refused to add {name} as a learner: {exc.msg}", stderr=exc.stderr
            ) from None
        added = parse_member_add(out)
        return {"changed": True, "id": added["id"], "is_learner": added["is_learner"]}

    def promote(self, member_id, timeout=120):
        """Promote the learner ``member_id`` once it is in sync; {'changed'}: False when
        it votes already. ChangeError when it is not in sync after ``timeout``."""
        found = {m["id"]: m for m in self.members()}.get(member_id)
        if found is None:
            raise ChangeError(
                f"member {member_id} is not in the cluster: there is nothing to promote"
            )
        if not found["is_learner"]:
            return {"changed": False, "id": member_id}
        argv = member_promote_argv(self.etcdctl, member_id)
        try:
            check_retrying(
                argv,
                self.env,
                timeout,
                f"member promote {member_id}",
                [LEARNER_NOT_READY, UNHEALTHY_CLUSTER, *NO_LEADER_YET],
            )
        except EtcdctlError as exc:
            again = {m["id"]: m for m in self.members()}.get(member_id)
            if again is not None and not again["is_learner"]:
                return {"changed": True, "id": member_id}
            raise ChangeError(
                f"the learner {member_id} was not promoted: {exc.msg}",
                not_ready=LEARNER_NOT_READY in (exc.stderr or ""),
                stderr=exc.stderr,
            ) from None
        return {"changed": True, "id": member_id}
