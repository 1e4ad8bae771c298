"""Unit tests of _backup against real etcd (3.4 and 3.5) on 127.0.0.1.

``EtcdCluster`` starts a small cluster of real etcd processes on free ports in a
temporary directory (plain http unless a PKI is given); the module tests of
etcd_snapshot use it too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _backup
from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (
    BackupError,
    save_verified_snapshot,
    trial_restore,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    check,
    client_env,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_status,
    parse_member_list,
    parse_snapshot_status,
    snapshot_save_argv,
    snapshot_status_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    compare_with_metadata,
    load_metadata,
    metadata_path,
    verify_trailer,
)

pytestmark = pytest.mark.timeout(180)

UTC = dt.timezone.utc  # noqa: UP017 - the code under test supports Python 3.9
WHEN = dt.datetime(2026, 11, 26, 3, tzinfo=UTC)
NAME = "etcd-snapshot-20261126T030000Z.db"
NO_TLS = (None, None, None)
VERSIONS = {
    "3.4": {"bin": Path("/usr/bin"), "version": "3.4.23", "etcdutl": False},
    "3.5": {
        "bin": Path("/opt/kubedr-lab/etcd-3.5.16/usr/bin"),
        "version": "3.5.16",
        "etcdutl": True,
    },
}
SEEDED_KEYS = 20


def free_ports(count):
    """Distinct free ports (all held open until all are chosen)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def binaries(version):
    spec = VERSIONS[version]
    names = ["etcd", "etcdctl"] + (["etcdutl"] if spec["etcdutl"] else [])
    return {name: spec["bin"] / name for name in names}


def missing_binaries(version):
    return [str(path) for path in binaries(version).values() if not path.exists()]


def tools_for(version):
    """The kubedr_etcd_tools fact shape for one etcd release."""
    spec, found = VERSIONS[version], binaries(version)
    entry = {"version": spec["version"]}
    return {
        "etcdctl": {"path": str(found["etcdctl"]), **entry},
        "etcdutl": {"path": str(found["etcdutl"]), **entry} if "etcdutl" in found else None,
    }


def listing(directory):
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else None


class EtcdCluster:
    """Real etcd members on 127.0.0.1. ``pki``: {'ca', 'cert', 'key'} server files (clients
    must then present a certificate signed by that CA); peers always talk plain http."""

    def __init__(self, version, directory, names=("m1", "m2", "m3"), pki=None, client_tls=NO_TLS):
        self.version = version
        self.directory = Path(directory)
        self.names = list(names)
        self.pki = pki
        self.tls = client_tls
        self.tools = tools_for(version)
        self.etcdctl = self.tools["etcdctl"]["path"]
        self.procs = {}
        ports = free_ports(2 * len(self.names))
        scheme = "https" if pki else "http"
        self.clients = {
            name: f"{scheme}://127.0.0.1:{ports[2 * i]}" for i, name in enumerate(self.names)
        }
        self.peers = {
            name: f"http://127.0.0.1:{ports[2 * i + 1]}" for i, name in enumerate(self.names)
        }

    @property
    def urls(self):
        return [self.clients[name] for name in self.names]

    def env(self, urls=None):
        return client_env(urls or self.urls, *self.tls, dial_timeout="2s", command_timeout="5s")

    def start(self):
        cluster = ",".join(f"{name}={self.peers[name]}" for name in self.names)
        for name in self.names:
            argv = [
                str(binaries(self.version)["etcd"]),
                f"--name={name}",
                f"--data-dir={self.directory / name}",
                f"--listen-client-urls={self.clients[name]}",
                f"--advertise-client-urls={self.clients[name]}",
                f"--listen-peer-urls={self.peers[name]}",
                f"--initial-advertise-peer-urls={self.peers[name]}",
                f"--initial-cluster={cluster}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=kubedr-unit",
            ]
            if self.pki:
                argv += [
                    f"--cert-file={self.pki['cert']}",
                    f"--key-file={self.pki['key']}",
                    f"--trusted-ca-file={self.pki['ca']}",
                    "--client-cert-auth",
                ]
            with open(self.directory / f"{name}.log", "wb") as log:
                self.procs[name] = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
        return self.wait_healthy(60)

    def wait_healthy(self, seconds, names=None):
        """True once every member in ``names`` (default all) answers a health check."""
        urls = [self.clients[name] for name in names or self.names]
        argv = [self.etcdctl, "endpoint", "health"]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in self.procs.values()):
                return False
            proc = subprocess.run(argv, env={**os.environ, **self.env(urls)}, capture_output=True)
            if proc.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def logs(self):
        return "\n".join(
            f"--- {name}\n{(self.directory / f'{name}.log').read_text()[-1500:]}"
            for name in self.names
        )

    def stop(self):
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    @contextlib.contextmanager
    def paused(self, name):
        """SIGSTOP one member (it hangs: accepts connections, never answers), SIGCONT after."""
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            assert self.wait_healthy(30), f"etcd {name} did not come back:\n{self.logs()}"

    def put(self, key, value):
        check([self.etcdctl, "put", key, value], env=self.env(), timeout=30)

    def status(self, name):
        env = self.env([self.clients[name]])
        return parse_endpoint_status(check(endpoint_status_argv(self.etcdctl), env, 30))[0]

    def members(self):
        return parse_member_list(check(member_list_argv(self.etcdctl), self.env(), 30))


def start_cluster(version, tmp_path_factory, **kwargs):
    """A started EtcdCluster (new ports on a clash), or pytest.skip without the binaries."""
    missing = missing_binaries(version)
    if missing:
        pytest.skip(f"etcd {version} is not installed here: no {', '.join(missing)}")
    for _attempt in range(3):
        cluster = EtcdCluster(version, tmp_path_factory.mktemp(f"etcd-{version}"), **kwargs)
        if cluster.start():
            return cluster
        logs = cluster.logs()
        cluster.stop()
    pytest.fail(f"etcd {version} did not start:\n{logs}")


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def cluster(request, tmp_path_factory):
    """Three etcd members of one release, plain http, with some keys."""
    started = start_cluster(request.param, tmp_path_factory)
    request.addfinalizer(started.stop)
    for index in range(SEEDED_KEYS):
        started.put(f"/registry/pods/default/p{index}", "x" * 100)
    return started


def save(cluster, dest, **kwargs):
    args = {
        "tools": cluster.tools,
        "endpoints": cluster.urls,
        "tls": NO_TLS,
        "dest_dir": str(dest),
        "source_host": "cp-1",
        "when": WHEN,
        "save_timeout": 120,
    }
    args.update(kwargs)
    return save_verified_snapshot(**args)


# --------------------------------------------------------------------------


def test_plain_http_env_has_no_tls_files():
    env = client_env(["http://127.0.0.1:2379"], *NO_TLS)
    assert env == {
        "ETCDCTL_API": "3",
        "ETCDCTL_ENDPOINTS": "http://127.0.0.1:2379",
        "ETCDCTL_DIAL_TIMEOUT": "3s",
        "ETCDCTL_COMMAND_TIMEOUT": "10s",
    }


def test_saved_snapshot_verifies_and_records_the_cluster(cluster, tmp_path):
    dest = tmp_path / "backups"
    archives = [
        {"host": "cp-1", "file": "kubernetes-cp-1-x.tar.gz", "size": 9, "sha256": "ab" * 32}
    ]
    revision = cluster.status("m1")["revision"]
    result = save(
        cluster,
        dest,
        preferred_endpoint=cluster.clients["m2"],
        kubernetes_version="v1.31.2",
        collection_version="0.1.0",
        control_plane_archives=archives,
    )
    snapshot = dest / NAME
    assert result["snapshot"] == str(snapshot)
    assert result["metadata_file"] == f"{snapshot}.json"
    assert result["endpoint"] == cluster.clients["m2"]
    assert result["notes"] == []
    assert set(result["timings"]) == {"choose_member", "save", "verify", "trial_restore", "total"}
    # no temporary file, no trial restore directory left
    assert listing(dest) == [NAME, f"{NAME}.json"]
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(f"{snapshot}.json").st_mode) == 0o600

    record = load_metadata(metadata_path(str(snapshot)))
    assert record == result["metadata"]
    assert compare_with_metadata(verify_trailer(str(snapshot)), record) == []
    status = parse_snapshot_status(
        check(snapshot_status_argv(cluster.tools, str(snapshot)), {"ETCDCTL_API": "3"}, 60)
    )
    members = cluster.members()
    assert record["snapshot"]["revision"] == revision == status["revision"]
    assert record["snapshot"]["total_key"] == status["total_key"] > SEEDED_KEYS
    assert record["snapshot"]["hash"] == status["hash"]
    assert record["etcd"]["version"] == VERSIONS[cluster.version]["version"]
    assert record["etcd"]["cluster_id"] == members["cluster_id"]
    assert sorted(
        (member["name"], tuple(member["peer_urls"])) for member in record["etcd"]["members"]
    ) == [(name, (cluster.peers[name],)) for name in ("m1", "m2", "m3")]
    assert {member["id"] for member in record["etcd"]["members"]} == {
        member["id"] for member in members["members"]
    }
    assert record["trial_restore"] is True
    assert record["source_host"] == "cp-1"
    assert record["kubernetes_version"] == "v1.31.2"
    assert record["collection_version"] == "0.1.0"
    assert record["created"] == "2026-11-26T03:00:00Z"
    assert record["control_plane_archives"] == archives


def test_trial_restore_leaves_no_scratch(cluster, tmp_path):
    snapshot = tmp_path / NAME
    check(
        snapshot_save_argv(cluster.etcdctl, str(snapshot)),
        cluster.env([cluster.clients["m1"]]),
        60,
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seconds = trial_restore(cluster.tools, str(snapshot), str(scratch), cluster.version, 60)
    assert 0 < seconds < 60
    assert listing(scratch) == []

    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=rf"^trial restore of {snapshot} failed: trial restore"):
        trial_restore(cluster.tools, str(snapshot), str(scratch), cluster.version, 60)
    assert listing(scratch) == []


def test_hanging_preferred_member_is_skipped(cluster, tmp_path):
    dest = tmp_path / "backups"
    hanging, other = cluster.clients["m1"], cluster.clients["m2"]
    with cluster.paused("m1"):
        started = time.monotonic()
        result = save(
            cluster,
            dest,
            endpoints=[hanging, other],
            preferred_endpoint=hanging,
            do_trial_restore=False,
        )
        took = time.monotonic() - started
    assert result["endpoint"] == other
    assert result["notes"] == [f"{hanging} skipped: context deadline exceeded"]
    assert took < 12, f"choosing past a hanging member took {took:.1f}s"
    assert result["metadata"]["trial_restore"] is None
    assert listing(dest) == [NAME, f"{NAME}.json"]


def test_all_endpoints_down(cluster, tmp_path):
    dest = tmp_path / "backups"
    down = [f"http://127.0.0.1:{port}" for port in free_ports(2)]
    with pytest.raises(BackupError) as caught:
        save(cluster, dest, endpoints=down)
    assert str(caught.value) == (
        f"no healthy etcd member: {down[0]}: context deadline exceeded; {down[1]}: context"
        " deadline exceeded; nothing was saved"
    )
    assert listing(dest) is None


@pytest.mark.parametrize("existing", [NAME, f"{NAME}.json"])
def test_existing_final_name_is_refused(cluster, tmp_path, existing):
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / existing).write_bytes(b"an earlier backup")
    with pytest.raises(BackupError) as caught:
        save(cluster, dest, do_trial_restore=False)
    assert str(caught.value) == f"{dest / NAME} exists already; a backup is never overwritten"
    assert listing(dest) == [existing]
    assert (dest / existing).read_bytes() == b"an earlier backup"


def test_save_timeout(cluster, tmp_path, monkeypatch):
    dest = tmp_path / "backups"
    member = cluster.clients["m3"]
    info = _backup.cluster_info(cluster.tools["etcdctl"], member, NO_TLS)
    # the health check passed and the cluster was read; then the member hangs
    monkeypatch.setattr(_backup, "pick_endpoint", lambda *_a, **_k: (member, []))
    monkeypatch.setattr(_backup, "cluster_info", lambda *_a, **_k: info)
    with cluster.paused("m3"):
        started = time.monotonic()
        with pytest.raises(BackupError) as caught:
            save(cluster, dest, save_timeout=3)
        took = time.monotonic() - started
    temp = dest / f".{NAME}.tmp"
    assert str(caught.value) == (
        f"'{cluster.etcdctl} snapshot save {temp}' did not finish in 3s; is the endpoint"
        " hanging?; nothing was kept"
    )
    assert took < 10
    assert listing(dest) == []


def test_not_enough_space(cluster, tmp_path, monkeypatch):
    dest = tmp_path / "backups"
    monkeypatch.setattr(_backup, "free_bytes", lambda _path: 1)
    with pytest.raises(BackupError) as caught:
        save(cluster, dest)
    message = str(caught.value)
    assert message.startswith(f"not enough free space in {dest}: 0.0 MiB free, about ")
    assert ", plus a trial restore); free some space or choose another backup directory;" in (
        message
    )
    assert message.endswith("nothing was saved")
    assert listing(dest) == []
