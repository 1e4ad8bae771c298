"""Masters reached as an ordinary user with sudo, as many are, and as an AWX job template
with a machine credential and privilege escalation runs it: ``ansible_user`` is the lab's
user (tests/lab: LAB_USER, passwordless sudo) and every run has ``--become``.

``--become`` asks every task to become root, those delegated to the controller too; those
must not (an execution environment has no sudo, a laptop asks for a password). Here sudo
on the controller is /bin/false (ANSIBLE_BECOME_EXE, with become applied even from root to
root), the masters' is the real one (a group variable), so a controller task that tries to
become root fails the run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import run_ansible, task_results
from tests.lab import lab as L

RESTORE = "playbooks/restore-ha.yml"


def become_run(lab, inventory, playbook, *args):
    return run_ansible(
        "ansible-playbook",
        playbook,
        "-i",
        inventory,
        "--become",
        *args,
        # the controller runs these tests as root: without ALLOW_SAME_USER, ansible would
        # skip a become from root to root there, and a task that asks for it would pass
        env={"ANSIBLE_BECOME_EXE": "/bin/false", "ANSIBLE_BECOME_ALLOW_SAME_USER": "True"},
    )


def user_inventory(lab, path):
    """The lab's inventory, its hosts reached as LAB_USER; sudo is real on them only."""

    def as_lab_user(inventory):
        inventory["all"]["vars"]["ansible_user"] = L.LAB_USER
        for group in inventory["all"]["children"].values():
            group["vars"] = {"ansible_become_exe": "sudo"}

    return lab.inventory_copy(path, as_lab_user)


def test_backup_and_restore_as_a_user_with_sudo(labs, tmp_path):
    lab = labs.get(3, "3.5")
    inventory = user_inventory(lab, tmp_path / "inventory.yml")
    home = Path(L.LAB_USER_HOME).name
    for host in lab.names:  # nothing of an earlier run as that user
        lab.sh(host, f"rm -rf /tmp/{home}/.ansible")

    lab.cli("seed", "--size", "1MiB", "--seed", "5")
    digest = lab.digest()
    backups = tmp_path / "backups"
    rc, data, err = become_run(
        lab,
        inventory,
        "playbooks/backup.yml",
        "-e",
        f"etcd_backup_controller_dir={backups}",
        "-e",
        "etcd_backup_trial_restore=false",
    )
    assert rc == 0, f"{err}\n{str(data)[-3000:]}"
    (saved,) = [
        r["metadata"]["snapshot"]
        for r in task_results(data, "Save a verified etcd snapshot").values()
        if "metadata" in r
    ]
    assert (backups / "kubernetes" / saved["file"]).stat().st_size == saved["size"]

    lab.cli("seed", "--size", "1MiB", "--seed", "6")  # the data moves on after the backup
    assert lab.digest()["sha256"] != digest["sha256"]
    rc, data, err = become_run(
        lab,
        inventory,
        RESTORE,
        "-e",
        f"etcd_restore_backup_dir={backups}",
        "-e",
        "etcd_restore_snapshot=latest",
        "-e",
        "etcd_restore_confirm=true",
        "-e",
        f"etcd_restore_report_dir={tmp_path / 'reports'}",
    )
    assert rc == 0, f"{err}\n{str(data)[-3000:]}"
    after = lab.digest()
    for key in ("keys", "registry_keys", "sha256"):
        assert after[key] == digest[key], key
    # the runs logged in as that user: its own Ansible directory on every master
    for host in lab.names:
        owner = lab.sh(host, f"stat -c %U /tmp/{home}/.ansible").stdout.strip()
        assert owner == L.LAB_USER, host


def test_a_become_copy_with_no_room_in_the_users_tmp_is_refused(labs, tmp_path):
    """With become, a backup's files are copied into the connection user's remote_tmp on
    the master before the transfer: with no room there for the snapshot, the fetch says so
    (host, directory, sizes) and nothing is filed on the controller."""
    lab = labs.get(3, "3.5")
    inventory = user_inventory(lab, tmp_path / "inventory.yml")
    home = Path(L.LAB_USER_HOME).name
    remote_tmp = f"/tmp/{home}/.ansible/tmp"
    lab.cli("seed", "--size", "1MiB", "--seed", "7")
    for host in lab.names:  # room for Ansible's own modules, not for the snapshot + 16 MiB
        lab.sh(
            host,
            f"mkdir -p {remote_tmp} && mount -t tmpfs -o size=8m,mode=0700,"
            f"uid=$(id -u {L.LAB_USER}) tmpfs {remote_tmp}",
        )
    backups = tmp_path / "backups"
    try:
        rc, data, err = become_run(
            lab,
            inventory,
            "playbooks/backup.yml",
            "-e",
            f"etcd_backup_controller_dir={backups}",
            "-e",
            "etcd_backup_trial_restore=false",
        )
    finally:
        for host in lab.names:
            lab.sh(host, f"umount {remote_tmp}", check=False)
    assert rc != 0
    text = json.dumps(data)
    assert f"not enough free space in {remote_tmp}/" in text, f"{err}\n{text[-3000:]}"
    assert "there for the transfer with become" in text and "ansible_remote_tmp" in text
    filed = list((backups / "kubernetes").glob("*.db")) if backups.exists() else []
    assert filed == []
