"""playbooks/restore-ha.yml against the lab: every key and value back after a disaster;
plans that change nothing; refusals before anything is touched; a failed run that keeps
the old data and says how to roll back."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import task_results
from tests.support.age_keys import make_age_key
from tests.support.lab_restore import (
    ROLLBACK,
    STATE_DIR,
    Backup,
    assert_same_data,
    member_ids,
    state,
    wipe_etcd_data,
)

RESTORE = "playbooks/restore-ha.yml"
SNAPSHOT_DIR = STATE_DIR


def restore_and_check(lab, backup, report_dir, *extra):
    rc, data, err = lab.ansible_playbook(
        RESTORE, *backup.args("-e", f"etcd_restore_report_dir={report_dir}", *extra)
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    after = lab.digest()
    assert_same_data(after, backup.digest)
    (report_file,) = report_dir.glob("restore-*.json")
    report = json.loads(report_file.read_text())
    # the same report as a page, beside it
    page = report_file.with_suffix(".html").read_text(encoding="utf-8")
    assert f"Restore {report['run_id']}: {report['outcome']}" in page
    assert sorted(p.name for p in report_dir.iterdir()) == [
        f"restore-{report['run_id']}.html",
        f"restore-{report['run_id']}.json",
    ]
    return data, report, after


# On 3.5 by default: on 3.4 the same restore under the realistic kubelet runs as the
# mid-start kill point (killed, then resumed to the backup's digest); both versions with
# KUBEDR_FULL_MATRIX=1.
def test_restore_ha_brings_every_key_and_value_back(lab, tmp_path):
    backup = Backup(lab, tmp_path)
    ids_before = member_ids(lab)
    wipe_etcd_data(lab)
    # under a kubelet with kubeadm's timings (20 s file-check period, 30 s grace, a slow
    # SIGTERM), on every etcd version
    with lab.realistic_kubelet():
        _data, report, after = restore_and_check(lab, backup, tmp_path / "reports")

    # A new cluster (fresh token, new member IDs) with the old names and addresses.
    assert member_ids(lab) != ids_before
    assert report["outcome"] == "restored"
    assert sorted(report["verification"]["members"]) == sorted(lab.names)
    assert report["apiservers"] == {m.name: 200 for m in lab.masters}
    assert len(set(report["verification"]["hashkv"].values())) == 1
    assert report["plan"]["token"] == f"kubedr-restore-{report['run_id']}"
    assert report["plan"]["stop_order"][-1] in lab.names
    if lab.etcd_version == "3.5":  # etcdutl 3.5.16 bumps; etcdctl 3.4.23 cannot
        assert report["plan"]["bump_revision"] == 1000000000
        assert after["revision"] >= 1000000000 + backup.digest["revision"]
    else:
        assert report["plan"]["bump_revision"] is None
        assert after["revision"] == backup.digest["revision"]
    # the downtime, from the journals' timestamps: first stop to every apiserver ready
    assert 0 < report["downtime"]["seconds"] < 120
    stamp = report["stamp"]
    for m in lab.masters:
        part = report["masters"][m.name]
        assert [p["phase"] for p in part["phases"]] == [
            "locked",
            "staged",
            "stopped",
            "swapped",
            "started",
            "verified",
            "done",
        ]
        listing = lab.sh(m.name, "ls -A /var/lib/etcd /etc/kubernetes").stdout
        assert "manifests\n" in listing and ".kubedr-restore-" not in listing
        # What the disaster left in the data dir is moved aside, never deleted (a member
        # whose etcd never came back after the wipe may have had nothing left to move).
        if part["data_moved_aside"] is not None:
            assert part["data_moved_aside"] == f"/var/lib/etcd/member.kubedr-{stamp}"
            assert f"member.kubedr-{stamp}" in listing
        # the journal stays, the lock is released, the snapshot copy is gone
        journal = json.loads(lab.sh(m.name, f"cat {STATE_DIR}/journal.json").stdout)
        assert journal["phase"] == "done" and journal["outcome"] == "restored"
        # (runs/ keeps the journals of earlier runs on this lab, and nothing else)
        listing = lab.sh(m.name, f"ls -A {STATE_DIR}").stdout.split()
        assert sorted(set(listing) - {"runs"}) == [".flock", "journal.json"], listing
        if "runs" in listing:
            kept = lab.sh(m.name, f"ls -A {STATE_DIR}/runs").stdout.split()
            assert kept and all(name.endswith(".json") for name in kept), kept

    # A second run of the same snapshot verifies, read-only, and changes nothing.
    restored_ids = member_ids(lab)
    rc, again, err = lab.ansible_playbook(RESTORE, *backup.args())
    assert rc == 0, err
    assert all(s["changed"] == 0 for s in again["stats"].values()), again["stats"]
    said = task_results(again, "Say that there is nothing to do")["docker8"]["msg"]
    assert f"restored from this snapshot by run {report['run_id']}" in said
    assert member_ids(lab) == restored_ids
    assert lab.digest()["sha256"] == after["sha256"]


def test_plan_only_and_check_mode_change_nothing(lab, tmp_path):
    backup = Backup(lab, tmp_path)
    before = state(lab)
    # latest, and the same backup by its file name (as an AWX survey gives it)
    by_name = ["-e", f"etcd_restore_snapshot={backup.snapshot.name}"]
    for extra in ([], ["--check", "-e", "etcd_restore_confirm=true"], by_name):
        rc, data, err = lab.ansible_playbook(RESTORE, *backup.args(confirm=False), *extra)
        assert rc == 0, err
        shown = task_results(data, "Show the plan")["docker8"]["msg"]
        assert shown["snapshot"] == str(backup.controller_copy), shown
        plan = task_results(data, "Plan the restore of every master")["docker8"]["plan"]
        assert [m["name"] for m in plan["members"]] == lab.names
        assert plan["initial_cluster"] == ",".join(
            f"{m.name}=https://{m.ip}:2380" for m in lab.masters
        )
        assert state(lab) == before
    out = refused(lab, backup, "-e", "etcd_restore_snapshot=etcd-snapshot-x.db")
    assert (
        f"no complete backup etcd-snapshot-x.db in {backup.dir}/kubernetes (complete there,"
        f" newest first: {backup.snapshot.name})"
    ) in out, out[-2000:]
    assert state(lab) == before


# Other shapes than the 3 masters of every other test: KUBEDR_FULL_MATRIX=1 runs them
# (one and five masters on both versions; each needs a lab of its own shape). The
# cut-over's order over more masters is covered by the unit tests of the plan.
MATRIX = [(1, "3.4"), (5, "3.5"), (1, "3.5"), (5, "3.4")]


@pytest.mark.skipif(
    os.environ.get("KUBEDR_FULL_MATRIX") != "1", reason="other lab shapes: KUBEDR_FULL_MATRIX=1"
)
@pytest.mark.parametrize(("masters", "version"), MATRIX)
def test_one_and_five_masters(labs, masters, version, tmp_path):
    lab = labs.get(masters, version)
    backup = Backup(lab, tmp_path)
    wipe_etcd_data(lab)
    _data, report, _after = restore_and_check(lab, backup, tmp_path / "reports")
    assert sorted(report["verification"]["members"]) == sorted(lab.names)


# -- refusals: before anything is touched ----------------------------------------------


def refused(lab, backup, *extra, inventory=None):
    rc, data, _err = lab.ansible_playbook(RESTORE, *backup.args(*extra), inventory=inventory)
    assert rc != 0
    return json.dumps(data)


@pytest.fixture
def on_34_only(lab):
    if lab.etcd_version != "3.4":
        pytest.skip("pre-flight refusals do not depend on the etcd version; run on the 3.4 lab")
    return lab


@pytest.mark.parametrize("damage", ["flip", "truncate", "metadata"])
def test_damaged_snapshot_is_refused(on_34_only, tmp_path, damage):
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    before = state(lab)
    snap = backup.controller_copy
    if damage == "flip":
        body = bytearray(snap.read_bytes())
        body[len(body) // 3] ^= 0x01
        snap.write_bytes(bytes(body))
        words = "is corrupt"
    elif damage == "truncate":
        snap.write_bytes(snap.read_bytes()[:-777])
        words = "no sha256 trailer"
    else:
        meta = Path(f"{snap}.json")
        record = json.loads(meta.read_text())
        record["snapshot"]["sha256"] = "0" * 64
        meta.write_text(json.dumps(record))
        words = "metadata records"
    assert words in refused(lab, backup)
    assert state(lab) == before


def _inventory(lab, tmp_path, edit):
    """The lab's inventory with its masters changed by ``edit(masters' hosts)``."""
    return lab.inventory_copy(
        tmp_path / "hosts.yml", lambda doc: edit(doc["all"]["children"]["masters"]["hosts"])
    )


def test_duplicate_member_names_are_refused(on_34_only, tmp_path):
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    before = state(lab)
    # docker9's entry points at docker8's address: two inventory hosts, one member.
    inv = _inventory(lab, tmp_path, lambda h: h["docker9"].update(ansible_host="10.77.0.8"))
    out = refused(lab, backup, inventory=inv)
    assert "docker8" in out and "duplicate" in out.lower(), out[-2000:]
    assert state(lab) == before


def test_an_unreachable_master_is_refused(on_34_only, tmp_path):
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    before = state(lab)
    inv = _inventory(lab, tmp_path, lambda h: h.update(docker11={"ansible_host": "10.77.0.11"}))
    rc, data, _err = lab.ansible_playbook(RESTORE, *backup.args(), inventory=inv)
    assert rc != 0
    assert data["stats"]["docker11"]["unreachable"] == 1
    facts = task_results(data, "Discover each master's etcd member and tools")
    assert facts["docker11"]["unreachable"]
    # The play stops there (any_errors_fatal): no plan, nothing stopped.
    with pytest.raises(AssertionError):
        task_results(data, "Plan the restore of every master")
    assert state(lab) == before


def test_a_master_on_another_address_is_refused(on_34_only, tmp_path):
    """The manifest says the member lived at 10.77.0.99: data and certificates were
    written for an address this master no longer has."""
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    lab.sh(
        "docker10",
        "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.bak && "
        "sed -i s/10.77.0.10/10.77.0.99/g /etc/kubernetes/manifests.bak/etcd.yaml",
    )
    try:
        out = refused(lab, backup)
    finally:
        lab.sh(
            "docker10",
            "sed -i s/10.77.0.99/10.77.0.10/g /etc/kubernetes/manifests.bak/etcd.yaml"
            " && mv /etc/kubernetes/manifests.bak /etc/kubernetes/manifests",
        )
    assert "10.77.0.99" in out and "docker10" in out
    lab.wait(
        "cluster healthy",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        90,
    )


def test_not_enough_disk_is_refused(on_34_only, tmp_path):
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    before = state(lab)
    existed = lab.sh("docker9", f"test -d {SNAPSHOT_DIR}", check=False).returncode == 0
    lab.sh("docker9", f"mkdir -p {SNAPSHOT_DIR} && mount -t tmpfs -o size=1m tmpfs {SNAPSHOT_DIR}")
    try:
        out = refused(lab, backup)
    finally:
        lab.sh(
            "docker9", f"umount {SNAPSHOT_DIR}" + ("" if existed else f" && rmdir {SNAPSHOT_DIR}")
        )
    assert f"docker9: {SNAPSHOT_DIR} has 1 MiB free but the copy of the" in out, out[-3000:]
    assert state(lab) == before


def test_a_state_dir_two_masters_share_is_refused_before_anything_changes(on_34_only, tmp_path):
    """The second master's /var/lib/kubedr-etcd is the first's (a shared /var/lib): both
    would write one journal. Refused at pre-flight, from what each master proves about its
    own state dir; nothing on any master changed, no journal written."""
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    first, second = lab.masters[0].name, lab.masters[1].name
    shared = lab.host_dir(first) / "var-lib-kubedr-etcd"
    before = state(lab)
    journals_before = sorted(str(p) for p in shared.rglob("journal.json"))
    lab.sh(second, f"mount --bind {shared} /var/lib/kubedr-etcd")
    try:
        out = refused(lab, backup)
    finally:
        lab.sh(second, "umount /var/lib/kubedr-etcd")
    assert f"{first}, {second}: {STATE_DIR} is one directory seen by all of them" in out, out[
        -3000:
    ]
    assert state(lab) == before
    assert sorted(str(p) for p in shared.rglob("journal.json")) == journals_before


@pytest.mark.skipif(
    os.environ.get("KUBEDR_FULL_MATRIX") != "1", reason="the stage one master at a time: slow"
)
def test_one_fork_for_three_masters_restores_all_the_same(on_34_only, tmp_path):
    """--forks 1: the cut-over is driven one master at a time from the controller, so a
    master never waits on one without a worker; the stage only takes longer."""
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    wipe_etcd_data(lab)
    rc, data, err = lab.ansible_playbook(RESTORE, *backup.args("--forks", "1"))
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    assert_same_data(lab.digest(), backup.digest)


def test_a_missing_restore_tool_is_refused(lab, tmp_path):
    backup = Backup(lab, tmp_path)
    before = state(lab)
    hide = (
        "mkdir -p /run/empty-bin && mount --bind /run/empty-bin /usr/local/bin"
        " && mount --bind /dev/null /usr/bin/etcdctl"
    )
    lab.sh("docker9", hide)
    try:
        out = refused(lab, backup)
    finally:
        lab.sh("docker9", "umount /usr/bin/etcdctl; umount /usr/local/bin")
    assert "docker9" in out and re.search(r"no (restore )?tool|etcdutl|etcdctl", out), out[-2000:]
    assert state(lab) == before


# -- failures after the point of no return: rolled back by the run itself ------------------


def failure_message(data):
    results = task_results(data, "Stop the run, saying what happened and what to do next")
    return next(iter(results.values()))["msg"]


def old_cluster_back(lab, ids, digest):
    lab.wait(
        "cluster healthy",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        120,
    )
    assert member_ids(lab) == ids
    assert lab.digest()["sha256"] == digest
    for m in lab.masters:
        listing = lab.sh(m.name, "ls -A /var/lib/etcd /etc/kubernetes").stdout
        assert "manifests\n" in listing and ".kubedr-restore-" not in listing
        journal = json.loads(lab.sh(m.name, f"cat {STATE_DIR}/journal.json").stdout)
        assert journal["phase"] == "rolled-back", journal["phase"]


def test_etcd_that_will_not_stop_is_rolled_back_by_the_run(on_34_only, tmp_path):
    lab = on_34_only
    backup = Backup(lab, tmp_path)
    ids = member_ids(lab)
    data_dirs = {m.name: lab.sh(m.name, "ls -A /var/lib/etcd").stdout for m in lab.masters}
    # Something named etcd that no manifest controls, on one master.
    pid = lab.sh(
        "docker9", "cp /bin/sleep /run/etcd && { setsid /run/etcd 600 >/dev/null 2>&1 & echo $!; }"
    ).stdout.strip()
    try:
        rc, data, _err = lab.ansible_playbook(
            RESTORE, *backup.args("-e", "etcd_restore_stop_timeout=5")
        )
        assert rc != 0
        # the masters stop one at a time (a task per turn); only docker9's fails
        stopped = {}
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                if "Stop the static pods, done once" in task["task"]["name"]:
                    for host, result in task["hosts"].items():
                        if not result.get("skipped"):
                            stopped[host] = result
        assert sorted(h for h, r in stopped.items() if r.get("failed")) == ["docker9"], stopped
        assert pid in stopped["docker9"]["msg"], stopped["docker9"]["msg"]
        said = failure_message(data)
    finally:
        lab.sh("docker9", f"kill {pid}; rm -f /run/etcd", check=False)
    assert "Every master was rolled back" in said and "The old cluster verified" in said, said
    assert "the same member ids as before" in said, said
    # No member data was touched: the swap was never reached.
    assert {m.name: lab.sh(m.name, "ls -A /var/lib/etcd").stdout for m in lab.masters} == data_dirs
    old_cluster_back(lab, ids, backup.digest["sha256"])


def test_etcd_that_does_not_start_is_rolled_back_to_the_old_data(labs, lab, tmp_path):
    if lab.etcd_version != "3.5":
        pytest.skip("run on the 3.5 lab (the 3.4 lab covers the stop failure)")
    backup = Backup(lab, tmp_path)
    ids = member_ids(lab)
    pki = lab.host_dir("docker10") / "etc-kubernetes" / "pki" / "etcd"
    good = (pki / "peer.key").read_bytes()
    # docker10's running etcd keeps its key in memory; a restarted one cannot use this one.
    shutil.copy(pki / "healthcheck-client.key", pki / "peer.key")
    try:
        rc, data, _err = lab.ansible_playbook(
            RESTORE,
            *backup.args(
                "-e", "etcd_restore_start_timeout=30", "-e", "etcd_restore_on_failure=keep"
            ),
        )
        assert rc != 0
        said = failure_message(data)
        assert "Nothing was rolled back (etcd_restore_on_failure=keep)" in said, said
        for m in lab.masters:  # the old data is kept on every master, the journal holds it
            assert "member.kubedr-" in lab.sh(m.name, "ls -A /var/lib/etcd").stdout
    finally:
        (pki / "peer.key").write_bytes(good)
    # Kept: the rollback playbook puts every master back from the journals.
    rc, data, err = lab.ansible_playbook(ROLLBACK, "-e", "etcd_restore_confirm=true")
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    old_cluster_back(lab, ids, backup.digest["sha256"])
    for m in lab.masters:
        assert "member.failed-" in lab.sh(m.name, "ls -A /var/lib/etcd").stdout
    labs.forget()  # the lab went through a lot: the next test gets a fresh one


# -- encrypted backups (age) -----------------------------------------------------------


@pytest.fixture
def on_35_only(lab):
    if lab.etcd_version != "3.5":
        pytest.skip("decryption does not depend on the etcd version; run on the 3.5 lab")
    return lab


def encrypted_backup(lab, tmp_path, key):
    recipients = json.dumps({"etcd_backup_age_recipients": [key.recipient]})
    backup = Backup(lab, tmp_path, "-e", recipients)
    stored = backup.controller_copy.with_name(backup.controller_copy.name + ".age")
    assert stored.exists() and not backup.controller_copy.exists()
    return backup, stored


def test_restore_from_an_encrypted_backup(on_35_only, tmp_path):
    lab = on_35_only
    key = make_age_key(tmp_path)
    backup, _stored = encrypted_backup(lab, tmp_path, key)
    wipe_etcd_data(lab)
    identity = ["-e", f"etcd_restore_age_identity={key.identity}"]
    rc, data, err = lab.ansible_playbook(
        RESTORE, *backup.args(*identity, "-e", f"etcd_restore_report_dir={tmp_path / 'r'}")
    )
    assert rc == 0, f"{err}\n{json.dumps(data)[-3000:]}"
    after = lab.digest()
    assert_same_data(after, backup.digest)
    (report_file,) = (tmp_path / "r").glob("restore-*.json")
    report = json.loads(report_file.read_text())
    assert report["decrypted"] is True
    assert report["snapshot"]["name"] == str(backup.controller_copy)
    # the plain copy made on the controller is gone; the encrypted backup stays as it was
    assert list((backup.dir / ".decrypted").iterdir()) == []
    # A second run decrypts again, finds the restore done, and changes nothing.
    rc, again, err = lab.ansible_playbook(RESTORE, *backup.args(*identity))
    assert rc == 0, err
    assert all(s["changed"] == 0 for s in again["stats"].values()), again["stats"]
    kept = (backup.dir / "kubernetes").iterdir()
    assert [p.name for p in kept if p.suffix != ".age" and not p.name.startswith(".")] == [
        backup.controller_copy.name + ".json"
    ]


def test_encrypted_backup_refusals_change_nothing(on_35_only, tmp_path):
    lab = on_35_only
    key, other = make_age_key(tmp_path, "key"), make_age_key(tmp_path, "other")
    backup, stored = encrypted_backup(lab, tmp_path, key)
    before = state(lab)
    cases = [
        ([], f"is stored encrypted ({backup.controller_copy.name}.age) to {key.recipient}"),
        (["-e", f"etcd_restore_age_identity={other.identity}"], "no identity matched"),
        (
            [
                "-e",
                f"etcd_restore_age_identity={key.identity}",
                "-e",
                "etcd_restore_age_command=/nonexistent/age",
            ],
            "age command /nonexistent/age does not exist or is not executable",
        ),
    ]
    for extra, words in cases:
        assert words in refused(lab, backup, *extra), words
    body = bytearray(stored.read_bytes())
    body[len(body) // 2] ^= 0x01
    stored.write_bytes(bytes(body))
    out = refused(lab, backup, "-e", f"etcd_restore_age_identity={key.identity}")
    assert "the encrypted file is damaged or cut short" in out
    assert state(lab) == before
    decrypted = backup.dir / ".decrypted"
    assert not decrypted.exists() or list(decrypted.iterdir()) == []
