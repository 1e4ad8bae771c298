"""The etcd_backup_schedule role's templates, rendered by a real ansible-playbook on
localhost: the Kubernetes CronJob manifest (tasks_from: cronjob) and the script's
configuration file."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "etcd_backup_schedule"
BIN = Path(sys.executable).parent

CRONJOB_PLAY = """
- name: Render the CronJob manifest only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Include the role's cronjob tasks
      ansible.builtin.include_role:
        name: kubedr.etcd.etcd_backup_schedule
        tasks_from: cronjob
"""


def ansible_playbook(tmp_path, play, extra_vars, *args):
    playbook = tmp_path / "play.yml"
    playbook.write_text(play)
    extra = tmp_path / "extra-vars.json"
    extra.write_text(json.dumps(extra_vars))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="default",
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    proc = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-c",
            "local",
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{extra}",
            str(playbook),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    match = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    assert match, proc.stdout
    return int(match.group(1))


def render_cronjob(tmp_path, **extra_vars):
    dest = tmp_path / "kubedr-etcd-backup-cronjob.yaml"
    ansible_playbook(
        tmp_path, CRONJOB_PLAY, {"etcd_backup_schedule_cronjob_dest": str(dest), **extra_vars}
    )
    return dest, yaml.safe_load(dest.read_text())


def pod_spec(cronjob):
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def mounts_by_path(spec):
    (container,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    return {
        m["mountPath"]: {**m, "hostPath": volumes[m["name"]]["hostPath"]}
        for m in container["volumeMounts"]
    }


def test_cronjob_shape_with_the_defaults(tmp_path):
    dest, cronjob = render_cronjob(tmp_path)
    assert dest.stat().st_mode & 0o777 == 0o644
    assert cronjob["apiVersion"] == "batch/v1"
    assert cronjob["kind"] == "CronJob"
    assert cronjob["metadata"]["namespace"] == "kube-system"
    assert cronjob["metadata"]["name"] == "kubedr-etcd-backup"
    assert cronjob["spec"]["schedule"] == "0 */6 * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] == 600 * 2 + 600

    spec = pod_spec(cronjob)
    assert spec["hostNetwork"] is True
    assert spec["restartPolicy"] == "Never"
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    tolerations = {(t["key"], t["effect"], t["operator"]) for t in spec["tolerations"]}
    assert ("node-role.kubernetes.io/control-plane", "NoSchedule", "Exists") in tolerations
    assert ("node-role.kubernetes.io/master", "NoSchedule", "Exists") in tolerations

    (container,) = spec["containers"]
    assert container["image"] == "docker.io/library/python:3.12-slim"
    assert container["command"] == [
        "python3",
        "/usr/local/sbin/kubedr-etcd-backup",
        "--config",
        "/etc/kubedr-etcd/backup.json",
        "--tools-dir",
        "/opt/kubedr-etcd/bin",
    ]
    assert container["securityContext"]["runAsUser"] == 0

    mounts = mounts_by_path(spec)
    # pki read-only (and the whole /etc/kubernetes the script reads and archives)
    assert mounts["/etc/kubernetes/pki"]["readOnly"] is True
    assert mounts["/etc/kubernetes/pki"]["hostPath"]["path"] == "/etc/kubernetes/pki"
    assert mounts["/etc/kubernetes"]["readOnly"] is True
    # the backup directory is a writable hostPath
    backups = mounts["/var/backups/kubedr-etcd"]
    assert backups["hostPath"] == {"path": "/var/backups/kubedr-etcd", "type": "DirectoryOrCreate"}
    assert not backups.get("readOnly")
    # the script, its config, the kubedr.etcd code and the etcd tools, read-only from the host
    assert mounts["/usr/local/sbin/kubedr-etcd-backup"]["hostPath"]["type"] == "File"
    assert mounts["/etc/kubedr-etcd"]["hostPath"]["path"] == "/etc/kubedr-etcd"
    assert mounts["/usr/local/lib/kubedr-etcd"]["hostPath"]["path"] == "/usr/local/lib/kubedr-etcd"
    assert mounts["/opt/kubedr-etcd/bin"]["hostPath"]["path"] == "/usr/local/bin"
    for path, mount in mounts.items():
        if path != "/var/backups/kubedr-etcd":
            assert mount["readOnly"] is True, path


def test_cronjob_follows_the_variables(tmp_path):
    _unused, cronjob = render_cronjob(
        tmp_path,
        etcd_backup_schedule_cron="15 2 * * *",
        etcd_backup_schedule_cronjob_image="registry.example.com/python:3.11",
        etcd_backup_schedule_cronjob_tools_dir="/opt/etcd/bin",
        etcd_backup_schedule_dest_dir="/srv/etcd-backups",
        etcd_backup_schedule_save_timeout=100,
    )
    assert cronjob["spec"]["schedule"] == "15 2 * * *"  # defaults to the cron entry's
    spec = pod_spec(cronjob)
    assert spec["containers"][0]["image"] == "registry.example.com/python:3.11"
    assert cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 800
    mounts = mounts_by_path(spec)
    assert mounts["/srv/etcd-backups"]["hostPath"]["path"] == "/srv/etcd-backups"
    assert mounts["/opt/kubedr-etcd/bin"]["hostPath"]["path"] == "/opt/etcd/bin"

    _unused, cronjob = render_cronjob(tmp_path, etcd_backup_schedule_cronjob_schedule="@hourly")
    assert cronjob["spec"]["schedule"] == "@hourly"


def test_cronjob_rendering_is_idempotent_and_absent_removes_it(tmp_path):
    dest = tmp_path / "cronjob.yaml"
    play_vars = {"etcd_backup_schedule_cronjob_dest": str(dest)}
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, play_vars, "--check") == 1
    assert not dest.exists()
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, play_vars) == 1
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, play_vars) == 0
    absent = {**play_vars, "etcd_backup_schedule_state": "absent"}
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, absent, "--check") == 1
    assert dest.exists()
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, absent) == 1
    assert not dest.exists()
    assert ansible_playbook(tmp_path, CRONJOB_PLAY, absent) == 0


# --------------------------------------------------------------------------
# The configuration file the role writes is one the script accepts
# --------------------------------------------------------------------------

CONFIG_PLAY = f"""
- name: Render the backup configuration with the role's defaults
  hosts: localhost
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: Render backup.json
      ansible.builtin.template:
        src: {ROLE}/templates/backup.json.j2
        dest: "{{{{ config_dest }}}}"
        mode: "0600"
"""


def load_script():
    path = ROLE / "files" / "kubedr-etcd-backup"
    loader = importlib.machinery.SourceFileLoader("kubedr_etcd_backup_script", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {},
            {
                "dest_dir": "/var/backups/kubedr-etcd",
                "keep_last": 28,
                "keep_days": None,
                "endpoints": None,
                "etcdctl_path": None,
                "trial_restore": True,
                "save_timeout": 600,
                "install_root": "/usr/local/lib/kubedr-etcd",
            },
        ),
        (
            {
                "etcd_backup_schedule_keep_days": 14,
                "etcd_backup_schedule_endpoints": ["https://10.0.0.1:2379"],
                "etcd_backup_schedule_etcdctl_path": "/opt/etcd/etcdctl",
                "etcd_backup_schedule_trial_restore": False,
            },
            {
                "keep_days": 14,
                "endpoints": ["https://10.0.0.1:2379"],
                "etcdctl_path": "/opt/etcd/etcdctl",
                "trial_restore": False,
            },
        ),
    ],
    ids=["defaults", "set"],
)
def test_rendered_config_is_accepted_by_the_script(tmp_path, extra_vars, expected):
    dest = tmp_path / "backup.json"
    ansible_playbook(tmp_path, CONFIG_PLAY, {"config_dest": str(dest), **extra_vars})
    assert dest.stat().st_mode & 0o777 == 0o600
    config = load_script().load_config(str(dest))
    for key, value in expected.items():
        assert config[key] == value, key
    raw = json.loads(dest.read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert raw["collection_version"] == galaxy["version"]
