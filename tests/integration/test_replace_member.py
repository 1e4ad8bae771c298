"""playbooks/replace-member.yml on the lab: with one master's etcd down the replacement is
planned by that member's id, from the other masters' own views; with a second one down,
or with a healthy target, it is refused; nothing on any master changes either way."""

from __future__ import annotations

import contextlib
import json

from tests.integration.conftest import task_results
from tests.support.lab_restore import state

PLAYBOOK = "playbooks/replace-member.yml"
ASIDE = "/etc/kubernetes/manifests.kubedr-test"


def members(lab):
    out = lab.cli("etcdctl", "member", "list", "-w", "json").stdout
    return {m["name"]: format(m["ID"], "016x") for m in json.loads(out)["members"]}


def leader_id(lab, names):
    """The leader the masters ``names`` follow, each asked on its own client URL."""
    urls = [f"https://{m.ip}:2379" for m in lab.masters if m.name in names]
    proc = lab.etcdctl_run("endpoint", "status", "-w", "json", endpoints=urls, check=False)
    try:
        seen = {format(s["Status"]["leader"], "016x") for s in json.loads(proc.stdout)}
    except (ValueError, KeyError, TypeError):
        return None
    return seen.pop() if len(seen) == 1 else None


@contextlib.contextmanager
def etcd_stopped(lab, *hosts):
    """The etcd static pod of ``hosts`` stopped by the kubelet (its manifest moved to a
    sibling directory, where the member facts still find it), then put back and the
    cluster healthy again."""
    for host in hosts:
        lab.sh(host, f"mkdir -p {ASIDE} && mv /etc/kubernetes/manifests/etcd.yaml {ASIDE}/")
    try:
        for host in hosts:
            url = f"https://{lab.master(host).ip}:2379"
            lab.wait(
                f"etcd on {host} gone",
                lambda url=url: (
                    lab.etcdctl_run("endpoint", "health", endpoints=[url], check=False).returncode
                    != 0
                ),
                120,
            )
        yield
    finally:
        for host in hosts:
            lab.sh(host, f"mv {ASIDE}/etcd.yaml /etc/kubernetes/manifests/ && rmdir {ASIDE}")
        lab.wait(
            "cluster healthy",
            lambda: (
                lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0
            ),
            180,
        )


def plan_of(data):
    results = task_results(
        data, "Decide from the survivors' own views whether the member may be replaced"
    )
    return next(iter(results.values()))


def test_a_stopped_member_is_planned_by_its_id_from_the_others_own_views(lab):
    ids = members(lab)
    target = lab.masters[1].name
    survivors = [m.name for m in lab.masters if m.name != target]
    with etcd_stopped(lab, target):
        lab.wait(
            "a leader among the others",
            lambda: leader_id(lab, survivors) in {ids[s] for s in survivors},
            60,
        )
        before = state(lab)
        rc, data, err = lab.ansible_playbook(PLAYBOOK, "-e", f"etcd_replace_member={target}")
        assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
        assert state(lab) == before
    result = plan_of(data)
    plan = result["plan"]
    assert plan["target"]["id"] == ids[target] and plan["target"]["host"] == target
    assert sorted(plan["survivors"]) == sorted(survivors)
    assert (plan["voting_before"], plan["voting_after"], plan["quorum_after"]) == (3, 2, 2)
    assert plan["answering_after"] == 2 and plan["forced"] is False
    assert f"{target}=https://{lab.master(target).ip}:2380" in plan["initial_cluster"]
    shown = json.dumps(task_results(data, "Show the plan and the commands of the replacement"))
    assert f"etcdctl member remove {ids[target]}" in shown


def files(lab):
    """What lies in each master's /etc/kubernetes, /var/lib/etcd and /var/tmp (without
    quorum the member list cannot be read)."""
    return {
        m.name: lab.sh(m.name, "ls -A /etc/kubernetes /var/lib/etcd /var/tmp").stdout
        for m in lab.masters
    }


def test_a_second_member_down_is_refused_and_nothing_changes(lab):
    target, other = lab.masters[1].name, lab.masters[2].name
    ids = members(lab)
    with etcd_stopped(lab, target, other):
        before = files(lab)
        rc, data, _err = lab.ansible_playbook(PLAYBOOK, "-e", f"etcd_replace_member={target}")
        after = files(lab)
    assert rc != 0
    said = plan_of(data)["msg"]
    assert f"{other} gave no view of etcd" in said and "two members are out" in said, said
    assert after == before
    assert members(lab) == ids


def test_a_healthy_member_is_not_replaced_without_force(lab):
    target = lab.masters[2].name
    before = state(lab)
    rc, data, _err = lab.ansible_playbook(PLAYBOOK, "-e", f"etcd_replace_member={target}")
    assert rc != 0
    said = plan_of(data)["msg"]
    assert "answers and is healthy" in said and "etcd_replace_force=true" in said, said
    rc, data, err = lab.ansible_playbook(
        PLAYBOOK, "-e", f"etcd_replace_member={target}", "-e", "etcd_replace_force=true"
    )
    assert rc == 0, f"{plan_of(data).get('msg')}\n{err}"
    assert plan_of(data)["plan"]["forced"] is True
    assert state(lab) == before


def test_a_host_that_is_not_a_master_is_refused(lab):
    rc, data, _err = lab.ansible_playbook(PLAYBOOK, "-e", "etcd_replace_member=backup1")
    assert rc != 0
    assert "is not one of the masters" in plan_of(data)["msg"]
