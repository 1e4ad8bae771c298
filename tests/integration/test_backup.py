"""playbooks/backup.yml against the lab: verified backups, kept off the masters, and every
fault handled with a clear message and no partial file passed off as a backup."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import textfile_name
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    sha256_file,
    verify_trailer,
)
from tests.integration.conftest import restored_digest, run_ansible, task_results
from tests.lab import lab as L
from tests.lab.pki import CA, CLIENT, write_pair
from tests.support.age_keys import make_age_key
from tests.support.lab_restore import assert_same_data
from tests.support.metrics import samples

BACKUP_DIR = "/var/backups/kubedr-etcd"
METRICS_DIR = "/var/backups/node-exporter"  # per lab host (/var/backups is its own there)
SAVE_TASK = "Save a verified etcd snapshot"


def backup(lab, controller_dir, *extra, check=False):
    args = ["-e", f"etcd_backup_controller_dir={controller_dir}", *extra]
    if check:
        args.append("--check")
    return lab.ansible_playbook("playbooks/backup.yml", *args)


def files_on(lab, host, directory=BACKUP_DIR):
    """Names of the files in a directory of a lab host (none when it does not exist)."""
    path = lab.host_dir(host) / "var-backups" / Path(directory).relative_to("/var/backups")
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def backup_files(names):
    return [n for n in names if not n.startswith(".")]


@pytest.fixture
def clean_backups(lab):
    """No backups anywhere in the lab before and after the test."""

    def wipe():
        for host in lab.hosts:
            shutil.rmtree(lab.host_dir(host.name) / "var-backups" / "kubedr-etcd", True)
            shutil.rmtree(lab.host_dir(host.name) / "var-backups" / "node-exporter", True)

    wipe()
    yield
    wipe()


@pytest.mark.every_etcd
def test_backup_is_verified_complete_and_off_the_masters(lab, clean_backups, tmp_path):
    lab.cli("seed", "--size", "2MiB", "--seed", "11")
    before = lab.digest()
    rc, data, err = backup(
        lab,
        tmp_path,
        "-e",
        "etcd_backup_remote_group=backup_hosts",
        "-e",
        f"etcd_backup_metrics_dir={METRICS_DIR}",
    )
    assert rc == 0, err
    snap = task_results(data, SAVE_TASK)["docker8"]
    meta = snap["metadata"]
    name = Path(snap["snapshot"]).name
    stamp = name.removeprefix("etcd-snapshot-").removesuffix(".db")

    # On the masters: the snapshot + metadata on the source, an archive on every master.
    assert backup_files(files_on(lab, "docker8")) == sorted(
        [name, name + ".json", f"kubernetes-docker8-{stamp}.tar.gz"]
    )
    for m in lab.masters[1:]:
        assert backup_files(files_on(lab, m.name)) == [f"kubernetes-{m.name}-{stamp}.tar.gz"]

    # The record: what a restore will check against.
    assert meta["source_host"] == "docker8"
    assert meta["snapshot"]["revision"] >= before["revision"]
    assert meta["snapshot"]["total_key"] >= before["keys"]
    assert sorted(m["name"] for m in meta["etcd"]["members"]) == sorted(lab.names)
    assert meta["etcd"]["version"] == L.ETCD_BINARIES[lab.etcd_version]["version"]
    assert meta["kubernetes_version"].startswith("v1.")
    assert meta["trial_restore"] is None  # off by default: drills prove restores
    assert sorted(a["host"] for a in meta["control_plane_archives"]) == sorted(lab.names)

    # Off the masters: the controller and the backup host hold the same verified files.
    expected = sorted([name, name + ".json"] + [a["file"] for a in meta["control_plane_archives"]])
    controller = tmp_path / "kubernetes"
    assert backup_files(sorted(p.name for p in controller.iterdir())) == expected
    assert backup_files(files_on(lab, "backup1", f"{BACKUP_DIR}/kubernetes")) == expected
    verified = verify_trailer(controller / name)
    assert verified["sha256"] == meta["snapshot"]["sha256"]
    assert verified["size"] == meta["snapshot"]["size"]
    for archive in meta["control_plane_archives"]:
        copy = controller / archive["file"]
        assert sha256_file(copy) == archive["sha256"]
        assert copy.stat().st_mode & 0o777 == 0o600
        with tarfile.open(copy) as tar:
            names = tar.getnames()
        assert "kubernetes/manifests/etcd.yaml" in names
        assert "kubernetes/pki/etcd/ca.crt" in names
    assert json.loads((controller / (name + ".json")).read_text()) == meta

    # The fingerprint a drill compares with: taken at the snapshot's revision.
    fingerprint = meta["fingerprint"]
    assert fingerprint["format"] == "kubedr.etcd/fingerprint/v1"
    assert fingerprint["revision"] == meta["snapshot"]["revision"]
    assert isinstance(fingerprint["hashkv"], int)
    assert fingerprint["total_keys"] >= before["keys"]
    assert fingerprint["keys"]["pods"] > 0 and fingerprint["keys"]["secrets"] > 0

    # Metrics where node_exporter reads them: on the source master and the backup host,
    # each of its own backup directory; promtool accepts them.
    for host, directory, stored in (
        ("docker8", BACKUP_DIR, 1),
        ("docker9", BACKUP_DIR, 0),
        ("backup1", f"{BACKUP_DIR}/kubernetes", 1),
    ):
        (prom,) = files_on(lab, host, METRICS_DIR)
        assert prom == textfile_name(directory)
        text = (lab.host_dir(host) / "var-backups" / "node-exporter" / prom).read_text()
        values = samples(text)
        assert values["kubedr_etcd_backups_stored"] == stored, (host, text)
        assert 'cluster="kubernetes"' in text
        if stored:
            assert values["kubedr_etcd_backup_last_revision"] == meta["snapshot"]["revision"]
            assert values["kubedr_etcd_backup_last_size_bytes"] == meta["snapshot"]["size"]
        checked = subprocess.run(
            ["promtool", "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0 and not checked.stdout + checked.stderr, checked

    # The proof: a cluster restored by hand from the controller's copy holds every
    # key and value the cluster held when the backup was taken.
    restored = restored_digest(lab, controller / name, tmp_path)
    assert_same_data(restored, before)


def test_check_mode_saves_nothing(lab, clean_backups, tmp_path):
    rc, data, err = backup(lab, tmp_path, check=True)
    assert rc == 0, err
    snap = task_results(data, SAVE_TASK)["docker8"]
    assert snap["msg"].startswith("would save /var/backups/kubedr-etcd/etcd-snapshot-")
    for host in lab.hosts:
        assert files_on(lab, host.name) == []
    assert not (tmp_path / "kubernetes").exists()


def test_retention_keeps_the_newest_everywhere(lab, clean_backups, tmp_path):
    names = []
    for _unused in range(3):
        rc, data, err = backup(
            lab, tmp_path, "-e", "etcd_backup_keep_last=2", "-e", "etcd_backup_trial_restore=false"
        )
        assert rc == 0, err
        names.append(Path(task_results(data, SAVE_TASK)["docker8"]["snapshot"]).name)
    assert len(set(names)) == 3
    kept = sorted(names)[1:]
    on_source = backup_files(files_on(lab, "docker8"))
    assert [n for n in on_source if n.endswith(".db")] == kept
    controller = sorted(p.name for p in (tmp_path / "kubernetes").iterdir())
    assert [n for n in controller if n.endswith(".db")] == kept
    stamps = [n.removeprefix("etcd-snapshot-").removesuffix(".db") for n in kept]
    for m in lab.masters:  # archives follow their snapshots, on every master
        archives = [n for n in backup_files(files_on(lab, m.name)) if n.startswith("kubernetes-")]
        assert archives == [f"kubernetes-{m.name}-{s}.tar.gz" for s in stamps]


def test_keep_last_zero_is_refused_before_anything(lab, clean_backups, tmp_path):
    rc, data, _unused = backup(lab, tmp_path, "-e", "etcd_backup_keep_last=0")
    assert rc != 0
    assert "0 would delete every backup" in json.dumps(data)
    for host in lab.hosts:
        assert files_on(lab, host.name) == []


def _pod_pid(lab, host, pod):
    status = json.loads((lab.host_dir(host) / "status.json").read_text())
    return next(p["pid"] for p in status["pods"] if p["pod"] == pod and p["pid"])


def test_a_hanging_member_is_skipped(lab, clean_backups, tmp_path):
    pid = _pod_pid(lab, "docker8", "etcd")  # the preferred member: it stops answering
    lab.sh("docker8", f"kill -STOP {pid}")
    try:
        rc, data, err = backup(lab, tmp_path, "-e", "etcd_backup_trial_restore=false")
    finally:
        lab.sh("docker8", f"kill -CONT {pid}")
    assert rc == 0, err
    snap = task_results(data, SAVE_TASK)["docker8"]
    assert snap["endpoint"] != "https://10.77.0.8:2379"
    assert any(n.startswith("https://10.77.0.8:2379 skipped") for n in snap["notes"])
    assert verify_trailer(tmp_path / "kubernetes" / Path(snap["snapshot"]).name)


def test_no_healthy_member_fails_and_keeps_nothing(lab, clean_backups, tmp_path):
    """Every member hangs (stopped, not answering): the backup stops at the health check,
    within its timeouts, and says so."""
    pids = {m.name: _pod_pid(lab, m.name, "etcd") for m in lab.masters}
    for host, pid in pids.items():
        lab.sh(host, f"kill -STOP {pid}")
    try:
        rc, data, _unused = backup(lab, tmp_path)
    finally:
        for host, pid in pids.items():
            lab.sh(host, f"kill -CONT {pid}")
    assert rc != 0
    msg = task_results(data, SAVE_TASK)["docker8"]["msg"]
    assert msg.startswith("no healthy etcd member")
    assert "nothing was saved" in msg
    assert [n for n in files_on(lab, "docker8") if "snapshot" in n] == []
    assert not (tmp_path / "kubernetes").exists()
    lab.wait(
        "cluster healthy",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        90,
    )


def test_wrong_client_certificate_is_named(lab, clean_backups, tmp_path):
    pki = lab.host_dir("docker8") / "etc-kubernetes" / "pki" / "etcd"
    saved = {
        n: (pki / n).read_bytes() for n in ("healthcheck-client.crt", "healthcheck-client.key")
    }
    cert, key = CA.create("some-other-ca").issue("kube-etcd-healthcheck-client", CLIENT)
    write_pair(pki, "healthcheck-client", cert, key)
    try:
        rc, data, _unused = backup(lab, tmp_path)
    finally:
        for n, content in saved.items():
            (pki / n).write_bytes(content)
    assert rc != 0
    msg = task_results(data, SAVE_TASK)["docker8"]["msg"]
    assert msg.startswith("no healthy etcd member")
    assert "certificate" in msg.lower() or "tls" in msg.lower(), msg
    assert [n for n in files_on(lab, "docker8") if "snapshot" in n] == []


def test_full_backup_disk_is_refused_before_saving(lab, clean_backups, tmp_path):
    lab.sh("docker8", f"mkdir -p {BACKUP_DIR} && mount -t tmpfs -o size=1m tmpfs {BACKUP_DIR}")
    try:
        rc, data, _unused = backup(lab, tmp_path, "-e", "etcd_backup_control_plane=false")
        leftovers = lab.sh("docker8", f"ls -A {BACKUP_DIR}").stdout.split()
    finally:
        lab.sh("docker8", f"umount {BACKUP_DIR}")
    assert rc != 0
    msg = task_results(data, SAVE_TASK)["docker8"]["msg"]
    assert msg.startswith(f"not enough free space in {BACKUP_DIR}")
    assert leftovers == []


def test_damaged_snapshots_fail_verification(lab, clean_backups, tmp_path):
    rc, data, err = backup(lab, tmp_path, "-e", "etcd_backup_trial_restore=false")
    assert rc == 0, err
    name = Path(task_results(data, SAVE_TASK)["docker8"]["snapshot"]).name
    good = tmp_path / "kubernetes" / name
    flipped, truncated = tmp_path / "flipped.db", tmp_path / "truncated.db"
    body = bytearray(good.read_bytes())
    body[len(body) // 2] ^= 0xFF
    flipped.write_bytes(bytes(body))
    truncated.write_bytes(good.read_bytes()[:-1000])
    for bad, words in ((flipped, "corrupt"), (truncated, "no sha256 trailer")):
        shutil.copy(good.with_name(name + ".json"), bad.with_name(bad.name + ".json"))
        rc, out, _unused = run_ansible(
            "ansible", "localhost", "-m", "kubedr.etcd.etcd_snapshot_verify", "-a", f"path={bad}"
        )
        assert rc != 0
        result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
        assert words in result["msg"], result["msg"]


def test_an_interrupted_copy_is_not_filed(lab, clean_backups, tmp_path):
    rc, data, err = backup(lab, tmp_path, "-e", "etcd_backup_trial_restore=false")
    assert rc == 0, err
    name = Path(task_results(data, SAVE_TASK)["docker8"]["snapshot"]).name
    filed = tmp_path / "kubernetes"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    dest = tmp_path / "dest"
    meta = json.loads((filed / (name + ".json")).read_text())
    for archive in meta["control_plane_archives"]:
        shutil.copy(filed / archive["file"], incoming)
    shutil.copy(filed / (name + ".json"), incoming)
    (incoming / name).write_bytes((filed / name).read_bytes()[: meta["snapshot"]["size"] // 2])
    rc, out, _unused = run_ansible(
        "ansible",
        "localhost",
        "-m",
        "kubedr.etcd.etcd_backup_receive",
        "-a",
        f"incoming_dir={incoming} dest_dir={dest} snapshot={name}",
    )
    assert rc != 0
    assert "interrupted" in out["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert not dest.exists() or backup_files(sorted(p.name for p in dest.iterdir())) == []
    assert not (incoming / name).exists()


# -- encryption at rest (age) ----------------------------------------------------------


def stored_files(directory):
    return {
        p.name: sha256_file(p) for p in sorted(directory.iterdir()) if not p.name.startswith(".")
    }


def test_encrypted_backups_leave_the_masters_encrypted(lab, clean_backups, tmp_path):
    if lab.etcd_version != "3.5":
        pytest.skip("encryption does not depend on the etcd version; run on the 3.5 lab")
    key = make_age_key(tmp_path)
    lab.cli("seed", "--size", "1MiB", "--seed", "13")
    before = lab.digest()
    encrypt = ["-e", json.dumps({"etcd_backup_age_recipients": [key.recipient]})]
    remote = [
        "-e",
        "etcd_backup_remote_group=backup_hosts",
        "-e",
        "etcd_backup_trial_restore=false",
    ]
    rc, data, err = backup(lab, tmp_path, *encrypt, *remote)
    assert rc == 0, err
    name = Path(task_results(data, SAVE_TASK)["docker8"]["snapshot"]).name
    stamp = name.removeprefix("etcd-snapshot-").removesuffix(".db")

    # Off the masters only encrypted files and the record in the clear; the same on backup1.
    controller = tmp_path / "kubernetes"
    archives = [f"kubernetes-{m}-{stamp}.tar.gz.age" for m in lab.names]
    assert sorted(stored_files(controller)) == sorted([*archives, f"{name}.age", f"{name}.json"])
    remote_dir = lab.host_dir("backup1") / "var-backups" / "kubedr-etcd" / "kubernetes"
    assert stored_files(remote_dir) == stored_files(controller)
    record = json.loads((controller / f"{name}.json").read_text())
    assert record["encryption"]["recipients"] == [key.recipient]
    assert record["encryption"]["files"][name]["sha256"] == sha256_file(controller / f"{name}.age")
    # The master keeps its own copy in the clear.
    assert name in files_on(lab, "docker8")

    # By hand, with the identity file only: the snapshot restores every key and value.
    plain = tmp_path / name
    subprocess.run(
        ["age", "-d", "-i", str(key.identity), "-o", str(plain), str(controller / f"{name}.age")],
        check=True,
    )
    assert sha256_file(plain) == record["snapshot"]["sha256"]
    restored = restored_digest(lab, plain, tmp_path)
    assert_same_data(restored, before)

    # Retention prunes encrypted backups whole, in every place.
    rc, data, err = backup(lab, tmp_path, *encrypt, *remote, "-e", "etcd_backup_keep_last=1")
    assert rc == 0, err
    newer = Path(task_results(data, SAVE_TASK)["docker8"]["snapshot"]).name
    assert newer != name
    for directory in (controller, remote_dir):
        names = sorted(stored_files(directory))
        assert f"{newer}.age" in names and len(names) == len(lab.names) + 2, names
        assert not any(stamp in n for n in names), names


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"etcd_backup_age_recipients": ["age1notakey"]}, "malformed recipient"),
        (
            {"etcd_backup_age_recipients_files": ["/nonexistent/recipients.txt"]},
            "cannot read recipients file /nonexistent/recipients.txt",
        ),
        (
            {"etcd_backup_age_recipients": ["age1x"], "etcd_backup_age_command": "/opt/none/age"},
            "age command /opt/none/age does not exist or is not executable",
        ),
    ],
)
def test_bad_encryption_settings_stop_before_anything(lab, clean_backups, tmp_path, setting, words):
    if lab.etcd_version != "3.5":
        pytest.skip("encryption does not depend on the etcd version; run on the 3.5 lab")
    rc, data, _unused = backup(lab, tmp_path, "-e", json.dumps(setting))
    assert rc != 0
    assert words in json.dumps(data)
    assert not (tmp_path / "kubernetes").exists()
    for m in lab.masters:
        assert backup_files(files_on(lab, m.name)) == []
