"""Restores on the lab, shared by the restore tests: a seeded cluster's backup, the
members, the disaster, and what a refused run must leave as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.conftest import task_results

RESTORE = "playbooks/restore-ha.yml"
BACKUP_HOST = "backup1"
BACKUP_HOST_DIR = "/var/backups/kubedr-etcd"  # etcd_backup_remote_dir's default
ROLLBACK = "playbooks/restore-rollback.yml"
STATE_DIR = "/var/lib/kubedr-etcd/restore"


class Backup:
    """A seeded cluster's digest and a verified backup of it on the controller."""

    def __init__(self, lab, tmp_path, *backup_args):
        lab.cli("seed", "--size", "1MiB", "--seed", "5")
        self.digest = lab.digest()
        self.dir = tmp_path / "backups"
        rc, data, err = lab.ansible_playbook(
            "playbooks/backup.yml",
            "-e",
            f"etcd_backup_controller_dir={self.dir}",
            "-e",
            "etcd_backup_trial_restore=false",
            *backup_args,
        )
        assert rc == 0, err
        self.snapshot = Path(
            task_results(data, "Save a verified etcd snapshot")["docker8"]["snapshot"]
        )
        self.controller_copy = self.dir / "kubernetes" / self.snapshot.name

    def args(self, *extra, confirm=True):
        args = ["-e", f"etcd_restore_backup_dir={self.dir}", "-e", "etcd_restore_snapshot=latest"]
        if confirm:
            args += ["-e", "etcd_restore_confirm=true"]
        return [*args, *extra]


def member_ids(lab):
    out = lab.cli("etcdctl", "member", "list", "-w", "json").stdout
    return sorted(m["ID"] for m in json.loads(out)["members"])


def wipe_etcd_data(lab):
    """The disaster: every master's etcd data destroyed. The kubelet restarts etcd, which
    then fails, or (the first master's manifest lists only itself) starts empty."""
    for m in lab.masters:
        lab.sh(m.name, "rm -rf /var/lib/etcd/member")

    def data_gone():
        try:
            proc = lab.cli("digest", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            return True
        return proc.returncode != 0 or json.loads(proc.stdout)["registry_keys"] == 0

    lab.wait("the data to be gone", data_gone, 90)


def state(lab):
    """What a refused or plan-only run must leave as it was: the members, and what lies
    in each master's /etc/kubernetes, /var/lib/etcd and /var/tmp."""
    listing = {
        m.name: lab.sh(m.name, "ls -A /etc/kubernetes /var/lib/etcd /var/tmp").stdout
        for m in lab.masters
    }
    return member_ids(lab), listing


def backup_host_store(lab, host=BACKUP_HOST):
    """The backup host's backup directory (BACKUP_HOST_DIR), seen from the lab's side."""
    return lab.host_dir(host) / "var-backups" / Path(BACKUP_HOST_DIR).relative_to("/var/backups")


def assert_same_data(after, before):
    """Every key and value back: the lab digests agree on the keys, the /registry/ keys,
    the bytes and the sha256 over every key and value."""
    for key in ("keys", "registry_keys", "bytes", "sha256"):
        assert after[key] == before[key], (key, after, before)
