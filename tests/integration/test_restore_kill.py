"""restore-ha killed at every phase: the real ansible-playbook gets SIGKILL (its whole
process group, as a closed laptop or a cancelled AWX job), at a point read from the
masters themselves (their journals, manifests and data dirs). From each point:

(a) the same command, run again, resumes the run from the journals (same run id, token
    and plan) to a verified cluster holding the data of the backup; and
(b) playbooks/restore-rollback.yml puts back the cluster as it was before the run: the
    same member ids, the same data (written after the backup, so different from it).

Both are proven from the same kill point: the run is killed there once for (b), then
again for (a). CI runs two points (between the swap's renames on etcd 3.5, mid-start on
3.4); KUBEDR_FULL_MATRIX=1 runs all of them on 3.4 and 3.5.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import start_ansible, task_results
from tests.lab import lab as L
from tests.support.lab_restore import RESTORE, ROLLBACK, Backup, member_ids

pytestmark = pytest.mark.timeout(900)
STATE = Path("var-lib-kubedr-etcd") / "restore"


def journal(lab, host):
    try:
        return json.loads((lab.host_dir(host) / STATE / "journal.json").read_text())
    except (OSError, ValueError):
        return None


def phase(lab, host, run_id):
    j = journal(lab, host)
    return j["phase"] if j and j.get("run_id") == run_id else None


def reached(lab, host, run_id, wanted):
    j = journal(lab, host)
    if not j or j.get("run_id") != run_id:
        return False
    return any(p["phase"] == wanted for p in j.get("phases", []))


def manifests_moved(lab, host):
    return not (lab.host_dir(host) / "etc-kubernetes" / "manifests").exists()


def staging(lab, host):
    return any((lab.host_dir(host) / "var-lib-etcd").glob(".kubedr-restore-*"))


def run_id_of(lab):
    ids = {j["run_id"] for j in (journal(lab, h) for h in lab.names) if j}
    return ids.pop() if len(ids) == 1 else None


def stop_order(lab, run_id):
    for host in lab.names:
        j = journal(lab, host)
        if j and j.get("run_id") == run_id:
            return j["plan"]["stop_order"], j["plan"]["start_order"]
    return lab.names, lab.names


# Each point: a predicate over (lab, run id) that becomes true at that point of a run.
def after_lock(lab, run):
    return all(phase(lab, h, run) == "locked" for h in lab.names)


def mid_stage(lab, run):
    return all(reached(lab, h, run, "locked") for h in lab.names) and any(
        staging(lab, h) and phase(lab, h, run) == "locked" for h in lab.names
    )


def after_stage(lab, run):
    return all(phase(lab, h, run) == "staged" for h in lab.names)


def one_stopped(lab, run):
    stop, _start = stop_order(lab, run)
    return manifests_moved(lab, stop[0]) and not manifests_moved(lab, stop[1])


def all_stopped(lab, run):
    return all(phase(lab, h, run) == "stopped" for h in lab.names)


def mid_start(lab, run):
    _stop, start = stop_order(lab, run)
    return reached(lab, start[0], run, "started") and not reached(lab, start[-1], run, "started")


def mid_verify(lab, run):
    return all(phase(lab, h, run) == "started" for h in lab.names)


def between_renames(lab, run):
    return all_stopped(lab, run)


POINTS = {
    "after_lock": after_lock,
    "mid_stage": mid_stage,
    "after_stage": after_stage,
    "one_stopped": one_stopped,
    "all_stopped": all_stopped,
    "between_renames": between_renames,
    "mid_start": mid_start,
    "mid_verify": mid_verify,
}
# Without the full matrix: the kill between the swap's renames (where data can be lost) on
# 3.5 and the kill mid-start on 3.4.
CI_POINTS = [("between_renames", "3.5"), ("mid_start", "3.4")]
FULL = os.environ.get("KUBEDR_FULL_MATRIX") == "1"


def slow_restore_tool(lab, hold=None):
    """Make docker9's restore tool take 6 s more (a bind mount inside that master only), so
    that a kill in the middle of the stage finds the stage running there. With ``hold`` (a
    file on docker9), it waits instead for as long as that file is there (at most 3 min)."""
    spec = L.ETCD_BINARIES[lab.etcd_version]
    tool = "etcdutl" if "etcdutl" in spec["tools"] else "etcdctl"
    wait = (
        f"i=0; while [ -e {hold} ] && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done"
        if hold
        else "sleep 6"
    )
    # Both files go into docker9's /tmp from the host's side: the copy of the real tool is
    # taken where no wrapper of an earlier test can be bound over it. /usr/local/bin/<tool>
    # is a symlink to the real file: the bind mount lands on that file (in docker9 only).
    tmp = lab.host_dir("docker9") / "tmp"
    shutil.copy(spec["dir"] / tool, tmp / f"kubedr-real-{tool}")
    wrapper = tmp / f"kubedr-slow-{tool}"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = snapshot ] && [ "$2" = restore ]; then {wait}; fi\n'
        f'exec /tmp/kubedr-real-{tool} "$@"\n'
    )
    wrapper.chmod(0o755)
    lab.sh("docker9", f"mount --bind /tmp/kubedr-slow-{tool} /usr/local/bin/{tool}")
    # lazily, and every layer: a wrapper a killed run still executes keeps its mount busy
    return lambda: lab.sh(
        "docker9", f"while umount -l /usr/local/bin/{tool} 2>/dev/null; do :; done", check=False
    )


def command(backup, *extra):
    """The restore command of these tests: the backup is shared by the kill points, so a
    new run restores it again even where an earlier test restored it."""
    return backup.args("-e", "etcd_restore_force=true", *extra)


def kill_at(lab, backup, point, log):
    """Start the restore and SIGKILL it when ``point`` holds; return the run id."""
    earlier = run_id_of(lab)  # the journals of an earlier run, if any, are not this one's
    proc = start_ansible(
        "ansible-playbook", RESTORE, "-i", lab.inventory, *command(backup), log=log
    )
    deadline = time.monotonic() + 240
    run = None
    try:
        while time.monotonic() < deadline:
            run = run or (run_id_of(lab) if run_id_of(lab) != earlier else None)
            if run and POINTS[point](lab, run):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before {point}: see {log.name}")
            time.sleep(0.05)
        else:
            pytest.fail(f"{point} not reached in 240 s: see {log.name}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if point == "between_renames":
        # the state a kill between the two renames of one master leaves: member/ moved
        # aside, the staged member not yet in its place (the kill came before any swap)
        time.sleep(1)
        j = journal(lab, "docker9")
        assert j["phase"] == "stopped", j["phase"]
        lab.sh("docker9", f"mv -T /var/lib/etcd/member /var/lib/etcd/member.kubedr-{j['stamp']}")
    return run


def healthy(lab):
    lab.wait(
        "cluster healthy",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        120,
    )


def points_and_versions():
    if FULL:
        return [(p, v) for v in ("3.4", "3.5") for p in POINTS]
    return CI_POINTS


_BACKUPS = {}


def backup_of(labs, version, tmp_path_factory):
    """One backup per lab for the kill points (they only read it); a new lab, a new one."""
    lab = labs.get(3, version)
    known = _BACKUPS.get(version)
    if known is None or known[0] is not lab:
        known = (lab, Backup(lab, tmp_path_factory.mktemp(f"kill-backup-{version}")))
        _BACKUPS[version] = known
    return known


@pytest.mark.parametrize(
    ("point", "version"), points_and_versions(), ids=lambda x: str(x).replace(".", "")
)
def test_killed_run_resumes_or_rolls_back(labs, point, version, tmp_path, tmp_path_factory):
    lab, backup = backup_of(labs, version, tmp_path_factory)
    # data written after the backup: the pre-restore state differs from the backup's
    lab.cli("etcdctl", "put", "/registry/kill-test/after-the-backup", point)
    assert lab.digest()["sha256"] != backup.digest["sha256"]
    undo = slow_restore_tool(lab) if point == "mid_stage" else (lambda: None)
    # the default points run under a kubelet with kubeadm's timings (tests/lab)
    kubelet = lab.realistic_kubelet() if (point, version) in CI_POINTS else contextlib.nullcontext()
    with kubelet:
        _killed_then_rolled_back_then_resumed(lab, backup, point, undo, tmp_path)


def _killed_then_rolled_back_then_resumed(lab, backup, point, undo, tmp_path):
    before_ids, before = member_ids(lab), lab.digest()
    try:
        # (b) killed at the point, then rolled back by hand from the journals
        with open(tmp_path / "killed-for-rollback.log", "w") as log:
            run = kill_at(lab, backup, point, log)
        rc, data, err = lab.ansible_playbook(ROLLBACK, "-e", "etcd_restore_confirm=true")
        assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
        healthy(lab)
        assert member_ids(lab) == before_ids
        assert lab.digest()["sha256"] == before["sha256"]
        for host in lab.names:
            j = journal(lab, host)
            assert j["run_id"] == run and j["phase"] == "rolled-back", (host, j["phase"])
            listing = lab.sh(host, "ls -A /var/lib/etcd /etc/kubernetes").stdout
            assert "manifests\n" in listing and ".kubedr-restore-" not in listing

        # (a) killed at the same point, then the same command again resumes it
        with open(tmp_path / "killed-for-resume.log", "w") as log:
            run = kill_at(lab, backup, point, log)
    finally:
        undo()
    rc, data, err = lab.ansible_playbook(
        RESTORE, *command(backup, "-e", f"etcd_restore_report_dir={tmp_path / 'reports'}")
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    plan = task_results(data, "Plan the restore of every master")["docker8"]
    assert plan["mode"] == "resume" and plan["run"]["run_id"] == run
    assert plan["plan"]["token"] == f"kubedr-restore-{run}"
    after = lab.digest()
    for key in ("keys", "registry_keys", "sha256"):
        assert after[key] == backup.digest[key], key
    assert sorted(member_ids(lab)) != sorted(before_ids)
    report = json.loads((tmp_path / "reports" / f"restore-{run}.json").read_text())
    assert report["outcome"] == "restored" and report["resumed"] is True
    for host in lab.names:
        assert journal(lab, host)["phase"] == "done"
        # nothing of the user's data was deleted: the member of before the run is kept
        # (the one the rollback run put back, now moved aside again)
        assert (
            f"member.kubedr-{journal(lab, host)['stamp']}"
            in lab.sh(host, "ls -A /var/lib/etcd").stdout
        )


def test_a_second_run_at_the_same_time_is_refused_and_changes_nothing(labs, tmp_path):
    lab = labs.get(3, "3.5")
    backup = Backup(lab, tmp_path)
    # the first run's stage on docker9 waits until the second run is over: the first run
    # still runs when the second one looks, however long either takes
    hold = "/run/kubedr-test-hold-stage"
    lab.sh("docker9", f"touch {hold}")
    undo = slow_restore_tool(lab, hold)
    log = open(tmp_path / "first.log", "w")
    earlier = run_id_of(lab)
    first = start_ansible(
        "ansible-playbook", RESTORE, "-i", lab.inventory, *command(backup), log=log
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_id_of(lab) not in (None, earlier) and staging(lab, "docker9")):
            assert time.monotonic() < deadline and first.poll() is None, "the first run ended"
            time.sleep(0.05)
        run = run_id_of(lab)
        journals = {h: journal(lab, h) for h in lab.names}
        rc, data, _err = lab.ansible_playbook(RESTORE, *backup.args())
        assert rc != 0
        said = task_results(data, "Plan the restore of every master")["docker8"]["msg"]
        assert f"restore run {run}" in said and "is still running" in said, said
        assert "started" in said and "ago" in said
        # the second run wrote nothing: the journals are the first run's, as they were
        # (the first run may only have moved on)
        for host, before in journals.items():
            now = journal(lab, host)
            assert (
                now["run_id"] == run and now["phases"][: len(before["phases"])] == before["phases"]
            )
        assert first.poll() is None, f"the first run ended while held: see {log.name}"
        lab.sh("docker9", f"rm -f {hold}")
        assert first.wait(300) == 0, f"the first run failed: see {log.name}"
    finally:
        lab.sh("docker9", f"rm -f {hold}", check=False)
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        undo()
        log.close()
    assert lab.digest()["sha256"] == backup.digest["sha256"]


def test_a_run_from_another_controller_needs_its_run_id(labs, tmp_path):
    lab = labs.get(3, "3.5")
    backup = Backup(lab, tmp_path)
    with open(tmp_path / "killed.log", "w") as log:
        run = kill_at(lab, backup, "all_stopped", log)
    time.sleep(2)  # a step the kill left running on a master ends
    # what another controller (a new AWX job container) sees: a holder it cannot check
    for host in lab.names:
        path = lab.host_dir(host) / STATE / "journal.json"
        j = json.loads(path.read_text())
        j["controller"].update(hostname="awx-job-41", machine_id="0" * 32, boot_id="elsewhere")
        path.write_text(json.dumps(j))
    held = {h: journal(lab, h) for h in lab.names}
    rc, data, _err = lab.ansible_playbook(RESTORE, *command(backup))
    assert rc != 0
    said = task_results(data, "Plan the restore of every master")["docker8"]["msg"]
    assert f"-e etcd_restore_takeover={run}" in said and "awx-job-41" in said, said
    assert {h: journal(lab, h) for h in lab.names} == held  # the refused run wrote nothing
    rc, data, err = lab.ansible_playbook(
        RESTORE, *command(backup, "-e", f"etcd_restore_takeover={run}")
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    assert lab.digest()["sha256"] == backup.digest["sha256"]
    taken = journal(lab, "docker8")
    assert taken["takeovers"][0]["from"]["hostname"] == "awx-job-41"
