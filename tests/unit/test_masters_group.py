"""kubedr_etcd_masters_group set in the inventory (group_vars, host_vars) or as an extra
var: the playbooks act on the group it names.

Each case is a real run of playbooks/facts.yml against hosts on this machine
(ansible_connection=local): its first play (playbooks/masters_group.yml) finds the masters,
its second reads etcd member facts on them, read-only; whether that read succeeds here does
not matter, only on which hosts it ran. A group literally named `masters` holds a decoy that
must not be taken once the name points elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOKS = ROOT / "playbooks"
RESOLVER = "masters_group.yml"
INTERNAL = "kubedr_etcd_masters"
FACTS_TASK = "Read the etcd static pod manifest"

HOSTS = {
    "all": {
        "children": {
            "masters": {"hosts": {"decoy1": None}},
            "control_plane": {"hosts": {"cp1": None, "cp2": None}},
            "backup_hosts": {"hosts": {"backup1": None}},
        },
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }
}
NAME = {"kubedr_etcd_masters_group": "control_plane"}


def run_facts(tmp_path, group_vars=None, host_vars=None, extra_vars=None):
    """({host: result} of the facts task, rc, stdout) of playbooks/facts.yml."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(yaml.safe_dump(HOSTS))
    for kind, data in (("group_vars", group_vars), ("host_vars", host_vars)):
        for name, content in (data or {}).items():
            (inventory / kind).mkdir(exist_ok=True)
            (inventory / kind / f"{name}.yml").write_text(yaml.safe_dump(content))
    args = ["-e", json.dumps(extra_vars)] if extra_vars else []
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "tests" / "integration" / "callback_plugins"),
        ANSIBLE_STDOUT_CALLBACK="results_json",
        ANSIBLE_NOCOLOR="1",
    )
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), *args, str(PLAYBOOKS / "facts.yml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    data = json.loads(proc.stdout[proc.stdout.index("{") :])
    ran = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == FACTS_TASK:
                ran = task["hosts"]
    return ran, proc.returncode, data


def failures(data):
    return [
        result.get("msg", "")
        for play in data["plays"]
        for task in play["tasks"]
        for result in task["hosts"].values()
        if result.get("failed")
    ]


def test_group_vars(tmp_path):
    ran, _rc, _data = run_facts(tmp_path, group_vars={"all": NAME})
    assert sorted(ran) == ["cp1", "cp2"]


def test_group_vars_of_the_group_itself(tmp_path):
    ran, _rc, _data = run_facts(tmp_path, group_vars={"control_plane": NAME})
    assert sorted(ran) == ["cp1", "cp2"]


def test_host_vars(tmp_path):
    # set on one host only: it names the group, and every host of that group is a master
    ran, _rc, data = run_facts(tmp_path, host_vars={"cp1": NAME})
    assert sorted(ran) == ["cp1", "cp2"]
    # and every host of the run sees that name afterwards (the roles read it)
    seen = {
        host: result["ansible_facts"]["kubedr_etcd_masters_group"]
        for play in data["plays"]
        for task in play["tasks"]
        if task["task"]["name"].startswith("Give every host of the run that one name")
        for host, result in task["hosts"].items()
    }
    assert seen == dict.fromkeys(["backup1", "cp1", "cp2", "decoy1"], "control_plane")


def test_extra_vars(tmp_path):
    ran, _rc, _data = run_facts(tmp_path, extra_vars=NAME)
    assert sorted(ran) == ["cp1", "cp2"]


def test_default_is_masters(tmp_path):
    ran, _rc, _data = run_facts(tmp_path)
    assert sorted(ran) == ["decoy1"]


def test_two_names_are_refused(tmp_path):
    ran, rc, data = run_facts(
        tmp_path, host_vars={"cp1": NAME, "backup1": {"kubedr_etcd_masters_group": "masters"}}
    )
    assert rc != 0 and not ran
    assert any("more than one group" in m and "control_plane" in m for m in failures(data))


def test_a_group_without_hosts_is_refused(tmp_path):
    ran, rc, data = run_facts(tmp_path, extra_vars={"kubedr_etcd_masters_group": "nope"})
    assert rc != 0 and not ran
    assert any("No host of this run is in the group nope" in m for m in failures(data))


def plays(path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("playbook", sorted(PLAYBOOKS.glob("*.yml")), ids=lambda p: p.name)
def test_playbooks_on_the_masters_find_them_first(playbook):
    entries = plays(playbook)
    for play in entries:
        # a templated hosts: line cannot see the inventory's variables
        assert "kubedr_etcd_masters_group" not in str(play.get("hosts", "")), playbook.name
    on_masters = [i for i, p in enumerate(entries) if p.get("hosts") == INTERNAL]
    if on_masters:
        assert entries[0].get("ansible.builtin.import_playbook") == RESOLVER, playbook.name
        assert on_masters[0] > 0


def test_resolver_is_the_only_play_that_fills_the_group():
    for playbook in PLAYBOOKS.glob("*.yml"):
        text = playbook.read_text()
        if playbook.name != RESOLVER:
            assert "group_by" not in text and "add_host" not in text, playbook.name
