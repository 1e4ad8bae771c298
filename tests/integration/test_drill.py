"""playbooks/drill.yml against the lab: a backup filed on backup1 by backup.yml is restored
into a throwaway etcd there and found equal to its record; a damaged copy fails the drill
with its reason and metrics that say so. A master refused as drill host and the drill
host's own faults (no free port, a full scratch disk, a drill killed midway) share one
backup."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import textfile_name
from tests.integration.conftest import start_ansible, task_results
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


@pytest.mark.every_etcd
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


# --------------------------------------------------------------------------
# A master refused as drill host, and faults of the drill host itself: a scratch dir
# others may write to, a full scratch disk, a drill killed midway. One backup, filed once,
# serves the four (they only read it), on one etcd version (these are the role's and the
# drill host's, not etcd's). Each checks the stored backup is left as it was.
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_backup(labs, etcd_version, tmp_path_factory):
    """(lab, record): one backup filed on backup1 by backup.yml, for the tests below."""
    if etcd_version != "3.5":
        pytest.skip("run on one etcd version (3.5): nothing here depends on etcd's")
    lab = labs.get(3, etcd_version)
    for host in lab.hosts:
        for sub in ("kubedr-etcd", "node-exporter"):
            shutil.rmtree(lab.host_dir(host.name) / "var-backups" / sub, True)
    lab.cli("seed", "--size", "1MiB", "--seed", "7")
    rc, data, err = lab.ansible_playbook(
        "playbooks/backup.yml",
        "-e",
        f"etcd_backup_controller_dir={tmp_path_factory.mktemp('controller')}",
        "-e",
        "etcd_backup_remote_group=backup_hosts",
    )
    assert rc == 0, err
    return lab, task_results(data, "Save a verified etcd snapshot")["docker8"]["metadata"]


def stored_files(lab):
    """{name: bytes} of the stored backup on backup1, drill records aside."""
    stored = host_path(lab, "backup1", ON_BACKUP1)
    return {
        p.name: p.read_bytes()
        for p in stored.iterdir()
        if p.is_file() and not p.name.endswith(".drill.json")
    }


def assert_failed_drill(lab, data, reason, before):
    result = task_results(data, DRILL_TASK)["backup1"]
    assert reason in result["msg"], result["msg"]
    assert reason in task_results(data, "Fail when a drill failed")["backup1"]["msg"]
    (record,) = result["drills"]
    assert record["result"] == "fail" and reason in record["reason"]
    assert metrics(lab)["kubedr_etcd_drill_last_success"] == 0  # KubedrEtcdDrillFailing
    assert stored_files(lab) == before


def test_a_master_is_refused_as_drill_host(one_backup):
    lab, _record = one_backup
    rc, data, _err = drill(lab, "-e", "etcd_drill_hosts=docker8")
    assert rc != 0
    refused = task_results(data, "Refuse to drill on a master unless asked")["docker8"]
    assert "docker8 is a master" in refused["msg"]
    assert list(host_path(lab, "docker8", BACKUPS).rglob("*.drill.json")) == []


def test_a_scratch_dir_others_may_write_to_fails_the_drill(one_backup):
    lab, _record = one_backup
    before = stored_files(lab)
    scratch = "/var/tmp/kubedr-drill-open"
    lab.sh("backup1", f"mkdir -p {scratch} && chmod 0777 {scratch}")
    try:
        # the old port option too: ignored, with a deprecation warning
        rc, data, err = drill(
            lab, "-e", f"etcd_drill_scratch_dir={scratch}", "-e", "etcd_drill_port_range=1-2"
        )
        assert lab.sh("backup1", f"ls -A {scratch}").stdout == ""  # nothing made in it
    finally:
        lab.sh("backup1", f"rmdir {scratch}", check=False)
    assert rc != 0
    assert_failed_drill(
        lab,
        data,
        f"the scratch directory {scratch} is writable by other users (mode 0777) without the"
        f" sticky bit: chmod 0700 {scratch}",
        before,
    )
    assert "port_range" in json.dumps(data) + err


def test_full_scratch_disk_fails_the_drill(one_backup):
    lab, _record = one_backup
    before = stored_files(lab)
    scratch = "/var/tmp/kubedr-drill-full"
    with lab.tmpfs("backup1", scratch, "4m"):
        rc, data, _err = drill(lab, "-e", f"etcd_drill_scratch_dir={scratch}")
        assert lab.sh("backup1", f"ls -A {scratch}").stdout == ""  # its scratch dir went
    assert rc != 0
    assert_failed_drill(lab, data, f"not enough free space for the drill in {scratch}", before)


def test_killed_drill_is_cleaned_up_by_the_next_and_only_that(one_backup, tmp_path):
    lab, _record = one_backup
    before = stored_files(lab)
    parent = lab.host_dir("backup1") / "var-tmp" / "kubedr-drill"
    parent.mkdir(exist_ok=True)
    foreign = parent / ".kubedr-drill-not-a-drill"  # no marker: not a drill's to remove
    foreign.mkdir(exist_ok=True)
    # an etcdctl whose health check hangs: the drill is caught with its etcd running
    real = L.ETCD_BINARIES[lab.etcd_version]["dir"] / "etcdctl"
    slow = lab.host_dir("backup1") / "var-tmp" / "slow-etcdctl"
    slow.write_text(
        f'#!/bin/sh\ncase "$*" in *"endpoint health"*) sleep 30;; esac\nexec {real} "$@"\n'
    )
    slow.chmod(0o755)
    last_drill = metrics(lab).get("kubedr_etcd_drill_last_timestamp_seconds")
    etcd = L.ETCD_BINARIES[lab.etcd_version]["dir"] / "etcd"
    with (tmp_path / "killed.log").open("wb") as log:
        proc = start_ansible(
            "ansible-playbook", "playbooks/drill.yml", "-i", lab.inventory,
            "-e", f"etcd_drill_etcd_path={etcd}", "-e", f"etcd_drill_metrics_dir={METRICS_DIR}",
            "-e", "etcd_drill_etcdctl_path=/var/tmp/slow-etcdctl", log=log,
        )  # fmt: skip
        try:
            left, marker = L.wait_for(
                "the drill's etcd to start", lambda: found(running_drill(parent)), 120
            )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # The drill on backup1 outlives the playbook (ssh's ControlPersist master keeps its
    # session; it would finish and clean up by itself): kill it too, as a reboot or the
    # OOM killer would, so that it leaves its scratch directory and its etcd behind.
    lab.sh("backup1", f"kill -9 {marker['pid']} 2>/dev/null; true")
    lab.wait("the killed drill to end", lambda: not in_backup1(lab, marker["pid"]), 30)
    assert in_backup1(lab, marker["etcd_pid"]), "its etcd runs on, in a session of its own"
    # no record, no metric from the killed drill: KubedrEtcdDrillTooOld is what catches it
    assert metrics(lab).get("kubedr_etcd_drill_last_timestamp_seconds") == last_drill

    rc, data, err = drill(lab)
    assert rc == 0, (err, data)
    (record,) = task_results(data, DRILL_TASK)["backup1"]["drills"]
    assert record["result"] == "pass", record
    assert record["cleaned"] == [f"/var/tmp/kubedr-drill/{left.name}"]
    assert not in_backup1(lab, marker["etcd_pid"])
    assert sorted(p.name for p in parent.iterdir()) == [foreign.name]
    assert stored_files(lab) == before
    foreign.rmdir()
    slow.unlink()


def found(value):
    return value is not None, value


def running_drill(parent):
    """(scratch dir, marker) of a drill whose etcd was started, else None."""
    for marker in parent.glob(".kubedr-drill-*/kubedr-drill.json"):
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if data.get("etcd_pid"):
            return marker.parent, data
    return None


def in_backup1(lab, pid):
    """Whether ``pid`` (as backup1 numbers it) runs there, not a zombie."""
    proc = lab.sh("backup1", f"grep -q '^State:.*[^Z] (' /proc/{pid}/status", check=False)
    return proc.returncode == 0


@pytest.mark.parametrize("pattern", [None, "backup_hosts_typo"])
def test_a_drill_with_no_host_to_run_on_is_refused(lab, tmp_path, pattern):
    """An inventory without backup_hosts (or a drill-hosts pattern that matches nothing)
    used to end "skipping: no hosts matched", exit 0: a green drill that proved nothing."""
    inventory = lab.inventory_copy(
        tmp_path / "hosts.yml",
        lambda doc: doc["all"]["children"].pop("backup_hosts") if pattern is None else None,
    )
    extra = [] if pattern is None else ["-e", f"etcd_drill_hosts={pattern}"]
    rc, data, _err = lab.ansible_playbook("playbooks/drill.yml", *extra, inventory=inventory)
    assert rc != 0
    refused = task_results(data, "Refuse a drill that has no host to run on")["localhost"]
    assert f"matches etcd_drill_hosts ({pattern or 'backup_hosts'})" in refused["msg"]
    assert "-e etcd_drill_hosts=" in refused["msg"]
