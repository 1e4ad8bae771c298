"""Unit tests of the etcd_restore_plan action plugin, run through ActionModule.run()."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleActionFail
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.kubedr.etcd.plugins.action import etcd_restore_plan
from ansible_collections.kubedr.etcd.plugins.action.etcd_restore_plan import ActionModule
from tests.support.action_plugin import make_action
from tests.support.restore_plan_data import STAMP, metadata, tools

HOSTS = ["docker1", "docker2", "docker3"]


def facts(n, leader=False):
    """The facts of docker<n>: member master-<n> on 10.0.0.<n>."""
    ip = f"10.0.0.{n}"
    return {
        "kubedr_etcd_member": {
            "name": f"master-{n}",
            "data_dir": "/var/lib/etcd",
            "advertise_client_urls": [f"https://{ip}:2379"],
            "initial_advertise_peer_urls": [f"https://{ip}:2380"],
            "listen_peer_urls": [f"https://{ip}:2380"],
            "version": "3.5.16",
            "tls": {"peer_cert_file": "/etc/kubernetes/pki/etcd/peer.crt"},
            "kubernetes_version": "v1.31.4",
        },
        "kubedr_etcd_tools": tools(),
        "kubedr_etcd_preflight": {
            "hostname": f"master-{n}",
            "addresses": [ip],
            "peer_cert_ips": [ip],
            "server_cert_ips": [ip],
            "data_dir_free": 10 * 1024**3,
            "data_dir_is_mount": False,
            "is_leader": leader,
            "etcd_running": True,
        },
    }


def hostvars_dict():
    return {
        f"docker{n}": {"ansible_host": f"10.0.0.{n}", **facts(n, leader=n == 2)} for n in (1, 2, 3)
    }


def action(args, check_mode=False, diff=False):
    return make_action(ActionModule, "etcd_restore_plan", args, check_mode, diff)


def args(**extra):
    return {"hosts": list(HOSTS), "snapshot_metadata": metadata(), "stamp": STAMP, **extra}


@pytest.fixture
def shown(monkeypatch):
    """The warnings the plugin shows through display.warning."""
    warnings = []
    monkeypatch.setattr(etcd_restore_plan.display, "warning", warnings.append)
    return warnings


def test_plan_from_hostvars(shown):
    result = action(args(token="kubedr-test")).run(task_vars={"hostvars": hostvars_dict()})
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["warnings"] == shown == []
    plan = result["plan"]
    assert plan["token"] == "kubedr-test"
    assert plan["stamp"] == STAMP
    assert plan["initial_cluster"] == (
        "master-1=https://10.0.0.1:2380,master-2=https://10.0.0.2:2380,"
        "master-3=https://10.0.0.3:2380"
    )
    assert plan["bump_revision"] == 1000000000
    assert plan["stop_order"] == ["docker1", "docker3", "docker2"]
    assert plan["start_order"] == HOSTS
    assert plan["expected_revision_min"] == 1000012345
    assert [m["address"] for m in plan["members"]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert plan["members"][0]["tool"] == {
        "name": "etcdutl",
        "path": "/usr/local/bin/etcdutl",
        "version": "3.5.16",
    }


def test_default_token_and_check_mode(shown):
    result = action(args(), check_mode=True).run(task_vars={"hostvars": hostvars_dict()})
    assert result["plan"]["token"].startswith(f"kubedr-restore-{STAMP}-")
    assert len(result["plan"]["token"]) == len(f"kubedr-restore-{STAMP}-") + 6


def test_problems_fail_with_one_line_each(shown):
    hostvars = hostvars_dict()
    del hostvars["docker3"]["kubedr_etcd_member"]
    hostvars["docker2"]["kubedr_etcd_preflight"]["addresses"] = ["10.77.0.2"]
    hostvars["docker2"]["ansible_host"] = "10.77.0.2"
    result = action(args()).run(task_vars={"hostvars": hostvars})
    assert result["failed"] is True
    assert result["changed"] is False
    assert "plan" not in result
    assert [p.split(":")[0] for p in result["problems"]] == ["docker2", "docker3"]
    assert result["problems"][0].startswith(
        "docker2: the data and certificates were written for 10.0.0.2; this master has 10.77.0.2"
    )
    assert result["problems"][1].startswith("docker3: no etcd member facts")
    assert result["msg"] == "\n".join(result["problems"])


def test_warnings_returned_and_shown(shown):
    hostvars = hostvars_dict()
    hostvars["docker1"]["kubedr_etcd_preflight"]["hostname"] = "node-a"
    result = action(args(bump_revision=0)).run(task_vars={"hostvars": hostvars})
    assert not result.get("failed")
    assert result["plan"]["bump_revision"] is None
    assert len(result["warnings"]) == 2
    assert result["warnings"][0].startswith("docker1: the member is named master-1 but")
    assert result["warnings"][1].startswith("bump_revision is 0")
    assert shown == result["warnings"]


def test_snapshot_without_metadata(shown):
    result = action(args(snapshot_metadata=None)).run(task_vars={"hostvars": hostvars_dict()})
    assert result["plan"]["snapshot"]["revision"] is None
    assert result["warnings"][0].startswith("the snapshot has no metadata record")


def test_facts_only_under_ansible_facts_and_no_ansible_host(shown):
    hostvars = {host: {"ansible_facts": facts(n)} for n, host in enumerate(HOSTS, 1)}
    result = action(args()).run(task_vars={"hostvars": hostvars})
    # the inventory name is the address Ansible connects to: not an IP, so not checked
    assert not result.get("failed"), result.get("msg")
    assert [m["address"] for m in result["plan"]["members"]] == HOSTS
    assert result["plan"]["stop_order"] == HOSTS


def test_host_not_in_inventory(shown):
    result = action(args(hosts=[*HOSTS, "docker9"])).run(task_vars={"hostvars": hostvars_dict()})
    assert result["failed"] is True
    assert result["problems"] == [
        "docker9: not in the inventory; hosts must name the masters as the inventory does"
    ]


def test_real_hostvars(shown):
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=",".join(HOSTS) + ",")
    variables = VariableManager(loader=loader, inventory=inventory)
    for n, host in enumerate(HOSTS, 1):
        inventory.get_host(host).set_variable("ansible_host", f"10.0.0.{n}")
        variables.set_host_facts(host, facts(n, leader=n == 3))
    hostvars = HostVars(inventory, variables, loader)
    result = action(args()).run(task_vars={"hostvars": hostvars})
    assert not result.get("failed"), result.get("msg")
    assert result["plan"]["stop_order"] == ["docker1", "docker2", "docker3"]
    assert result["plan"]["members"][2]["name"] == "master-3"


def test_missing_required_argument():
    with pytest.raises(AnsibleActionFail, match="stamp"):
        action({"hosts": HOSTS}).run(task_vars={"hostvars": hostvars_dict()})


def test_bad_bump_revision_is_a_problem(shown):
    result = action(args(bump_revision=-5)).run(task_vars={"hostvars": hostvars_dict()})
    assert result["failed"] is True
    assert result["problems"][0].startswith("bump_revision=-5:")


def test_unknown_argument_refused():
    with pytest.raises(AnsibleActionFail, match=r"Unsupported parameters .*: snapshot_path"):
        action(args(snapshot_path="/tmp/x.db")).run(task_vars={"hostvars": hostvars_dict()})


SNAPSHOT = {"name": "/b/etcd-snapshot-20261126T030000Z.db", "sha256": "a" * 64, "size": 1}


def test_a_new_run_gets_its_id_in_the_token_and_the_old_cluster_in_its_header():
    result = action(args(snapshot=SNAPSHOT)).run(task_vars={"hostvars": hostvars_dict()})
    assert result.get("failed") is not True, result
    assert result["mode"] == "new"
    run = result["run"]
    assert run["run_id"].startswith(f"{STAMP}-")
    assert result["plan"]["token"] == f"kubedr-restore-{run['run_id']}"
    assert run["controller"]["pid"] == os.getppid()  # the process that forked the worker
    assert run["old_cluster"]["had_quorum"] is True
    assert run["on_failure"] == "rollback"  # auto, with quorum


def held_by(controller, phase="stopped"):
    journal = {
        "format": "kubedr.etcd/restore-journal/v1",
        "run_id": "20261126T010000Z-abcdef",
        "stamp": "20261126T010000Z",
        "controller": controller,
        "snapshot": SNAPSHOT,
        "plan": {"stamp": "20261126T010000Z", "token": "t"},
        "phase": phase,
        "phases": [{"phase": "locked", "time": "2026-11-26T01:00:00.000Z"}],
    }
    hv = hostvars_dict()
    for host in hv:
        hv[host]["kubedr_etcd_preflight"]["journal"] = journal
    return hv


def test_a_run_held_by_a_live_controller_is_refused():
    from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (
        controller_identity,
    )

    live = controller_identity(os.getpid())
    result = action(args(snapshot=SNAPSHOT)).run(task_vars={"hostvars": held_by(live)})
    assert result["failed"] is True and result["mode"] == "refuse"
    assert "is still running" in result["msg"] and "20261126T010000Z-abcdef" in result["msg"]


def test_a_run_of_another_controller_needs_the_takeover_variable():
    other = {"hostname": "laptop", "machine_id": "x", "boot_id": "y", "pid": 1, "pid_start": 1}
    hv = held_by(other)
    refused = action(args(snapshot=SNAPSHOT)).run(task_vars={"hostvars": hv})
    assert refused["failed"] is True
    assert "-e etcd_restore_takeover=20261126T010000Z-abcdef" in refused["msg"]
    resumed = action(args(snapshot=SNAPSHOT, takeover="20261126T010000Z-abcdef")).run(
        task_vars={"hostvars": hv}
    )
    assert resumed["mode"] == "resume"
    assert resumed["plan"] == {"stamp": "20261126T010000Z", "token": "t"}
    assert resumed["run"]["controller"]["pid"] == os.getppid()


def test_force_plans_a_new_run_where_this_snapshot_was_restored():
    hv = held_by({"hostname": "x"}, phase="done")
    done = action(args(snapshot=SNAPSHOT)).run(task_vars={"hostvars": hv})
    assert done["mode"] == "done"
    forced = action(args(snapshot=SNAPSHOT, force=True)).run(task_vars={"hostvars": hv})
    assert forced["mode"] == "new", forced.get("msg")
    assert forced["msg"].endswith("; restoring again (force)")


def test_diff_mode_shows_the_members_before_and_after(shown):
    result = action(args(token="kubedr-test"), check_mode=True, diff=True).run(
        task_vars={"hostvars": hostvars_dict()}
    )
    assert result["changed"] is False
    diff = result["diff"]
    before, after = diff["before"], diff["after"]
    assert sorted(before["members"]) == sorted(after["members"]) == HOSTS
    assert before["members"]["docker1"]["old_member_moved_to"] is None
    assert after["members"]["docker1"] == {
        "name": "master-1",
        "peer_urls": ["https://10.0.0.1:2380"],
        "client_urls": ["https://10.0.0.1:2379"],
        "initial_cluster": result["plan"]["initial_cluster"],
        "initial_cluster_token": "kubedr-test",
        "data_dir": "/var/lib/etcd",
        "member_dir": "/var/lib/etcd/member (restored from the snapshot)",
        "old_member_moved_to": f"/var/lib/etcd/member.kubedr-{STAMP}",
    }
    assert before["order"] == {"etcd_running_on": HOSTS, "leader": "docker2"}
    assert after["order"] == {
        "stop_order": ["docker1", "docker3", "docker2"],
        "start_order": HOSTS,
    }


def test_no_diff_without_diff_mode(shown):
    result = action(args()).run(task_vars={"hostvars": hostvars_dict()})
    assert "diff" not in result


def test_a_run_done_on_one_master_is_not_rolled_back_and_a_resume_keeps_on_failure():
    other = {"hostname": "laptop", "machine_id": "x", "boot_id": "y", "pid": 1, "pid_start": 1}
    hv = held_by(other, phase="verified")
    done = dict(hv["docker1"]["kubedr_etcd_preflight"]["journal"], phase="done")
    hv["docker1"]["kubedr_etcd_preflight"] = dict(hv["docker1"]["kubedr_etcd_preflight"])
    hv["docker1"]["kubedr_etcd_preflight"]["journal"] = done
    takeover = "20261126T010000Z-abcdef"
    refused = action(args(snapshot=None, purpose="rollback", takeover=takeover)).run(
        task_vars={"hostvars": hv}
    )
    assert refused["failed"] is True and refused["mode"] == "refuse"
    assert "is done on docker1" in refused["msg"]
    resumed = action(args(snapshot=SNAPSHOT, takeover=takeover)).run(task_vars={"hostvars": hv})
    assert resumed["mode"] == "resume"
    assert resumed["run"]["on_failure"] == "keep"
    # the controller it takes over from: begin() on each master compares it (compare-and-set)
    assert resumed["run"]["takes_over"] == other


def test_fewer_forks_than_masters_plan_all_the_same(shown):
    # the cut-over runs one master at a time from the controller: forks only pace the stage
    result = action(args(token="kubedr-test")).run(
        task_vars={"hostvars": hostvars_dict(), "ansible_forks": 1, "ansible_play_batch": HOSTS}
    )
    assert not result.get("failed"), result.get("msg")
    assert result["plan"]


def test_a_batch_without_every_master_is_refused(shown):
    result = action(args()).run(
        task_vars={"hostvars": hostvars_dict(), "ansible_forks": 5, "ansible_play_batch": HOSTS[:1]}
    )
    assert result["failed"] and "left for a later batch" in result["msg"]
    assert HOSTS[-1] in result["msg"] and "serial" in result["msg"]


def test_as_many_forks_as_masters_plans(shown):
    result = action(args(token="kubedr-test")).run(
        task_vars={
            "hostvars": hostvars_dict(),
            "ansible_forks": len(HOSTS),
            "ansible_play_batch": HOSTS,
        }
    )
    assert not result.get("failed"), result.get("msg")
    assert result["plan"]


def test_a_play_whose_hosts_run_apart_is_refused(shown):
    plugin = action(args())
    plugin._task.get_play.return_value.strategy = "free"
    result = plugin.run(task_vars={"hostvars": hostvars_dict(), "ansible_play_batch": HOSTS})
    assert result["failed"] and result["mode"] == "refuse"
    assert "the play's strategy is free" in result["msg"]
