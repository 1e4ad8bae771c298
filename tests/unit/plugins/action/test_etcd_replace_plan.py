"""Unit tests of the etcd_replace_plan action plugin, run through ActionModule.run(): the
survivors' registered views read from hostvars, the target found, refusals returned."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.action.etcd_replace_plan import ActionModule
from tests.support.action_plugin import make_action

HOSTS = ["cp-a", "cp-b", "cp-c"]
IDS = {"cp-a": "1" * 16, "cp-b": "2" * 16, "cp-c": "3" * 16}


def ip(host):
    return f"10.0.0.{HOSTS.index(host) + 1}"


def members():
    return [
        {
            "id": IDS[h],
            "name": h,
            "peer_urls": [f"https://{ip(h)}:2380"],
            "client_urls": [f"https://{ip(h)}:2379"],
            "is_learner": False,
            "started": True,
        }
        for h in HOSTS
    ]


def answered(host, leader="cp-a"):
    view = {
        "host": host,
        "member_id": IDS[host],
        "cluster_id": "c" * 16,
        "leader": IDS[leader],
        "raft_index": 10,
        "errors": [],
        "members": members(),
        "alarms": [],
        "healthy": True,
    }
    return {"changed": False, "answered": True, "error": None, "view": view}


def member_fact(host):
    return {
        "name": host,
        "initial_advertise_peer_urls": [f"https://{ip(host)}:2380"],
        "listen_peer_urls": [f"https://{ip(host)}:2380"],
    }


def hostvars(**change):
    found = {
        h: {
            "ansible_host": ip(h),
            "kubedr_etcd_member": member_fact(h),
            "etcd_replace__view": answered(h),
        }
        for h in HOSTS
    }
    for host, value in change.items():
        found[host.replace("_", "-")] = value
    return found


def run(task_vars, **args):
    plugin = make_action(ActionModule, "etcd_replace_plan", {"hosts": list(HOSTS), **args})
    return plugin.run(task_vars={"hostvars": task_vars})


def test_a_target_whose_etcd_does_not_answer_is_planned_by_its_id():
    down = {
        "ansible_host": ip("cp-b"),
        "kubedr_etcd_member": member_fact("cp-b"),
        "etcd_replace__view": {"answered": False, "error": "connection refused", "view": None},
    }
    result = run(hostvars(cp_b=down), target="cp-b")
    assert not result.get("failed"), result
    assert result["plan"]["target"]["id"] == IDS["cp-b"] and result["problems"] == []


def test_an_unreachable_target_needs_force_and_is_found_from_the_inventory():
    # no facts, no view: it cannot prove its etcd down; the inventory gives its name and
    # https://<ansible_host>:2380
    gone = {
        "ansible_host": ip("cp-b"),
        "etcd_replace__facts": {"unreachable": True, "msg": "ssh: no route to host"},
        "etcd_replace__view": {"skipped": True},
    }
    result = run(hostvars(cp_b=gone), target="cp-b")
    assert result["failed"] and "cp-b cannot be reached, so it cannot show" in result["msg"]
    result = run(hostvars(cp_b=gone), target="cp-b", force=True)
    assert result["plan"]["target"]["peer_urls"] == ["https://10.0.0.2:2380"], result
    assert result["plan"]["forced"] is True


def test_a_survivor_that_gave_no_view_is_named_with_what_its_host_said():
    gone = {
        "ansible_host": ip("cp-c"),
        "etcd_replace__facts": {"unreachable": True, "msg": "ssh: no route to host"},
        "etcd_replace__view": {"skipped": True},
    }
    down = dict(hostvars()["cp-b"], etcd_replace__view={"answered": False, "error": "refused"})
    result = run(hostvars(cp_b=down, cp_c=gone), target="cp-b")
    assert result["failed"] is True
    assert any("cp-c gave no view of etcd (ssh: no route to host)" in p for p in result["problems"])


def test_a_target_that_is_not_a_master_or_not_a_host_is_refused():
    result = run(hostvars(), target="backup1")
    assert result["failed"] and "is not an inventory host" in result["msg"]
    task_vars = dict(hostvars(), backup1={"ansible_host": "10.0.0.9"})
    result = run(task_vars, target="backup1")
    assert result["failed"] and "is not one of the masters (cp-a, cp-b, cp-c)" in result["msg"]


def test_a_healthy_target_is_refused_without_force_and_planned_with_it():
    result = run(hostvars(), target="cp-b")
    assert result["failed"] and "etcd_replace_force=true" in result["msg"]
    result = run(hostvars(), target="cp-b", force=True)
    assert result["plan"]["forced"] is True


def test_names_and_peer_urls_given_win_over_the_manifest():
    down = dict(hostvars()["cp-b"], etcd_replace__view={"answered": False, "error": "refused"})
    result = run(
        hostvars(cp_b=down), target="cp-b", name="cp-c", peer_urls=["https://10.0.0.3:2380"]
    )
    assert result["failed"] and "is cp-c's own (its etcd says so), not cp-b's" in result["msg"]


def test_a_reachable_rebuilt_target_without_a_manifest_needs_no_force():
    rebuilt = {
        "ansible_host": ip("cp-b"),
        "etcd_replace__facts": {"failed": True, "msg": "no etcd manifest found: looked at ..."},
        "etcd_replace__view": {"skipped": True},
    }
    result = run(hostvars(cp_b=rebuilt), target="cp-b")
    assert not result.get("failed"), result
    assert result["plan"]["forced"] is False and result["plan"]["target"]["id"] == IDS["cp-b"]
