"""restore-ha taking its snapshot from a backup host, as an AWX job must (its controller
keeps nothing between jobs): refusals before anything changes, then a restore with every
key back and the report kept on the backup host."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.files import flip_byte
from tests.support.lab_restore import (
    BACKUP_HOST,
    BACKUP_HOST_DIR,
    RESTORE,
    Backup,
    assert_same_data,
    backup_host_store,
    state,
    wipe_etcd_data,
)


@pytest.fixture
def on_35_only(lab):
    if lab.etcd_version != "3.5":
        pytest.skip("where the snapshot comes from does not depend on the etcd version")
    return lab


@pytest.fixture
def backup_on_host_only(on_35_only, tmp_path):
    """A backup sent to the backup host, and nothing of it left on the controller."""
    lab = on_35_only
    shutil.rmtree(backup_host_store(lab), True)
    backup = Backup(lab, tmp_path, "-e", "etcd_backup_remote_group=backup_hosts")
    shutil.rmtree(backup.dir)  # the job container that took it is gone
    yield lab, backup
    shutil.rmtree(backup_host_store(lab), True)


def from_host(backup, *extra, host=BACKUP_HOST):
    return backup.args("-e", f"etcd_restore_backup_host={host}", *extra)


def scratch_files(backup):
    """Files left in the controller's directory for copies from the backup host."""
    return sorted(str(p) for p in (backup.dir / ".from-backup-host").rglob("*") if p.is_file())


def refused(lab, args, inventory=None):
    rc, data, _err = lab.ansible_playbook(RESTORE, *args, inventory=inventory)
    assert rc != 0
    return json.dumps(data)


def test_refusals_change_nothing(backup_on_host_only, tmp_path):
    lab, backup = backup_on_host_only
    (name,) = [
        p.name[: -len(".json")] for p in (backup_host_store(lab) / "kubernetes").glob("*.json")
    ]
    before = state(lab)

    out = refused(lab, from_host(backup, "-e", "etcd_restore_snapshot=etcd-snapshot-x.db"))
    assert (
        f"{BACKUP_HOST}: no complete backup etcd-snapshot-x.db in {BACKUP_HOST_DIR}/kubernetes"
        f" (complete there, newest first: {name})"
    ) in out, out[-2000:]

    out = refused(lab, from_host(backup, host="nohost"))
    assert "etcd_restore_backup_host=nohost is no host of the inventory" in out, out[-2000:]
    out = refused(lab, from_host(backup, host="docker9"))
    assert "etcd_restore_backup_host=docker9 is a master" in out, out[-2000:]
    out = refused(lab, from_host(backup, "-e", f"etcd_restore_snapshot={backup.snapshot}"))
    assert f"etcd_restore_snapshot={backup.snapshot} is a path, but with" in out, out[-2000:]

    def moved_away(doc):
        doc["all"]["children"]["backup_hosts"]["hosts"][BACKUP_HOST]["ansible_host"] = "10.77.0.250"

    inventory = lab.inventory_copy(tmp_path / "hosts.yml", moved_away)
    out = refused(lab, from_host(backup), inventory=inventory)
    assert f"The backup host {BACKUP_HOST} cannot be reached" in out, out[-2000:]

    stored = backup_host_store(lab) / "kubernetes" / name
    flip_byte(stored, stored.stat().st_size // 2)
    try:
        out = refused(lab, from_host(backup))
    finally:
        flip_byte(stored, stored.stat().st_size // 2)
    assert f"{BACKUP_HOST}:{BACKUP_HOST_DIR}/kubernetes/{name} does not match its record" in out, (
        out[-2000:]
    )
    assert f"the backup on {BACKUP_HOST} is damaged or cut short" in out

    assert state(lab) == before
    assert scratch_files(backup) == []


def test_restore_from_the_backup_host(backup_on_host_only, tmp_path):
    lab, backup = backup_on_host_only
    wipe_etcd_data(lab)
    reports = tmp_path / "reports"
    rc, data, err = lab.ansible_playbook(
        RESTORE, *from_host(backup, "-e", f"etcd_restore_report_dir={reports}")
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    after = lab.digest()
    assert_same_data(after, backup.digest)
    (report_file,) = reports.glob("restore-*.json")
    report = json.loads(report_file.read_text())
    assert (
        report["snapshot"]["name"]
        == f"{BACKUP_HOST}:{BACKUP_HOST_DIR}/kubernetes/{backup.snapshot.name}"
    )
    # the report and its page are kept beside the backups on the backup host too
    kept = backup_host_store(lab) / "kubernetes" / "restore-reports"
    assert sorted(p.name for p in kept.iterdir()) == [
        report_file.with_suffix(".html").name,
        report_file.name,
    ]
    assert json.loads((kept / report_file.name).read_text()) == report
    # the copy made on the controller for the run is gone
    assert scratch_files(backup) == []
