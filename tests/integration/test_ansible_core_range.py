"""The oldest ansible-core meta/runtime.yml admits, on the lab: one backup and one
restore-ha, run by that ansible-core's ansible-playbook (the rest of the suite runs the
newest one pinned in requirements-dev.txt). `make test` installs it in .venv-oldest
(requirements-oldest.txt) and names its bin directory in KUBEDR_OLDEST_ANSIBLE_BIN."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import ROOT
from tests.support.lab_restore import RESTORE, assert_same_data, wipe_etcd_data

OLDEST_BIN = os.environ.get("KUBEDR_OLDEST_ANSIBLE_BIN", "")


def oldest_admitted():
    """The lowest version meta/runtime.yml admits, as (major, minor)."""
    spec = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert spec.startswith(">="), spec
    return tuple(int(part) for part in spec[2:].split(".")[:2])


@pytest.fixture
def oldest_bin(lab):
    # with the 3.5 lab's tests (the lab fixture), not a lab of its own in between others
    if lab.etcd_version != "3.5":
        pytest.skip("the ansible-core range does not depend on the etcd version; run on 3.5")
    if not OLDEST_BIN:
        pytest.skip("KUBEDR_OLDEST_ANSIBLE_BIN is not set (make test sets it)")
    out = subprocess.run(
        [str(Path(OLDEST_BIN) / "ansible-playbook"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    version = out.split("[core ", 1)[1].split("]", 1)[0]
    assert tuple(int(part) for part in version.split(".")[:2]) == oldest_admitted(), out
    return OLDEST_BIN


def test_backup_and_restore_on_the_oldest_ansible_core(lab, oldest_bin, tmp_path):
    lab.cli("seed", "--size", "1MiB", "--seed", "7")
    digest = lab.digest()
    backups, reports = tmp_path / "backups", tmp_path / "reports"
    rc, data, err = lab.ansible_playbook(
        "playbooks/backup.yml",
        "-e",
        f"etcd_backup_controller_dir={backups}",
        bin_dir=oldest_bin,
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    wipe_etcd_data(lab)
    rc, data, err = lab.ansible_playbook(
        RESTORE,
        "-e",
        f"etcd_restore_backup_dir={backups}",
        "-e",
        "etcd_restore_snapshot=latest",
        "-e",
        "etcd_restore_confirm=true",
        "-e",
        f"etcd_restore_report_dir={reports}",
        bin_dir=oldest_bin,
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    after = lab.digest()
    assert_same_data(after, digest)
    (report,) = reports.glob("restore-*.json")
    assert json.loads(report.read_text())["outcome"] == "restored"
