"""The proof a member replacement needs before it changes anything (_replace_plan): what
the surviving masters say about themselves, and every refusal with its reason."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _replace_plan as R

IDS = {"cp-a": "1" * 16, "cp-b": "2" * 16, "cp-c": "3" * 16, "cp-d": "4" * 16, "cp-e": "5" * 16}


def member(host, learner=False, name=None, peer=None):
    return {
        "id": IDS[host],
        "name": host if name is None else name,
        "peer_urls": [peer or f"https://10.0.0.{ord(host[-1]) - 96}:2380"],
        "client_urls": [f"https://10.0.0.{ord(host[-1]) - 96}:2379"],
        "is_learner": learner,
        "started": True,
    }


def view(host, hosts=("cp-a", "cp-b", "cp-c"), leader="cp-a", **change):
    members = {"cluster_id": "c" * 16, "members": [member(h) for h in hosts]}
    status = {"member_id": IDS[host], "leader": IDS[leader], "raft_index": 100, "errors": []}
    result = R.survivor_view(host, members, status, [], True)
    result.update(change)
    return result


def target(host="cp-b", **change):
    found = {
        "host": host,
        "name": host,
        "peer_urls": [f"https://10.0.0.{ord(host[-1]) - 96}:2380"],
        "source": "manifest",
    }
    found.update(change)
    return found


def refused(*args, **kwargs):
    with pytest.raises(R.ReplaceRefused) as caught:
        R.replace_plan(*args, **kwargs)
    return caught.value.problems


def test_one_member_down_of_three_is_replaced_by_its_id():
    plan = R.replace_plan(target(), [view("cp-a"), view("cp-c")])
    assert plan["target"] == {
        "host": "cp-b",
        "id": IDS["cp-b"],
        "name": "cp-b",
        "peer_urls": ["https://10.0.0.2:2380"],
        "started": True,
    }
    assert plan["voting_before"] == 3 and plan["voting_after"] == 2
    assert plan["quorum_after"] == 2 and plan["answering_after"] == 2
    assert plan["survivors"] == ["cp-a", "cp-c"] and plan["leader"] == IDS["cp-a"]
    assert plan["initial_cluster"] == (
        "cp-a=https://10.0.0.1:2380,cp-c=https://10.0.0.3:2380,cp-b=https://10.0.0.2:2380"
    )
    assert plan["forced"] is False


def test_a_peer_url_written_otherwise_is_the_same_url():
    plan = R.replace_plan(
        target(peer_urls=["HTTPS://10.0.0.2:2380/"]), [view("cp-a"), view("cp-c")]
    )
    assert plan["target"]["id"] == IDS["cp-b"]
    assert R.peer_keys(["https://[FD00:0:0::2]:2380"]) == R.peer_keys(["https://[fd00::2]:2380"])


def test_five_masters_one_down_keeps_quorum():
    five = ("cp-a", "cp-b", "cp-c", "cp-d", "cp-e")
    views = [view(h, hosts=five) for h in ("cp-a", "cp-c", "cp-d", "cp-e")]
    plan = R.replace_plan(target(), views)
    assert (plan["voting_after"], plan["quorum_after"], plan["answering_after"]) == (4, 3, 4)


def test_a_second_master_that_gives_no_view_is_refused():
    problems = refused(target(), [view("cp-a")], unreachable={"cp-c": "unreachable over SSH"})
    assert any("cp-c gave no view" in p and "two members are out" in p for p in problems)


def test_a_member_no_inventory_master_answers_for_is_refused():
    problems = refused(target(), [view("cp-a")])
    assert any(f"member {IDS['cp-c']} (cp-c" in p and "does not answer" in p for p in problems)


def test_a_cluster_without_quorum_now_cannot_agree_on_the_removal():
    # two members, one down: one left would be a quorum of one, but the removal itself
    # needs a quorum of the two
    problems = refused(target(), [view("cp-a", hosts=("cp-a", "cp-b"))])
    assert any("1 of the 2 voting members answer" in p and "lost quorum" in p for p in problems)


def test_removing_the_only_healthy_member_is_refused():
    # cp-a answers, but the target is the member it is, by name and peer URL: no survivor
    problems = refused(target(host="cp-a"), [], unreachable={})
    assert any("no surviving master answered" in p for p in problems)


def test_a_healthy_target_needs_force():
    views = [view("cp-a"), view("cp-c")]
    problems = refused(target(), views, target_view=view("cp-b"))
    assert any("answers and is healthy" in p and "etcd_replace_force=true" in p for p in problems)
    plan = R.replace_plan(target(), views, target_view=view("cp-b"), force=True)
    assert plan["forced"] is True and plan["target"]["id"] == IDS["cp-b"]


def test_an_unhealthy_target_that_answers_is_replaced_without_force():
    sick = view("cp-b", healthy=False, errors=["etcdserver: request timed out"])
    plan = R.replace_plan(target(), [view("cp-a"), view("cp-c")], target_view=sick)
    assert plan["forced"] is False


def test_a_learner_left_over_is_refused_with_its_id():
    hosts = ("cp-a", "cp-b", "cp-c")
    views = [view(h, hosts=hosts) for h in ("cp-a", "cp-c")]
    for v in views:
        v["members"].append(dict(member("cp-d", learner=True), started=False, name=""))
    problems = refused(target(), views)
    assert any("is a learner" in p and f"member remove {IDS['cp-d']}" in p for p in problems)


def test_any_alarm_is_refused_a_corrupt_target_says_disarm_and_re_run():
    views = [
        view("cp-a", alarms=[{"member_id": IDS["cp-b"], "alarm": "CORRUPT"}]),
        view("cp-c", alarms=[{"member_id": IDS["cp-b"], "alarm": "CORRUPT"}]),
    ]
    problems = refused(target(), views)
    assert len([p for p in problems if "CORRUPT" in p]) == 1, problems
    assert "Disarm it" in problems[0] and "cp-b's member" in problems[0]
    views[0]["alarms"] = [{"member_id": IDS["cp-a"], "alarm": "NOSPACE"}]
    views[1]["alarms"] = []
    problems = refused(target(), views)
    assert any("alarm NOSPACE is raised on member " + IDS["cp-a"] in p for p in problems)


def test_survivors_that_disagree_on_the_members_or_leader_are_refused():
    problems = refused(target(), [view("cp-a"), view("cp-c", hosts=("cp-a", "cp-c"))])
    assert any("see different members" in p for p in problems)
    # a learner one survivor lists and the other does not yet
    late = view("cp-c")
    late["members"] = late["members"] + [dict(member("cp-d", learner=True), name="")]
    problems = refused(target(), [view("cp-a"), late])
    assert any("see different members" in p and "(learner)" in p for p in problems)
    problems = refused(target(), [view("cp-a"), view("cp-c", leader="cp-c")])
    assert any("do not follow one leader" in p for p in problems)
    problems = refused(target(), [view("cp-a"), view("cp-c", cluster_id="d" * 16)])
    assert any("not one cluster" in p for p in problems)


def test_a_leader_no_survivor_is_is_an_election_under_way():
    problems = refused(target(), [view("cp-a", leader="cp-b"), view("cp-c", leader="cp-b")])
    assert any(f"still follow {IDS['cp-b']}" in p and "re-run in a few" in p for p in problems)
    # the target leads and answers, healthy: no election; replaced with force
    views = [view("cp-a", leader="cp-b"), view("cp-c", leader="cp-b")]
    plan = R.replace_plan(target(), views, target_view=view("cp-b", leader="cp-b"), force=True)
    assert plan["forced"] is True and plan["leader"] == IDS["cp-b"]


def test_a_survivor_whose_own_etcd_is_unhealthy_is_refused():
    problems = refused(target(), [view("cp-a"), view("cp-c", healthy=False)])
    assert any("cp-c's own etcd is not healthy" in p for p in problems)


def test_the_target_is_matched_by_name_and_peer_url_never_by_name_alone():
    # the inventory host's manifest names cp-b but carries cp-c's peer URL
    wrong = target(peer_urls=["https://10.0.0.3:2380"])
    problems = refused(wrong, [view("cp-a"), view("cp-c")])
    assert any("matches no one member by both name and peer URL" in p for p in problems)
    # a name no member has and a peer URL no member has
    problems = refused(target(name="cp-x", peer_urls=["https://10.9.9.9:2380"]), [view("cp-a")])
    assert any("no member of the cluster is cp-b's" in p for p in problems)


def test_an_inventory_host_on_a_surviving_masters_member_is_refused():
    # cp-b's inventory entry points at cp-c's machine: its manifest is cp-c's
    problems = refused(
        target(name="cp-c", peer_urls=["https://10.0.0.3:2380"]), [view("cp-a"), view("cp-c")]
    )
    assert any("is cp-c's own (its etcd says so), not cp-b's" in p for p in problems)


def test_two_inventory_hosts_answering_as_one_member_are_refused():
    twin = view("cp-a")
    twin["host"] = "cp-c"
    problems = refused(target(), [view("cp-a"), twin])
    assert any("answer as one member" in p for p in problems)


@pytest.mark.parametrize("voting,majority", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum(voting, majority):
    assert R.quorum(voting) == majority


def test_the_targets_identity_from_settings_manifest_or_inventory():
    manifest = {"name": "m-b", "initial_advertise_peer_urls": ["https://10.0.0.2:2380"]}
    assert R.target_identity("cp-b", manifest, "10.0.0.2") == {
        "host": "cp-b",
        "name": "m-b",
        "peer_urls": ["https://10.0.0.2:2380"],
        "source": "manifest",
    }
    rebuilt = R.target_identity("cp-b", None, "fd00::2")
    assert rebuilt["peer_urls"] == ["https://[fd00::2]:2380"] and rebuilt["name"] == "cp-b"
    assert rebuilt["source"] == "inventory"
    given = R.target_identity("cp-b", manifest, None, name="x", peer_urls=["https://h:12380"])
    assert given == {
        "host": "cp-b",
        "name": "x",
        "peer_urls": ["https://h:12380"],
        "source": "settings",
    }
