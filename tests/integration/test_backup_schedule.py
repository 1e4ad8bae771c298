"""playbooks/backup-schedule.yml on the lab masters: the backup script, its config and a
cron entry (the lab masters run no systemd) are installed with the right modes,
idempotently and not in check mode; a run of the script by hand over SSH makes a
verified backup; state=absent removes what was installed and keeps the backups."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import verify_trailer
from tests.integration.conftest import run_ansible

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


def playbook(lab, *args):
    rc, data, err = lab.ansible_playbook(PLAYBOOK, *VARS, *args)
    assert rc == 0, f"{err}\n{json.dumps(data)[-4000:]}"
    stats = data["stats"]
    assert sorted(stats) == sorted(lab.names)
    for host, summary in stats.items():
        assert summary["failures"] == 0 and summary["unreachable"] == 0, (host, summary)
    return {host: summary["changed"] for host, summary in stats.items()}


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
    playbook(lab, "-e", "etcd_backup_schedule_state=absent")
    before = {m.name: backup_files(lab, m.name) for m in lab.masters}

    # Check mode on clean masters: it would change things, and changes nothing.
    changed = playbook(lab, "--check")
    assert all(count > 0 for count in changed.values()), changed
    for m in lab.masters:
        assert modes(lab, m.name, REMOVED_BY_ABSENT) == {}, m.name

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
        assert {"_archive.py", "_backup.py", "_snapshot.py", "_etcd_manifest.py"} <= set(shipped)

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
