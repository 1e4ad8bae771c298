"""Each master's own view of a real etcd cluster (_member_view), and the replacement's
proof read from those views (_replace_plan) - with members stopped, added as learners and
removed by id on real etcd members (tests/support/etcd_process)."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _etcdctl as E
from ansible_collections.kubedr.etcd.plugins.module_utils._member_view import ViewError, own_view
from ansible_collections.kubedr.etcd.plugins.module_utils._replace_plan import (
    ReplaceRefused,
    replace_plan,
)
from tests.support.etcd_process import NO_TLS, VERSIONS, running_cluster, stop_session
from tests.support.member_views import settled_views, views_of


@pytest.fixture(params=sorted(VERSIONS))
def cluster(request, tmp_path_factory):
    with running_cluster(request.param, tmp_path_factory) as started:
        yield started


def target_of(cluster, name):
    return {"host": name, "name": name, "peer_urls": [cluster.peers[name]], "source": "manifest"}


def test_every_member_reports_itself_and_a_healthy_target_needs_force(cluster):
    views = views_of(cluster, ["m1", "m2", "m3"])
    assert len({v["member_id"] for v in views}) == 3
    assert len({v["cluster_id"] for v in views}) == 1 and len({v["leader"] for v in views}) == 1
    assert all(v["healthy"] and not v["alarms"] and len(v["members"]) == 3 for v in views)
    with pytest.raises(ReplaceRefused, match="answers and is healthy"):
        replace_plan(target_of(cluster, "m2"), [views[0], views[2]], target_view=views[1])


def test_a_stopped_member_gives_no_view_and_is_found_by_its_id(cluster):
    before = {m["name"]: m["id"] for m in cluster.members()["members"]}
    stop_session(cluster.procs.pop("m2"))
    with pytest.raises(ViewError, match=r"m2's etcd at .* gave no view"):
        own_view("m2", cluster.etcdctl, cluster.clients["m2"], NO_TLS, timeout=3)
    plan = replace_plan(target_of(cluster, "m2"), settled_views(cluster, ["m1", "m3"]))
    assert plan["target"]["id"] == before["m2"]
    assert (plan["voting_after"], plan["quorum_after"], plan["answering_after"]) == (2, 2, 2)
    # the command lines the replacement runs, on the real cluster: remove by id, add back
    # as a learner - then the proof refuses a second replacement while that learner waits
    env = cluster.env([cluster.clients["m1"]])
    E.check(E.member_remove_argv(cluster.etcdctl, before["m2"]), env, 30)
    add = E.member_add_learner_argv(cluster.etcdctl, "m2", [cluster.peers["m2"]])
    # a cluster started seconds ago is "unhealthy" to a membership change for 5 s
    added = E.parse_member_add(E.check_retrying(add, env, 30, "add", [E.UNHEALTHY_CLUSTER]))
    assert added["is_learner"] and added["id"] != before["m2"]
    with pytest.raises(ReplaceRefused, match="is a learner"):
        replace_plan(target_of(cluster, "m2"), views_of(cluster, ["m1", "m3"]))
    promote = E.member_promote_argv(cluster.etcdctl, added["id"])
    with pytest.raises(E.EtcdctlError, match="in 2 s") as never:  # never started: never in sync
        E.check_retrying(promote, env, 2, "promote", [E.LEARNER_NOT_READY])
    assert E.LEARNER_NOT_READY in never.value.stderr
    E.check(E.member_remove_argv(cluster.etcdctl, added["id"]), env, 30)
    assert sorted(m["name"] for m in cluster.members()["members"]) == ["m1", "m3"]


def test_two_members_down_is_refused(cluster):
    stop_session(cluster.procs.pop("m2"))
    stop_session(cluster.procs.pop("m3"))
    with pytest.raises(ViewError):
        own_view("m3", cluster.etcdctl, cluster.clients["m3"], NO_TLS, timeout=3)
    # m1 alone has lost quorum: its own view may not even answer in time
    try:
        views = views_of(cluster, ["m1"], timeout=3, settle=2)
    except ViewError as exc:
        unreachable, views = {"m1": str(exc)}, []
    else:
        unreachable = {"m3": "its etcd gave no view"}
    with pytest.raises(ReplaceRefused) as refused:
        replace_plan(target_of(cluster, "m2"), views, unreachable=unreachable)
    assert any("two members" in p or "no surviving master" in p for p in refused.value.problems)
