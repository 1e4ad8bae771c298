"""The scheduled backup script (roles/etcd_backup_schedule/files/kubedr-etcd-backup),
run as a subprocess against a real etcd (3.4 and 3.5) started on 127.0.0.1.

The script imports the collection's module_utils from an install root that
this test populates the way the role does (every plugins/module_utils/_*.py
under ansible_collections/kubedr/etcd/plugins/module_utils/), so it runs with
nothing of the checkout on its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (
    DRILL_FORMAT,
    DRILL_SUFFIX,
    textfile_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import verify_trailer
from tests.lab.pki import ClusterPKI
from tests.support.etcd_process import VERSIONS, Etcd, seed, skip_unless_installed
from tests.support.install_root import PYTHON, populate_install_root
from tests.support.metrics import samples

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "etcd_backup_schedule"
SCRIPT = ROLE / "files" / "kubedr-etcd-backup"
K8S_VERSION = "v1.31.4"


def start_etcd(version, workdir, pki=None):
    """One real etcd member "unit" (its data in ``workdir``/data) with 20 config maps;
    https with kubeadm's healthcheck-client for a client when ``pki`` (kubeadm's
    pki/etcd directory) is given."""
    tls = {}
    if pki:
        tls = {
            "pki": {"ca": pki / "ca.crt", "cert": pki / "server.crt", "key": pki / "server.key"},
            "client_tls": (
                pki / "ca.crt",
                pki / "healthcheck-client.crt",
                pki / "healthcheck-client.key",
            ),
        }
    member = Etcd(version, Path(workdir) / "data", name="unit", **tls)
    try:
        member.start(seconds=30)
        keys = [f"/registry/configmaps/default/cm-{index}" for index in range(20)]
        seed(member, keys, "x" * 200)
    except BaseException:
        member.stop()
        raise
    return member


def etcd_manifest(client_url, peer_url, etcd_version="3.5", tls_flags=()):
    """A minimal etcd.yaml in kubeadm's shape; plain http unless TLS flags are given."""
    tls = "".join(f"    - {flag}\n" for flag in tls_flags)
    return f"""apiVersion: v1
kind: Pod
metadata:
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls={client_url}
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls={peer_url}
    - --initial-cluster=unit={peer_url}
    - --listen-client-urls={client_url}
    - --listen-peer-urls={peer_url}
    - --name=unit
{tls}    image: registry.k8s.io/etcd:{VERSIONS[etcd_version]["version"]}-0
    name: etcd
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
  hostNetwork: true
  volumes:
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
"""


APISERVER_MANIFEST = f"""apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    image: registry.k8s.io/kube-apiserver:{K8S_VERSION}
    name: kube-apiserver
"""


class Site:
    """A fake master: /etc/kubernetes, a backup dir and the config, all under tmp."""

    def __init__(self, tmp, install_root, etcd, etcd_version):
        self.tmp = tmp
        self.install_root = install_root
        self.etcd_version = etcd_version
        self.kubernetes = tmp / "etc-kubernetes"
        (self.kubernetes / "manifests").mkdir(parents=True, exist_ok=True)
        (self.kubernetes / "pki" / "etcd").mkdir(parents=True, exist_ok=True)
        if not (self.kubernetes / "pki" / "etcd" / "ca.crt").exists():
            (self.kubernetes / "pki" / "etcd" / "ca.crt").write_text("not a real CA\n")
        (self.kubernetes / "admin.conf").write_text("apiVersion: v1\nkind: Config\n")
        (self.kubernetes / "manifests" / "kube-apiserver.yaml").write_text(APISERVER_MANIFEST)
        (self.kubernetes / "manifests" / "etcd.yaml").write_text(
            etcd_manifest(etcd.client, etcd.peer, etcd_version, etcd.tls_flags())
        )
        self.dest = tmp / "backups"
        self.config_path = tmp / "backup.json"
        self.config = {
            "dest_dir": str(self.dest),
            "manifest_path": str(self.kubernetes / "manifests" / "etcd.yaml"),
            "kubernetes_dir": str(self.kubernetes),
            "keep_last": None,
            "keep_days": None,
            "trial_restore": True,
            "save_timeout": 120,
            "collection_version": "0.1.0",
        }
        self.write_config()

    def write_config(self, **overrides):
        self.config.update(overrides)
        self.config_path.write_text(json.dumps(self.config, indent=2))

    def env(self):
        # Only this etcd version's tools are on PATH (the script also looks in
        # /usr/local/bin and /usr/bin, where this machine has etcdctl 3.4 only).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ETCDCTL"))}
        env["PATH"] = f"{VERSIONS[self.etcd_version]['bin']}:/usr/bin:/bin"
        env["KUBEDR_ETCD_INSTALL_ROOT"] = str(self.install_root)
        return env

    def run(self, *args, python=PYTHON, timeout=300):
        return subprocess.run(
            [python, str(SCRIPT), "--config", str(self.config_path), *args],
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def files(self):
        """Names in the backup dir (the lock file aside), or None when it does not exist."""
        if not self.dest.exists():
            return None
        return sorted(p.name for p in self.dest.iterdir())

    def backups(self):
        return sorted(p.name for p in self.dest.glob("etcd-snapshot-*.db"))


def run_ok(site, *args):
    proc = site.run(*args)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    return proc


def one_error_line(proc):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kubedr-etcd-backup: "), lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def next_second():
    """Backups are named to the second: let the clock move on before the next one."""
    time.sleep(1.05 - (time.time() % 1))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["3.4", "3.5"], ids=lambda v: f"etcd{v}")
def etcd_version(request):
    skip_unless_installed(request.param)
    return request.param


@pytest.fixture(scope="module")
def install_root(tmp_path_factory):
    return populate_install_root(tmp_path_factory.mktemp("install-root"))


@pytest.fixture(scope="module")
def etcd(etcd_version, tmp_path_factory):
    member = start_etcd(etcd_version, tmp_path_factory.mktemp(f"etcd{etcd_version}"))
    yield member
    member.stop()


@pytest.fixture
def site(tmp_path, install_root, etcd, etcd_version):
    return Site(tmp_path, install_root, etcd, etcd_version)


# --------------------------------------------------------------------------
# Tests against a running etcd
# --------------------------------------------------------------------------


def test_backup_writes_snapshot_metadata_and_archive(site, etcd):
    proc = run_ok(site)
    files = site.files()
    snapshots = [f for f in files if f.endswith(".db")]
    archives = [f for f in files if f.endswith(".tar.gz")]
    assert len(snapshots) == 1 and len(archives) == 1, files
    snapshot = snapshots[0]
    assert files == sorted([snapshot, snapshot + ".json", archives[0]])
    stamp = snapshot[len("etcd-snapshot-") : -len(".db")]
    assert archives[0] == f"kubernetes-{socket.gethostname()}-{stamp}.tar.gz"
    for name in files:
        assert (site.dest / name).stat().st_mode & 0o777 == 0o600, name
    assert site.dest.stat().st_mode & 0o777 == 0o700

    # The snapshot is what `snapshot save` wrote: its sha256 trailer verifies.
    verified = verify_trailer(site.dest / snapshot)
    metadata = json.loads((site.dest / (snapshot + ".json")).read_text())
    assert metadata["format"] == "kubedr.etcd/snapshot-metadata/v1"
    assert metadata["snapshot"]["file"] == snapshot
    assert metadata["snapshot"]["sha256"] == verified["sha256"]
    assert metadata["snapshot"]["total_key"] >= 20
    assert metadata["trial_restore"] is True
    assert metadata["source_host"] == socket.gethostname()
    assert metadata["kubernetes_version"] == K8S_VERSION
    assert metadata["collection_version"] == "0.1.0"
    assert metadata["etcd"]["version"].startswith(etcd.version)
    assert [m["name"] for m in metadata["etcd"]["members"]] == ["unit"]
    # ... and it lists the archive of the same run, which holds /etc/kubernetes.
    (archive,) = metadata["control_plane_archives"]
    assert archive["file"] == archives[0]
    assert archive["host"] == socket.gethostname()
    assert archive["sha256"] == sha256(site.dest / archives[0])
    assert archive["size"] == (site.dest / archives[0]).stat().st_size
    listing = subprocess.run(
        ["tar", "-tzf", str(site.dest / archives[0])], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "etc-kubernetes/manifests/etcd.yaml" in listing
    assert "etc-kubernetes/pki/etcd/ca.crt" in listing

    # One log line per step, with timings; no scratch or temporary file left.
    out = proc.stdout
    for step in (
        "locked ",
        f"member unit (etcd {VERSIONS[etcd.version]['version']}) ",
        "tools: etcdctl ",
        "archived ",
        "saved ",
        "done: ",
    ):
        assert f"kubedr-etcd-backup: {step}" in out, out
    assert "every backup is kept" in out
    assert "s)" in out and "save " in out
    assert not [p for p in site.dest.iterdir() if p.name.startswith(".")]


def test_tools_found_on_path(site, etcd_version):
    out = run_ok(site, "--dry-run").stdout
    spec = VERSIONS[etcd_version]
    assert f"etcdctl {spec['version']} ({spec['bin']}/etcdctl)" in out
    if etcd_version == "3.5":
        assert f"etcdutl 3.5.16 ({spec['bin']}/etcdutl)" in out
    else:
        assert "etcdutl none" in out


def test_retention_keep_last_2_over_3_runs_leaves_2(site):
    site.write_config(keep_last=2)
    made = []
    for _unused in range(3):
        next_second()
        run_ok(site)
        (new,) = set(site.backups()) - set(made)
        made.append(new)
    assert site.backups() == sorted(made[1:])
    expected = []
    for snapshot in made[1:]:
        metadata = json.loads((site.dest / (snapshot + ".json")).read_text())
        expected += [snapshot, snapshot + ".json", metadata["control_plane_archives"][0]["file"]]
    # the oldest snapshot, its metadata and the archive its metadata listed are gone
    assert site.files() == sorted(expected)
    next_second()
    proc = run_ok(site, "--dry-run")
    assert "would keep 2, prune 1" in proc.stdout


def test_metrics_after_every_run_and_drill_records_pruned_with_their_backup(site, tmp_path):
    textfiles = tmp_path / "textfile"
    site.write_config(keep_last=1, metrics_dir=str(textfiles))
    next_second()
    first_out = run_ok(site).stdout
    (first,) = site.backups()
    drill = site.dest / f"{first}{DRILL_SUFFIX}"
    drill.write_text(json.dumps({"format": DRILL_FORMAT, "result": "pass", "finished_epoch": 1}))
    next_second()
    run_ok(site)
    (second,) = site.backups()
    assert second != first and not drill.exists()
    (prom,) = textfiles.iterdir()
    assert prom.name == textfile_name(str(site.dest))
    assert f"metrics: {prom}: 1 backups" in first_out
    values = samples(prom.read_text())
    record = json.loads((site.dest / f"{second}.json").read_text())
    assert values["kubedr_etcd_backups_stored"] == 1
    assert values["kubedr_etcd_backup_last_revision"] == record["snapshot"]["revision"]
    assert values["kubedr_etcd_backup_last_size_bytes"] == record["snapshot"]["size"]
    assert values["kubedr_etcd_drill_last_timestamp_seconds"] == 0  # its drill went with it
    assert abs(values["kubedr_etcd_backup_last_success_timestamp_seconds"] - time.time()) < 60


def test_retention_keeps_incomplete_and_foreign_files(site):
    site.dest.mkdir(mode=0o700)
    foreign = ["etcd-snapshot-20200101T000000Z.db", "kubernetes-other-20200101T000000Z.tar.gz"]
    for name in foreign:
        (site.dest / name).write_bytes(b"not ours")
    site.write_config(keep_last=1)
    next_second()
    run_ok(site)
    next_second()
    out = run_ok(site).stdout
    assert "pruned 1" in out and "1 incomplete left alone" in out
    files = site.files()
    assert all(name in files for name in foreign)
    assert len([f for f in files if f.endswith(".db.json")]) == 1


def test_etcd_stopped_fails_with_one_line_and_leaves_nothing(tmp_path, install_root, etcd_version):
    stopped = start_etcd(etcd_version, tmp_path / "etcd")
    try:
        site = Site(tmp_path / "site", install_root, stopped, etcd_version)
    finally:
        stopped.stop()
    proc = site.run()
    line = one_error_line(proc)
    assert "no healthy etcd member" in line or "could not check the health" in line, line
    assert stopped.client in line
    # the archive it made before the save failed was removed again
    assert site.files() == []
    assert "archived " in proc.stdout


def test_failed_run_still_writes_metrics(tmp_path, install_root, etcd_version):
    stopped = start_etcd(etcd_version, tmp_path / "etcd")
    try:
        site = Site(tmp_path / "site", install_root, stopped, etcd_version)
    finally:
        stopped.stop()
    site.write_config(metrics_dir=str(tmp_path / "textfile"))
    line = one_error_line(site.run())
    assert "no healthy etcd member" in line or "could not check the health" in line, line
    (prom,) = (tmp_path / "textfile").iterdir()
    values = samples(prom.read_text())
    assert values["kubedr_etcd_backups_stored"] == 0
    assert values["kubedr_etcd_backup_last_success_timestamp_seconds"] == 0


def test_a_second_run_waits_for_nothing_while_the_lock_is_held(site):
    site.dest.mkdir(mode=0o700)
    held = os.open(site.dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        proc = run_ok(site)
        assert time.monotonic() - started < 10
        assert "another backup is running" in proc.stdout
        assert site.files() == []
    finally:
        os.close(held)
    # the lock is free again: the next run backs up
    run_ok(site)
    assert len(site.backups()) == 1


def test_dry_run_writes_nothing(site):
    proc = run_ok(site, "--dry-run")
    assert not site.dest.exists()
    out = proc.stdout
    assert "dry run: would archive " in out and "dry run: would save " in out
    assert "nothing was written" in out

    site.write_config(keep_last=1)
    run_ok(site)
    before = {p.name: p.stat().st_mtime_ns for p in site.dest.iterdir()}
    next_second()
    out = run_ok(site, "--dry-run").stdout
    assert "would keep 1, prune 1: etcd-snapshot-" in out
    assert {p.name: p.stat().st_mtime_ns for p in site.dest.iterdir()} == before


def test_runs_on_python_39(site):
    candidates = [
        shutil.which("python3.9"),
        *map(str, Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")),
    ]
    usable = [
        c
        for c in candidates
        if c and subprocess.run([c, "-c", ""], capture_output=True, check=False).returncode == 0
    ]
    if not usable:
        pytest.skip("no python3.9 on this machine")
    python39 = usable[0]
    proc = site.run(python=python39)
    assert proc.returncode == 0, proc.stderr
    assert len(site.backups()) == 1


@pytest.fixture
def tls_site(tmp_path, install_root, etcd_version):
    """A member over https with client certificates, its pki written as kubeadm does."""
    kubernetes = tmp_path / "site" / "etc-kubernetes"
    ClusterPKI(tmp_path / "cluster-pki").write_master(kubernetes, "unit", "127.0.0.1")
    member = start_etcd(etcd_version, tmp_path / "etcd", pki=kubernetes / "pki" / "etcd")
    try:
        yield Site(tmp_path / "site", install_root, member, etcd_version)
    finally:
        member.stop()


def test_tls_member_with_kubeadm_healthcheck_client(tls_site):
    pki = tls_site.kubernetes / "pki" / "etcd"
    out = run_ok(tls_site).stdout
    assert f"TLS: ca {pki / 'ca.crt'}" in out
    (snapshot,) = tls_site.backups()
    verify_trailer(tls_site.dest / snapshot)

    # without kubeadm's healthcheck-client pair, and none configured: a clear failure
    for name in ("healthcheck-client.crt", "healthcheck-client.key"):
        (pki / name).rename(tls_site.tmp / name)
    line = one_error_line(tls_site.run())
    assert "etcd requires a client certificate" in line and "set cert_file and key_file" in line
    # ... and a certificate of the config's choosing works
    tls_site.write_config(
        cert_file=str(tls_site.tmp / "healthcheck-client.crt"),
        key_file=str(tls_site.tmp / "healthcheck-client.key"),
    )
    next_second()
    run_ok(tls_site)
    assert len(tls_site.backups()) == 2


# --------------------------------------------------------------------------
# Failures before etcd is asked anything (no etcd needed)
# --------------------------------------------------------------------------


@pytest.fixture
def offline_site(tmp_path, install_root):
    class NoEtcd:
        client = "http://127.0.0.1:9"
        peer = "http://127.0.0.1:10"

        def tls_flags(self):
            return []

    return Site(tmp_path, install_root, NoEtcd(), "3.4")


def test_missing_config(offline_site):
    offline_site.config_path.unlink()
    line = one_error_line(offline_site.run())
    assert f"config {offline_site.config_path} does not exist" in line


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"keep_lats": 3}, "unknown key(s) keep_lats"),
        ({"keep_last": 0}, "keep_last=0 would delete every backup"),
        ({"keep_last": "3"}, "keep_last is '3', expected a whole number or null"),
        ({"trial_restore": "yes"}, "trial_restore is 'yes'"),
        ({"dest_dir": "backups"}, "dest_dir='backups' is not an absolute path"),
        ({"endpoints": []}, "endpoints must be a non-empty list"),
    ],
)
def test_bad_config_is_named(offline_site, overrides, needle):
    offline_site.write_config(**overrides)
    line = one_error_line(offline_site.run())
    assert needle in line, line
    assert offline_site.files() is None


def test_broken_manifest_fails_before_archiving(offline_site):
    Path(offline_site.config["manifest_path"]).write_text("apiVersion: apps/v1\nkind: Deployment\n")
    line = one_error_line(offline_site.run())
    assert "cannot read the etcd member from" in line and "Deployment" in line, line
    assert offline_site.files() == []


def test_missing_install_root(offline_site, tmp_path):
    proc = offline_site.run("--install-root", str(tmp_path / "nowhere"))
    line = one_error_line(proc)
    assert "the kubedr.etcd code is not installed under" in line


def test_configured_etcdctl_must_exist(offline_site):
    offline_site.write_config(etcdctl_path="/nonexistent/etcdctl")
    line = one_error_line(offline_site.run())
    assert "etcdctl_path=/nonexistent/etcdctl: there is no executable file there" in line
    assert offline_site.files() == []
