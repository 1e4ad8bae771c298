"""playbooks/backup-schedule.yml on the lab masters: the backup script, its config and a
cron entry (the lab masters run no systemd) are installed with the right modes,
idempotently and not in check mode; a run of the script by hand over SSH makes a
verified backup; state=absent removes what was installed and keeps the backups."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import textfile_name
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import verify_trailer
from tests.integration.conftest import run_ansible
from tests.lab import lab as L
from tests.support.metrics import samples

PLAYBOOK = "playbooks/backup-schedule.yml"
SCRIPT = "/usr/local/sbin/kubedr-etcd-backup"
CONFIG = "/etc/kubedr-etcd/backup.json"
CRON = "/etc/cron.d/kubedr-etcd-backup"
INSTALL_ROOT = "/usr/local/lib/kubedr-etcd"
MODULE_UTILS = f"{INSTALL_ROOT}/ansible_collections/kubedr/etcd/plugins/module_utils"
# Its own directory, so backups other tests leave in /var/backups/kubedr-etcd do not count.
DEST = "/var/backups/kubedr-etcd-schedule-test"
VARS = ["-e", f"etcd_backup_schedule_dest_dir={DEST}"]
INSTALLED = {
    SCRIPT: "755",
    "/etc/kubedr-etcd": "700",
    CONFIG: "600",
    CRON: "644",
    MODULE_UTILS: "755",
    f"{MODULE_UTILS}/_backup.py": "644",
    f"{MODULE_UTILS}/_etcdctl.py": "644",
    f"{MODULE_UTILS}/_retention.py": "644",
}
REMOVED_BY_ABSENT = [SCRIPT, CONFIG, CRON, INSTALL_ROOT]
SHIPPED = sorted(p.name for p in (L.ROOT / "plugins" / "module_utils").glob("_*.py"))


def playbook(lab, *args, hosts=None):
    """{host: tasks changed} of the masters (or ``hosts``); the drill play runs on backup1."""
    rc, data, err = lab.ansible_playbook(PLAYBOOK, *VARS, *args)
    assert rc == 0, f"{err}\n{json.dumps(data)[-4000:]}"
    stats = data["stats"]
    assert sorted(stats) == sorted([*lab.names, "backup1"])
    for host, summary in stats.items():
        assert summary["failures"] == 0 and summary["unreachable"] == 0, (host, summary)
    return {host: stats[host]["changed"] for host in hosts or lab.names}


def modes(lab, host, paths):
    """{path: octal mode} of the paths that exist on a master."""
    script = " ".join(f"[ -e {p} ] && stat -c '%a %n' {p};" for p in paths)
    out = lab.sh(host, script + " true").stdout
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out.splitlines()}


def backup_files(lab, host):
    out = lab.sh(host, f"ls -1 {DEST} 2>/dev/null || true").stdout
    return sorted(out.split())


def test_schedule_install_run_and_remove(lab):
    if lab.etcd_version == "3.4":
        # What this checks (files, modes, cron, idempotence) does not depend on the etcd
        # version; the script itself runs against etcd 3.4 and 3.5 in tests/unit/roles.
        pytest.skip("the schedule role is exercised once, on the etcd 3.5 lab")
    # Start clean (an earlier run may have left the schedule installed).
    if any(modes(lab, m.name, REMOVED_BY_ABSENT) for m in lab.masters):
        playbook(lab, "-e", "etcd_backup_schedule_state=absent")
    before = {m.name: backup_files(lab, m.name) for m in lab.masters}

    # Check mode on clean masters: it would change things, and changes nothing.
    changed = playbook(lab, "--check")
    assert all(count > 0 for count in changed.values()), changed
    for m in lab.masters:
        assert modes(lab, m.name, REMOVED_BY_ABSENT) == {}, m.name

    # A module_utils file an older release installed (listed in the install's own list of
    # files) and one it never installed (not listed): the first goes, the second stays.
    stale = f"{MODULE_UTILS}/_no_longer_shipped.py"
    foreign = f"{MODULE_UTILS}/_put_here_by_hand.py"
    lab.sh(
        lab.masters[0].name,
        f"mkdir -p {MODULE_UTILS} && echo 'OLD = 1' > {stale} && echo 'MINE = 1' > {foreign}"
        f" && echo _no_longer_shipped.py > {MODULE_UTILS}/.kubedr-etcd-installed",
    )

    # Apply: the files are on every master with their modes; the cron path was taken.
    changed = playbook(lab)
    assert all(count > 0 for count in changed.values()), changed
    for m in lab.masters:
        assert modes(lab, m.name, INSTALLED) == INSTALLED, m.name
        assert modes(lab, m.name, ["/etc/systemd/system/kubedr-etcd-backup.timer"]) == {}
        cron = lab.sh(m.name, f"cat {CRON}").stdout
        assert f"0 */6 * * * root {SCRIPT} --config {CONFIG} >>" in cron
        assert cron.endswith("\n")
        config = json.loads(lab.sh(m.name, f"cat {CONFIG}").stdout)
        assert config["dest_dir"] == DEST
        assert config["install_root"] == INSTALL_ROOT
        shipped = lab.sh(m.name, f"ls {MODULE_UTILS}").stdout.split()
        # every file the collection ships; the stale one went, the one put by hand stays
        extra = ["_put_here_by_hand.py"] if m.name == lab.masters[0].name else []
        assert sorted(shipped) == sorted(SHIPPED + extra)

    # Idempotent, and check mode after it agrees.
    assert playbook(lab) == dict.fromkeys(lab.names, 0)
    assert playbook(lab, "--check") == dict.fromkeys(lab.names, 0)

    # Run the script by hand over SSH on one master, as cron would.
    host = lab.masters[1]
    rc, data, err = run_ansible(
        "ansible",
        host.name,
        "-i",
        lab.inventory,
        "-m",
        "ansible.builtin.command",
        "-a",
        SCRIPT,
    )
    result = data["plays"][0]["tasks"][0]["hosts"][host.name]
    assert rc == 0 and result["rc"] == 0, f"{err}\n{result}"
    assert result["stderr"] == ""
    for step in ("locked ", f"member {host.name} ", "archived ", "saved ", "retention ", "done: "):
        assert f"kubedr-etcd-backup: {step}" in result["stdout"], result["stdout"]

    new = sorted(set(backup_files(lab, host.name)) - set(before[host.name]))
    snapshots = [f for f in new if f.endswith(".db")]
    archives = [f for f in new if f.endswith(".tar.gz")]
    assert len(snapshots) == 1 and len(archives) == 1, new
    snapshot = snapshots[0]
    assert new == sorted([snapshot, snapshot + ".json", archives[0]])
    assert archives[0].startswith(f"kubernetes-{host.name}-")

    # The files are in the master's own /var/backups (a per-master directory of the lab).
    local = lab.host_dir(host.name) / "var-backups" / DEST.rsplit("/", 1)[1]
    verified = verify_trailer(local / snapshot)
    metadata = json.loads((local / (snapshot + ".json")).read_text())
    assert metadata["snapshot"]["sha256"] == verified["sha256"]
    assert metadata["snapshot"]["total_key"] > 0
    assert metadata["trial_restore"] is True
    assert metadata["source_host"] == host.name
    assert sorted(m["name"] for m in metadata["etcd"]["members"]) == sorted(lab.names)
    (archive,) = metadata["control_plane_archives"]
    assert archive["file"] == archives[0]
    assert archive["host"] == host.name
    assert archive["sha256"] == hashlib.sha256((local / archives[0]).read_bytes()).hexdigest()
    with tarfile.open(local / archives[0]) as tar:
        names = tar.getnames()
    assert "kubernetes/manifests/etcd.yaml" in names
    assert "kubernetes/pki/etcd/ca.crt" in names
    for name in new:
        assert (local / name).stat().st_mode & 0o777 == 0o600, name
    # nothing but this run's backup appeared on the other masters
    for m in lab.masters:
        if m.name != host.name:
            assert backup_files(lab, m.name) == before[m.name]

    # Absent: check mode first (changes nothing), then for real; the backups stay.
    changed = playbook(lab, "-e", "etcd_backup_schedule_state=absent", "--check")
    assert all(count > 0 for count in changed.values()), changed
    for m in lab.masters:
        assert modes(lab, m.name, INSTALLED) == INSTALLED, m.name
    playbook(lab, "-e", "etcd_backup_schedule_state=absent")
    for m in lab.masters:
        assert modes(lab, m.name, REMOVED_BY_ABSENT) == {}, m.name
    assert set(new) <= set(backup_files(lab, host.name))
    assert verify_trailer(local / snapshot)["sha256"] == verified["sha256"]
    assert playbook(lab, "-e", "etcd_backup_schedule_state=absent") == dict.fromkeys(lab.names, 0)


DRILL_SCRIPT = "/usr/local/sbin/kubedr-etcd-drill"
DRILL_CONFIG = "/etc/kubedr-etcd/drill.json"
DRILL_CRON = "/etc/cron.d/kubedr-etcd-drill"
ON_BACKUP1 = "/var/backups/kubedr-etcd/kubernetes"
METRICS_DIR = "/var/backups/node-exporter"
DRILL_INSTALLED = {DRILL_SCRIPT: "755", DRILL_CONFIG: "600", DRILL_CRON: "644", MODULE_UTILS: "755"}


def test_scheduled_drill_on_the_backup_host(lab, tmp_path):
    if lab.etcd_version == "3.4":
        pytest.skip("the schedule role is exercised once, on the etcd 3.5 lab")
    var_backups = lab.host_dir("backup1") / "var-backups"
    removed = False
    try:
        lab.cli("seed", "--size", "1MiB", "--seed", "5")
        rc, _data, err = lab.ansible_playbook(
            "playbooks/backup.yml",
            "-e",
            f"etcd_backup_controller_dir={tmp_path}",
            "-e",
            "etcd_backup_remote_group=backup_hosts",
        )
        assert rc == 0, err
        (snapshot,) = (var_backups / "kubedr-etcd" / "kubernetes").glob("etcd-snapshot-*.db")
        etcd = L.ETCD_BINARIES[lab.etcd_version]["dir"] / "etcd"
        drill_vars = [
            "-e",
            "etcd_backup_schedule_drill=true",
            "-e",
            f"etcd_backup_schedule_drill_etcd_path={etcd}",
            "-e",
            f"etcd_backup_schedule_metrics_dir={METRICS_DIR}",
        ]
        assert playbook(lab, *drill_vars, hosts=["backup1"])["backup1"] > 0
        assert modes(lab, "backup1", DRILL_INSTALLED) == DRILL_INSTALLED
        cron = lab.sh("backup1", f"cat {DRILL_CRON}").stdout
        assert f"30 4 * * * root {DRILL_SCRIPT} --config {DRILL_CONFIG} >>" in cron
        config = json.loads(lab.sh("backup1", f"cat {DRILL_CONFIG}").stdout)
        assert config["dir"] == ON_BACKUP1 and config["etcd_path"] == str(etcd)
        assert playbook(lab, *drill_vars, hosts=["backup1"]) == {"backup1": 0}

        # Run it by hand over SSH, as cron would.
        rc, data, err = run_ansible(
            "ansible",
            "backup1",
            "-i",
            lab.inventory,
            "-m",
            "ansible.builtin.command",
            "-a",
            DRILL_SCRIPT,
        )
        result = data["plays"][0]["tasks"][0]["hosts"]["backup1"]
        assert rc == 0 and result["rc"] == 0, f"{err}\n{result}"
        assert result["stdout"].startswith(f"{snapshot.name}: pass in "), result["stdout"]
        record = json.loads(snapshot.with_name(f"{snapshot.name}.drill.json").read_text())
        assert record["result"] == "pass" and record["drill_host"] == "backup1"
        prom = var_backups / "node-exporter" / textfile_name(ON_BACKUP1)
        assert samples(prom.read_text())["kubedr_etcd_drill_last_success"] == 1

        # Drills off: what was installed on backup1 goes; the backup and its record stay.
        # state=absent turns them off as drill=false does (etcd_backup_schedule__drill_wanted,
        # the same tasks) and also removes what the first run installed on the masters.
        playbook(lab, "-e", "etcd_backup_schedule_state=absent")
        removed = True
        assert modes(lab, "backup1", [*DRILL_INSTALLED, INSTALL_ROOT]) == {}
        assert snapshot.exists() and snapshot.with_name(f"{snapshot.name}.drill.json").exists()
    finally:
        if not removed:
            playbook(lab, "-e", "etcd_backup_schedule_state=absent")
        for host in lab.hosts:
            for sub in ("kubedr-etcd", "node-exporter"):
                shutil.rmtree(lab.host_dir(host.name) / "var-backups" / sub, True)
