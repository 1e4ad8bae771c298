"""Real etcd processes (3.4 and 3.5) for the unit tests, on free ports of 127.0.0.1.

``running_cluster`` gives a started ``EtcdCluster`` of one or more members and stops it
afterwards; ``Etcd`` is one member that a test stops and starts again on its data dir.
Either serves plain http, or https with client certificate auth when given a PKI; peers
always talk plain http. Every etcd runs in a session of its own (``start_new_session``)
and is stopped, with its whole process group, by the ``stop`` of what started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    check,
    client_env,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_status,
    parse_member_list,
)
from tests.support.ports import free_ports

# Where the lab installs each release (tests/lab/install-deps.sh; KUBEDR_LAB_ETCD35_DIR as
# in tests/lab/lab.py).
VERSIONS = {
    "3.4": {"bin": Path("/usr/bin"), "version": "3.4.23", "etcdutl": False},
    "3.5": {
        "bin": Path(os.environ.get("KUBEDR_LAB_ETCD35_DIR", "/opt/kubedr-lab/etcd-3.5.16/usr/bin")),
        "version": "3.5.16",
        "etcdutl": True,
    },
}
NO_TLS = (None, None, None)  # (cacert, cert, key) of a plain http client
HEALTHY_WITHIN = 60  # seconds a new etcd has to answer a health check


def binaries(version):
    """{'etcd', 'etcdctl'[, 'etcdutl']: Path} of one release."""
    spec = VERSIONS[version]
    names = ["etcd", "etcdctl"] + (["etcdutl"] if spec["etcdutl"] else [])
    return {name: spec["bin"] / name for name in names}


def missing_binaries(version):
    return [str(path) for path in binaries(version).values() if not path.exists()]


def skip_unless_installed(version):
    """pytest.skip the test when a binary of this release is missing here."""
    missing = missing_binaries(version)
    if missing:
        pytest.skip(f"etcd {version} is not installed here: no {', '.join(missing)}")


def tools_for(version):
    """The kubedr_etcd_tools fact shape for one etcd release."""
    spec, found = VERSIONS[version], binaries(version)
    entry = {"version": spec["version"]}
    return {
        "etcdctl": {"path": str(found["etcdctl"]), **entry},
        "etcdutl": {"path": str(found["etcdutl"]), **entry} if "etcdutl" in found else None,
    }


def pod_keys(count):
    """``count`` keys shaped like pods, in sorted order: /registry/pods/default/p00, ..."""
    return [f"/registry/pods/default/p{index:02d}" for index in range(count)]


def seed(member, keys, value="x" * 100):
    """Put ``value`` at each of ``keys`` (``member``: an EtcdCluster or an Etcd)."""
    for key in keys:
        member.put(key, value)


def tls_flags(pki):
    """etcd's flags for https with client certificate auth; ``pki``: {'ca', 'cert', 'key'}
    server files (kubeadm's spelling, as a manifest has them)."""
    if not pki:
        return []
    return [
        f"--cert-file={pki['cert']}",
        f"--key-file={pki['key']}",
        f"--trusted-ca-file={pki['ca']}",
        "--client-cert-auth=true",
    ]


def etcd_argv(version, name, data_dir, client, peer, initial_cluster, split_flag=False):
    """The command line of a new member; ``split_flag`` passes ``--data-dir DIR`` instead
    of ``--data-dir=DIR``."""
    flag = ["--data-dir", str(data_dir)] if split_flag else [f"--data-dir={data_dir}"]
    return [
        str(binaries(version)["etcd"]),
        f"--name={name}",
        *flag,
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={initial_cluster}",
        "--initial-cluster-state=new",
        "--initial-cluster-token=kubedr-unit",
    ]


def spawn(argv, log, mode="wb"):
    """Start ``argv`` in a session of its own, stderr into the file ``log``."""
    with open(log, mode) as handle:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            start_new_session=True,
        )


def stop_session(proc, grace=0):
    """Stop ``proc`` and its process group: SIGTERM and up to ``grace`` seconds for it to
    exit when ``grace``, then SIGCONT (it may be paused) and SIGKILL; reap it."""
    if grace and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_healthy(etcdctl, env, procs, seconds):
    """True once ``etcdctl endpoint health`` passes with ``env`` (its ETCDCTL_* settings);
    False as soon as one of ``procs`` has exited, or after ``seconds``."""
    argv = [etcdctl, "endpoint", "health"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            return False
        if (
            subprocess.run(
                argv, env={**os.environ, **env}, capture_output=True, check=False
            ).returncode
            == 0
        ):
            return True
        time.sleep(0.2)
    return False


class EtcdCluster:
    """Real etcd members on 127.0.0.1, each in ``directory``/<name> (log: <name>.log).
    ``pki``: {'ca', 'cert', 'key'} server files (clients must then present a certificate
    signed by that CA); ``client_tls``: the (cacert, cert, key) its clients use."""

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
        """Start every member; True once all answer (False: one died, or time ran out)."""
        cluster = ",".join(f"{name}={self.peers[name]}" for name in self.names)
        for name in self.names:
            argv = etcd_argv(
                self.version,
                name,
                self.directory / name,
                self.clients[name],
                self.peers[name],
                cluster,
            )
            self.procs[name] = spawn(argv + tls_flags(self.pki), self.directory / f"{name}.log")
        return self.wait_healthy(HEALTHY_WITHIN)

    def wait_healthy(self, seconds, names=None):
        """True once every member in ``names`` (default all) answers a health check."""
        urls = [self.clients[name] for name in names or self.names]
        return wait_healthy(self.etcdctl, self.env(urls), self.procs.values(), seconds)

    def logs(self):
        return "\n".join(
            f"--- {name}\n{(self.directory / f'{name}.log').read_text()[-1500:]}"
            for name in self.names
            if (self.directory / f"{name}.log").exists()
        )

    def stop(self):
        """Kill every member started (SIGKILL); safe to call again."""
        while self.procs:
            stop_session(self.procs.popitem()[1])

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


@contextlib.contextmanager
def running_cluster(version, tmp_path_factory, **kwargs):
    """A started EtcdCluster in a new temporary directory (EtcdCluster's keyword
    arguments), stopped on leaving; new ports on a clash, up to 3 tries; pytest.skip
    without the binaries, pytest.fail with the members' logs when it does not start."""
    skip_unless_installed(version)
    for _attempt in range(3):
        cluster = EtcdCluster(version, tmp_path_factory.mktemp(f"etcd-{version}"), **kwargs)
        try:
            if cluster.start():
                yield cluster
                return
            logs = cluster.logs()
        finally:
            cluster.stop()
    pytest.fail(f"etcd {version} did not start:\n{logs}")


class Etcd:
    """One etcd member on free ports of 127.0.0.1, its data in ``data_dir`` (log: the
    file beside it, <data dir name>.log). ``pki`` and ``client_tls`` as for EtcdCluster;
    ``peer``: the peer URL of a member this one restores (its port is not used for the
    client URL, although it is free). ``start`` may be called again once ``stop`` has been."""

    def __init__(self, version, data_dir, name="m1", pki=None, client_tls=NO_TLS, peer=None):
        self.version = version
        self.data_dir = Path(data_dir)
        self.name = name
        self.pki = pki
        self.tls = client_tls
        self.tools = tools_for(version)
        self.etcdctl = self.tools["etcdctl"]["path"]
        client, other = free_ports(2)
        if peer is None:
            peer = f"http://127.0.0.1:{other}"
        elif peer.endswith(f":{client}"):
            client = other
        self.client = f"{'https' if pki else 'http'}://127.0.0.1:{client}"
        self.peer = peer
        self.proc = None
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def initial_cluster(self):
        return f"{self.name}={self.peer}"

    def tls_flags(self):
        return tls_flags(self.pki)

    def start(self, split_flag=False, seconds=HEALTHY_WITHIN):
        """Start etcd and wait up to ``seconds`` for it to answer, or stop it and
        pytest.fail; ``split_flag`` passes ``--data-dir DIR`` instead of ``--data-dir=DIR``."""
        assert self.proc is None, f"etcd on {self.data_dir} runs already"
        argv = etcd_argv(
            self.version,
            self.name,
            self.data_dir,
            self.client,
            self.peer,
            self.initial_cluster,
            split_flag,
        )
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(argv + self.tls_flags(), self.log, "ab")
        try:
            healthy = wait_healthy(self.etcdctl, self.env(), [self.proc], seconds)
        except BaseException:
            self.stop()
            raise
        if healthy:
            return self
        self.stop()
        pytest.fail(f"etcd {self.version} did not start:\n{self.log.read_text()[-3000:]}")

    def env(self):
        return {**os.environ, **client_env([self.client], *self.tls, "2s", "5s")}

    def stop(self):
        """SIGTERM, and SIGKILL after 20 s; nothing when it is not running."""
        if self.proc is None:
            return
        stop_session(self.proc, grace=20)
        self.proc = None

    def put(self, key, value):
        check([self.etcdctl, "put", key, value], env=self.env(), timeout=30)

    def keys(self, prefix="/"):
        out = check(
            [self.etcdctl, "get", prefix, "--prefix", "--keys-only"], env=self.env(), timeout=30
        )
        return sorted(line for line in out.splitlines() if line.strip())

    def revision(self):
        status = check(endpoint_status_argv(self.etcdctl), env=self.env(), timeout=30)
        return parse_endpoint_status(status)[0]["revision"]

    def save(self, path):
        check([self.etcdctl, "snapshot", "save", str(path)], env=self.env(), timeout=60)
        return Path(path)
