"""The membership changes of a replacement on real etcd members (_member_change): one
member of three stopped and its data lost, removed by id, added back as a learner,
started empty with the cluster it joins, promoted - and each change run again changes
nothing."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _etcdctl as E
from ansible_collections.kubedr.etcd.plugins.module_utils._member_change import (
    ChangeError,
    Member,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._replace_plan import replace_plan
from tests.support.etcd_process import (
    NO_TLS,
    VERSIONS,
    etcd_argv,
    running_cluster,
    spawn,
    stop_session,
)
from tests.support.member_views import settled_views


@pytest.fixture(params=sorted(VERSIONS))
def cluster(request, tmp_path_factory):
    with running_cluster(request.param, tmp_path_factory) as started:
        yield started


def test_a_lost_member_is_replaced_and_every_step_run_again_changes_nothing(cluster, tmp_path):
    old = {m["name"]: m["id"] for m in cluster.members()["members"]}
    stop_session(cluster.procs.pop("m2"))
    views = settled_views(cluster, ["m1", "m3"])
    target = {"host": "m2", "name": "m2", "peer_urls": [cluster.peers["m2"]]}
    plan = replace_plan(target, views)
    leader = Member(cluster.etcdctl, cluster.clients["m1"], NO_TLS)

    with pytest.raises(ChangeError, match=r"the one replaced.*still holds the peer URLs"):
        leader.add_learner("m2", [cluster.peers["m2"]], old["m2"])
    assert leader.remove(plan["target"]["id"])["changed"] is True
    assert leader.remove(plan["target"]["id"])["changed"] is False
    added = leader.add_learner("m2", [cluster.peers["m2"]], old["m2"])
    assert added["changed"] and added["is_learner"] and added["id"] != old["m2"]
    assert leader.add_learner("m2", [cluster.peers["m2"]], old["m2"]) == dict(added, changed=False)
    with pytest.raises(ChangeError, match=r"holds the peer URLs .* not m1"):
        leader.add_learner("m1", [cluster.peers["m3"]], old["m2"])
    with pytest.raises(ChangeError, match=r"was not promoted.*in sync") as early:
        leader.promote(added["id"], timeout=1)
    assert early.value.details["not_ready"] is True

    cluster.put("written-during-the-replacement", "yes")
    argv = etcd_argv(
        cluster.version,
        "m2",
        tmp_path / "m2-new",
        cluster.clients["m2"],
        cluster.peers["m2"],
        plan["initial_cluster"],
    )
    argv[argv.index("--initial-cluster-state=new")] = "--initial-cluster-state=existing"
    cluster.procs["m2"] = spawn(argv, cluster.directory / "m2.log", mode="ab")

    assert leader.promote(added["id"], timeout=60) == {"changed": True, "id": added["id"]}
    assert leader.promote(added["id"])["changed"] is False
    members = cluster.members()["members"]
    assert sorted((m["name"], m["is_learner"]) for m in members) == [
        ("m1", False),
        ("m2", False),
        ("m3", False),
    ]
    assert cluster.wait_healthy(30), cluster.logs()
    env = cluster.env([cluster.clients["m2"]])
    got = E.check(
        [
            cluster.etcdctl,
            "get",
            "--consistency=s",
            "--print-value-only",
            "written-during-the-replacement",
        ],
        env,
        30,
    )
    assert got.strip() == "yes"


def test_a_learner_that_never_starts_is_removed_again_by_its_id(cluster):
    stop_session(cluster.procs.pop("m2"))
    member = Member(cluster.etcdctl, cluster.clients["m1"], NO_TLS)
    gone = {m["name"]: m["id"] for m in cluster.members()["members"]}["m2"]
    member.remove(gone)
    added = member.add_learner("m2", [cluster.peers["m2"]], gone)
    with pytest.raises(ChangeError):
        member.promote(added["id"], timeout=2)
    assert member.remove(added["id"])["changed"] is True
    assert sorted(m["name"] for m in cluster.members()["members"]) == ["m1", "m3"]
    with pytest.raises(ChangeError, match="nothing to promote"):
        member.promote(added["id"])
