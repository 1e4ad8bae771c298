"""The cut-over runs one master at a time, in the plan's order, from the controller; each
master's stop returns once its own etcd is gone, its start once its own etcd serves its
peers. What a master proves about itself is tested here."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.kubedr.etcd.plugins.module_utils import _cutover as C
from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J
from tests.lab.pki import CA, write_pair


def test_a_stop_waits_on_the_members_own_ports_from_the_plan():
    names = {"client_ports": [12379], "peer_ports": [12380], "apiserver_port": 16443}
    assert C.stopped_ports(names) == [12379, 12380, 16443]
    # a journal from before the plan recorded them: kubeadm's ports
    assert C.stopped_ports({"client_ports": [], "peer_ports": [], "apiserver_port": None}) == [
        2379,
        2380,
        6443,
    ]


def test_stopped_means_no_etcd_on_this_data_dir(tmp_path):
    data_dir = tmp_path / "etcd"
    data_dir.mkdir()
    # a process named etcd on this data dir: the stop waits for it, names it, then sees it go
    proc = subprocess.Popen(
        ["etcd", "-c", "import time; time.sleep(30)", f"--data-dir={data_dir}"],
        executable=sys.executable,
    )
    try:
        time.sleep(0.2)
        with pytest.raises(C.CutoverError, match=f"etcd still runs on {data_dir} after 0.3 s"):
            C.wait_own_etcd_gone(str(data_dir), 0.3, poll=0.05)
        threading.Timer(0.4, proc.kill).start()
        waited = C.wait_own_etcd_gone(str(data_dir), 10, poll=0.05)
        assert waited >= 0.3
    finally:
        proc.kill()
        proc.wait()
    assert C.wait_own_etcd_gone(str(data_dir), 1) < 0.5


def test_a_start_waits_until_its_own_peer_urls_serve():
    member = {"peer_urls": ["https://10.0.0.1:12380", "https://[fd00::1]:2380"]}
    asked, answers = [], iter([False, False, True])

    def probe(address, port, tls, client=None):
        asked.append((address, port, tls, client))
        return address == "fd00::1" or next(answers)

    waited = C.wait_own_peer_serves(member, timeout=5, poll=0.01, probe=probe)
    assert waited >= 0.02
    assert ("10.0.0.1", 12380, True, None) in asked and ("fd00::1", 2380, True, None) in asked
    with pytest.raises(C.CutoverError, match="does not serve its peer URLs"):
        C.wait_own_peer_serves(member, 0.05, poll=0.01, probe=lambda *a, client=None: False)


def test_start_and_rollback_wait_on_the_members_own_peer_ports():
    planned = {
        "stamp": "20261126T030000Z",
        "member": {"peer_ports": [12380], "peer_urls": ["https://a:2"]},
    }
    assert C._names(planned)["peer_ports"] == [12380]
    # a journal from before the plan recorded them: the advertised URLs' ports
    older = {
        "stamp": "20261126T030000Z",
        "member": {"peer_urls": ["https://[fd00::1]:22380", "https://m"]},
    }
    assert C._names(older)["peer_ports"] == [22380, 2380]


def test_a_batch_short_of_the_masters_is_refused_fewer_forks_are_not():
    assert C.concurrency_problem(["a", "b", "c"], forks=1, batch=["a", "b", "c"]) is None
    said = C.concurrency_problem(["a", "b", "c"], forks=5, batch=["a"])
    assert "this batch holds 1 of the 3 masters" in said and "b, c" in said


@pytest.mark.parametrize("strategy", ["free", "host_pinned", "ansible.builtin.free"])
def test_a_strategy_that_lets_the_masters_run_apart_is_refused(strategy):
    said = C.concurrency_problem(["a", "b"], batch=["a", "b"], strategy=strategy)
    assert f"the play's strategy is {strategy}" in said and "strategy: linear" in said
    for kept in ("linear", "ansible.builtin.linear", "debug", None):
        assert C.concurrency_problem(["a", "b"], batch=["a", "b"], strategy=kept) is None


class Peer:
    """A peer port on 127.0.0.1: bound and listening at once, answering only once
    ``serve()`` is called (as etcd binds first and serves after its corrupt check)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = None

    def serve(self, delay=0.0):
        def answer():
            time.sleep(delay)
            while True:
                try:
                    conn, _addr = self.sock.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        self.thread = threading.Thread(target=answer, daemon=True)
        self.thread.start()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        except OSError:
            pass
        self.sock.close()
        if self.thread:
            self.thread.join(timeout=5)


def test_a_bound_peer_port_listens_but_does_not_serve_until_it_answers():
    peer = Peer()
    try:
        assert C.serves("127.0.0.1", peer.port, tls=False, timeout=0.3) is False
        assert not C.serves("127.0.0.1", peer.port, tls=True, timeout=0.3)
        assert not C.serves("127.0.0.1", peer.port, tls=False, timeout=0.3)
        peer.serve()
        assert C.serves("127.0.0.1", peer.port, tls=False)
        assert C.serves("127.0.0.1", peer.port, tls=True)  # an answer, though not TLS
    finally:
        peer.close()
    assert not C.serves("127.0.0.1", peer.port)


class TlsPeer(Peer):
    """Like etcd's peer port: TLS that asks for a client certificate, handshakes from the
    moment it is bound, and answers HTTP only once ``serve()`` is called."""

    def __init__(self, pki):
        super().__init__()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki["server_cert"], pki["server_key"])
        self.context.load_verify_locations(pki["ca"])
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.serving = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.serving.wait(10)
                tls.recv(1024)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        except (OSError, ssl.SSLError):
            pass

    def serve(self, delay=0.0):
        threading.Timer(delay, self.serving.set).start()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = CA.create("etcd-ca")
    ca.write(directory, "ca")
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    write_pair(directory, "peer", *ca.issue("peer", usages, ips=["127.0.0.1"]))
    return {
        "ca": str(directory / "ca.crt"),
        "server_cert": str(directory / "peer.crt"),
        "server_key": str(directory / "peer.key"),
        "client": {
            "cert_file": str(directory / "peer.crt"),
            "key_file": str(directory / "peer.key"),
        },
    }


def test_with_its_peer_certificate_a_master_sees_the_handshake_is_not_serving(pki):
    """The handshake alone succeeds while the peer is in its corrupt check; only an HTTP
    answer counts, and without a certificate the handshake's answer is all there is."""
    peer = TlsPeer(pki)
    try:
        assert C.serves("127.0.0.1", peer.port, client=None)  # handshake refused: counts
        assert not C.serves("127.0.0.1", peer.port, client=pki["client"], timeout=0.3)
        peer.serve()
        assert C.serves("127.0.0.1", peer.port, client=pki["client"])
    finally:
        peer.serving.set()
        peer.close()


def proc6(address):
    """An IPv6 address as /proc/net/tcp6 writes it: four 32-bit words, each in the
    machine's (little-endian) byte order."""
    raw = socket.inet_pton(socket.AF_INET6, address)
    return "".join(raw[i : i + 4][::-1].hex().upper() for i in range(0, 16, 4))


def test_a_resumed_turn_proves_again_what_it_left(tmp_path, monkeypatch):
    """A stop recorded before a kill is proved again (no etcd on the data dir) before the
    next master's turn; a start recorded is proved again (serving); a later phase is not."""
    run = "20261126T031500Z-4f9a1c"
    state, data_dir = str(tmp_path / "state"), tmp_path / "etcd"
    data_dir.mkdir()
    J.ensure_state_dir(state)
    member = {"data_dir": str(data_dir), "peer_urls": ["https://10.0.0.1:2380"]}
    J.begin(
        state,
        {
            "run_id": run,
            "stamp": run.split("-", maxsplit=1)[0],
            "controller": {"hostname": "ctl"},
            "snapshot": {"name": "/b/etcd-snapshot-x.db", "sha256": "a" * 64},
            "plan": {"token": f"kubedr-restore-{run}"},
            "member": member,
        },
    )
    for phase in ("staged", "stopped"):
        J.record(state, run, phase)
    proc = subprocess.Popen(
        ["etcd", "-c", "import time; time.sleep(30)", f"--data-dir={data_dir}"],
        executable=sys.executable,
    )
    try:
        time.sleep(0.2)  # an etcd came back on the data dir while the run was away
        with pytest.raises(C.CutoverError, match="etcd still runs on"):
            C.step(state, run, "stop", timeout=0.3)
    finally:
        proc.kill()
        proc.wait()
    assert C.step(state, run, "stop", timeout=5)["msg"].startswith("stop: already done")
    for phase in ("swapped", "started"):
        J.record(state, run, phase)
    asked = []
    monkeypatch.setattr(C, "serves", lambda *a, client=None: asked.append(a) or False)
    with pytest.raises(C.CutoverError, match="does not serve its peer URLs"):
        C.step(state, run, "start", timeout=0.3)
    assert asked and asked[0][:2] == ("10.0.0.1", 2380)
    J.record(state, run, "verified")
    asked.clear()
    assert C.step(state, run, "start", timeout=0.3)["changed"] is False and asked == []
    assert C.step(state, run, "stop", timeout=0.3)["changed"] is False
