"""playbooks/drill.yml against the lab: a backup filed on backup1 by backup.yml is restored
into a throwaway etcd there and found equal to its record; a damaged copy fails the drill
with its reason and metrics that say so; a master is refused as drill host."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import textfile_name
from tests.integration.conftest import task_results
from tests.lab import lab as L
from tests.support.metrics import samples

BACKUPS = "/var/backups/kubedr-etcd"
ON_BACKUP1 = f"{BACKUPS}/kubernetes"
METRICS_DIR = "/var/backups/node-exporter"  # per lab host
DRILL_TASK = "Drill the backups"


def host_path(lab, host, path):
    return lab.host_dir(host) / "var-backups" / path.removeprefix("/var/backups/")


@pytest.fixture
def backed_up(lab, tmp_path):
    """One backup filed on backup1 (and nothing else there); removed afterwards."""

    def wipe():
        for host in lab.hosts:
            for sub in ("kubedr-etcd", "node-exporter"):
                shutil.rmtree(lab.host_dir(host.name) / "var-backups" / sub, True)

    wipe()
    lab.cli("seed", "--size", "1MiB", "--seed", "7")
    rc, data, err = lab.ansible_playbook(
        "playbooks/backup.yml",
        "-e",
        f"etcd_backup_controller_dir={tmp_path}",
        "-e",
        "etcd_backup_remote_group=backup_hosts",
    )
    assert rc == 0, err
    meta = task_results(data, "Save a verified etcd snapshot")["docker8"]["metadata"]
    yield meta
    wipe()


def drill(lab, *extra):
    etcd = L.ETCD_BINARIES[lab.etcd_version]["dir"] / "etcd"
    return lab.ansible_playbook(
        "playbooks/drill.yml",
        "-e",
        f"etcd_drill_etcd_path={etcd}",
        "-e",
        f"etcd_drill_metrics_dir={METRICS_DIR}",
        *extra,
    )


def metrics(lab):
    prom = host_path(lab, "backup1", METRICS_DIR) / textfile_name(ON_BACKUP1)
    text = prom.read_text()
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0 and not checked.stdout + checked.stderr, checked
    return samples(text)


def test_drill_passes_then_a_damaged_copy_fails(lab, backed_up):
    name = backed_up["snapshot"]["file"]
    stored = host_path(lab, "backup1", ON_BACKUP1)
    before = sorted(p.name for p in stored.iterdir())

    rc, data, err = drill(lab)
    assert rc == 0, (err, data)
    result = task_results(data, DRILL_TASK)["backup1"]
    (record,) = result["drills"]
    assert record["result"] == "pass", record
    assert record["backup"] == name
    assert record["found"] == record["recorded"] == backed_up["fingerprint"]
    assert record["drill_host"] == "backup1"
    assert json.loads((stored / f"{name}.drill.json").read_text()) == record
    assert sorted(p.name for p in stored.iterdir()) == sorted([*before, f"{name}.drill.json"])
    # nothing of the drill is left on backup1 but its record
    assert list((lab.host_dir("backup1") / "var-tmp" / "kubedr-drill").iterdir()) == []
    values = metrics(lab)
    assert values["kubedr_etcd_drill_last_success"] == 1
    assert values["kubedr_etcd_drill_last_timestamp_seconds"] == record["finished_epoch"]
    assert values["kubedr_etcd_backup_last_revision"] == backed_up["snapshot"]["revision"]

    # a flipped byte in the stored copy: a failed drill, its reason, metrics that say so
    snapshot = stored / name
    data_bytes = bytearray(snapshot.read_bytes())
    data_bytes[len(data_bytes) // 3] ^= 0x40
    snapshot.write_bytes(bytes(data_bytes))
    rc, data, _err = drill(lab)
    assert rc != 0
    result = task_results(data, DRILL_TASK)["backup1"]
    assert "the stored copy is damaged" in result["msg"], result["msg"]
    failed = task_results(data, "Fail when a drill failed")["backup1"]
    assert "the stored copy is damaged" in failed["msg"]
    assert metrics(lab)["kubedr_etcd_drill_last_success"] == 0
    assert snapshot.read_bytes() == bytes(data_bytes)  # left as it was
    assert list((lab.host_dir("backup1") / "var-tmp" / "kubedr-drill").iterdir()) == []


def test_a_master_is_refused_as_drill_host(lab, backed_up):
    rc, data, _err = drill(lab, "-e", "etcd_drill_hosts=docker8")
    assert rc != 0
    refused = task_results(data, "Refuse to drill on a master unless asked")["docker8"]
    assert "docker8 is a master" in refused["msg"]
    assert list(host_path(lab, "docker8", BACKUPS).rglob("*.drill.json")) == []


def test_other_fingerprint_and_missing_etcd_fail_the_drill(lab, backed_up):
    name = backed_up["snapshot"]["file"]
    stored = host_path(lab, "backup1", ON_BACKUP1)

    rc, data, _err = drill(lab, "-e", "etcd_drill_etcd_path=/nonexistent/etcd")
    assert rc != 0
    msg = task_results(data, DRILL_TASK)["backup1"]["msg"]
    assert "etcd /nonexistent/etcd does not exist or is not executable" in msg, msg
    assert metrics(lab)["kubedr_etcd_drill_last_success"] == 0

    record_path = stored / f"{name}.json"
    record = json.loads(record_path.read_text())
    record["fingerprint"]["keys"]["pods"] += 1
    record_path.write_text(json.dumps(record))
    before = {p.name: p.read_bytes() for p in stored.iterdir() if p.is_file()}
    rc, data, _err = drill(lab)
    assert rc != 0
    msg = task_results(data, DRILL_TASK)["backup1"]["msg"]
    assert "the restored copy differs from what was recorded at backup time" in msg, msg
    assert "pods:" in msg
    assert metrics(lab)["kubedr_etcd_drill_last_success"] == 0
    after = {p.name: p.read_bytes() for p in stored.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if not k.endswith(".drill.json")} == {
        k: v for k, v in before.items() if not k.endswith(".drill.json")
    }
