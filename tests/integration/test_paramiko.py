"""backup.yml and a restore-ha plan over ansible-core's paramiko connection
(``ansible_connection=paramiko``), as from a controller without an OpenSSH client.

The ssh connection plugin is made unusable for these runs (its executable is /bin/false),
so a task that did not go through paramiko fails the run. Host keys stay checked: paramiko
reads them from ~/.ssh/known_hosts, here a HOME of the test's own holding the lab's keys.
"""

from __future__ import annotations

import json
import re
import shutil

from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import verify_trailer
from tests.integration.conftest import run_ansible, task_results

RESTORE = "playbooks/restore-ha.yml"


def paramiko_run(lab, home, playbook, *args):
    """The lab's inventory with ansible_connection: paramiko on its hosts (not as an extra
    var, which would also take over the tasks delegated to the controller)."""

    def over_paramiko(inventory):
        lab_vars = inventory["all"]["vars"]
        lab_vars["ansible_connection"] = "paramiko"
        # paramiko does not read ssh's options: the lab's ProxyCommand is given on its own
        proxy = re.search(r'ProxyCommand="([^"]+)"', lab_vars["ansible_ssh_common_args"])
        lab_vars["ansible_paramiko_proxy_command"] = proxy.group(1)

    path = lab.inventory_copy(home / "inventory.yml", over_paramiko)
    return run_ansible(
        "ansible-playbook",
        playbook,
        "-i",
        path,
        *args,
        env={"HOME": str(home), "ANSIBLE_SSH_EXECUTABLE": "/bin/false"},
    )


def test_backup_and_restore_plan_over_paramiko(labs, tmp_path):
    lab = labs.get(3, "3.5")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)

    # Without the lab's host keys, paramiko refuses the masters: the keys are checked.
    rc, data, _err = paramiko_run(lab, home, "playbooks/backup.yml", "--check")
    assert rc != 0
    assert all(data["stats"][name]["unreachable"] for name in lab.names), data["stats"]
    # ansible asks whether to accept an unknown host key; with no terminal to ask on, the
    # host is unreachable
    assert "stdin is not interactive" in json.dumps(data), json.dumps(data)[-3000:]

    shutil.copy(lab.known_hosts, home / ".ssh" / "known_hosts")
    lab.cli("seed", "--size", "1MiB", "--seed", "5")
    backups = tmp_path / "backups"
    rc, data, err = paramiko_run(
        lab,
        home,
        "playbooks/backup.yml",
        "-e",
        f"etcd_backup_controller_dir={backups}",
        "-e",
        "etcd_backup_trial_restore=false",
    )
    assert rc == 0, err
    (result,) = [
        r for r in task_results(data, "Save a verified etcd snapshot").values() if "metadata" in r
    ]
    saved = result["metadata"]["snapshot"]
    assert verify_trailer(backups / "kubernetes" / saved["file"])["sha256"] == saved["sha256"]

    rc, data, err = paramiko_run(
        lab,
        home,
        RESTORE,
        "-e",
        f"etcd_restore_backup_dir={backups}",
        "-e",
        "etcd_restore_snapshot=latest",
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    plan = task_results(data, "Plan the restore of every master")["docker8"]["plan"]
    assert [m["name"] for m in plan["members"]] == lab.names
    assert (plan["snapshot"]["size"], plan["snapshot"]["revision"]) == (
        saved["size"],
        saved["revision"],
    )
