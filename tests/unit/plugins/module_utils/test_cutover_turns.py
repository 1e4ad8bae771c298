"""Every master runs the stop and start steps at once; each waits for its turn, read from
the plan in its journal, by looking at the peer ports of the masters before it."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.kubedr.etcd.plugins.module_utils import _cutover as C
from ansible_collections.kubedr.etcd.plugins.module_utils import _static_pods as S
from tests.lab.pki import CA, write_pair


def journal(me, stop_order=("b", "c", "a"), start_order=("a", "b", "c"), port=2380):
    return {
        "member": {"host": me},
        "plan": {
            "stop_order": list(stop_order),
            "start_order": list(start_order),
            "members": [
                {"host": h, "peer_urls": [f"https://10.0.0.{i}:{port}"]}
                for i, h in enumerate(("a", "b", "c"), start=1)
            ],
        },
    }


def test_peers_before_follow_the_plans_orders():
    assert C.peers_before(journal("b"), "stop") == []
    assert C.peers_before(journal("a"), "stop") == [
        ("b", "10.0.0.2", 2380, True),
        ("c", "10.0.0.3", 2380, True),
    ]
    assert C.peers_before(journal("a"), "start") == []
    assert C.peers_before(journal("c"), "start") == [
        ("a", "10.0.0.1", 2380, True),
        ("b", "10.0.0.2", 2380, True),
    ]
    # a journal without this master in the order (an older plan): no waiting
    assert C.peers_before(journal("z"), "stop") == []


def test_the_leader_stops_once_no_follower_serves_its_peer_port():
    serving = {"10.0.0.2": True, "10.0.0.3": True}
    calls = []

    def answers(address, port, tls, client=None):
        calls.append(address)
        if len(calls) > 4:  # the followers go after a few looks
            serving[address] = False
        return serving[address]

    turn = C.wait_for_turn(journal("a"), "stop", timeout=5, poll=0.001, probe=answers)
    assert turn["after"] == ["b", "c"]
    assert not any(serving.values())


def test_a_master_starts_once_the_ones_before_it_serve():
    turn = C.wait_for_turn(journal("c"), "start", 5, poll=0.001, probe=lambda a, p, t, client: True)
    assert turn["after"] == ["a", "b"]


def test_controller_gone_sees_a_closed_reader_only():
    read_end, write_end = os.pipe()
    try:
        assert not C.controller_gone(write_end)
        os.close(read_end)
        assert C.controller_gone(write_end)
    finally:
        os.close(write_end)
    with open(os.devnull, "w") as devnull:
        assert not C.controller_gone(devnull.fileno())


def test_a_waiting_master_gives_up_its_turn_when_the_controller_is_gone():
    looks = []

    def probe(address, port, tls, client=None):
        looks.append(address)
        return True  # the followers still run

    with pytest.raises(C.CutoverError, match="the controller is gone") as err:
        C.wait_for_turn(journal("a"), "stop", 60, poll=0.001, probe=probe, gone=lambda: True)
    assert err.value.details == {"controller_gone": True}
    assert len(looks) == 2  # one look at each follower, then it stopped waiting


def test_a_late_master_is_named_after_the_timeout():
    with pytest.raises(
        C.CutoverError, match=r"waited 0.05 s for c, which still runs etcd on its peer port"
    ) as err:
        C.wait_for_turn(
            journal("a"), "stop", 0.05, poll=0.01, probe=lambda a, p, t, client: a == "10.0.0.3"
        )
    assert err.value.details == {"late": ["c"]}
    with pytest.raises(C.CutoverError, match="which does not serve its peer port"):
        C.wait_for_turn(journal("b"), "start", 0.05, poll=0.01, probe=lambda a, p, t, client: False)


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
        assert C.listens("127.0.0.1", peer.port)
        assert not C.serves("127.0.0.1", peer.port, tls=True, timeout=0.3)
        assert not C.serves("127.0.0.1", peer.port, tls=False, timeout=0.3)
        peer.serve()
        assert C.serves("127.0.0.1", peer.port, tls=False)
        assert C.serves("127.0.0.1", peer.port, tls=True)  # an answer, though not TLS
    finally:
        peer.close()
    assert not C.listens("127.0.0.1", peer.port)
    assert not C.serves("127.0.0.1", peer.port)


def test_wait_for_turn_waits_for_the_peer_to_serve_not_to_listen():
    peer = Peer()
    j = journal("b", port=peer.port)
    for m in j["plan"]["members"]:
        m["peer_urls"] = [f"https://127.0.0.1:{peer.port}"]
    peer.serve(delay=0.6)
    try:
        turn = C.wait_for_turn(j, "start", timeout=10)
    finally:
        peer.close()
    assert turn["after"] == ["a"]
    assert turn["waited"] >= 0.5


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


def test_the_start_turn_waits_for_http_with_the_journals_peer_certificate(pki):
    peer = TlsPeer(pki)
    j = journal("b", port=peer.port)
    j["member"]["peer_tls"] = pki["client"]
    for m in j["plan"]["members"]:
        m["peer_urls"] = [f"https://127.0.0.1:{peer.port}"]
    peer.serve(delay=0.8)
    try:
        turn = C.wait_for_turn(j, "start", timeout=10)
    finally:
        peer.serving.set()
        peer.close()
    assert turn["after"] == ["a"] and turn["waited"] >= 0.6


def test_established_peer_connections_from_proc_net_tcp():
    v4 = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        # 10.77.0.8:2380 <- 10.77.0.9:41234, established
        "   0: 08004D0A:094C 09004D0A:A112 01 00000000:00000000 00:00000000 00000000 0\n"
        # 10.77.0.8:52000 -> 10.77.0.10:2380, established
        "   1: 08004D0A:CB20 0A004D0A:094C 01 00000000:00000000 00:00000000 00000000 0\n"
        # listening on 2380: not a connection
        "   2: 08004D0A:094C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n"
    )
    assert S.parse_established(v4) == [
        (("10.77.0.8", 2380), ("10.77.0.9", 41234)),
        (("10.77.0.8", 52000), ("10.77.0.10", 2380)),
    ]
    v6 = (
        "  sl  local_address                         remote_address                        st\n"
        f"   0: {proc6('::ffff:10.77.0.8')}:094C {proc6('::ffff:10.77.0.9')}:A112 01\n"
        f"   1: {proc6('fd00::8')}:094C {proc6('fd00::9')}:A113 01\n"
    )
    assert S.parse_established(v6) == [
        (("10.77.0.8", 2380), ("10.77.0.9", 41234)),
        (("fd00::8", 2380), ("fd00::9", 41235)),
    ]


def proc6(address):
    """An IPv6 address as /proc/net/tcp6 writes it: four 32-bit words, each in the
    machine's (little-endian) byte order."""
    raw = socket.inet_pton(socket.AF_INET6, address)
    return "".join(raw[i : i + 4][::-1].hex().upper() for i in range(0, 16, 4))


def test_connected_to_reads_this_hosts_tables(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    (net / "tcp").write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 08004D0A:094C 09004D0A:A112 01 00000000:00000000 00:00000000 00000000 0\n"
        "   1: 08004D0A:CB20 0A004D0A:1F90 01 00000000:00000000 00:00000000 00000000 0\n"
    )
    assert S.connected_to(["10.77.0.9", "10.77.0.10"], 2380, proc_root=str(tmp_path)) == {
        "10.77.0.9"
    }


def test_connected_to_matches_an_address_however_the_url_writes_it(tmp_path):
    """A peer URL's host text (fd00:0:0::9, [fd00::9], a name) is compared in the form
    /proc/net/tcp6 is read in; the text alone never matched."""
    net = tmp_path / "net"
    net.mkdir()
    (net / "tcp6").write_text(
        "  sl  local_address rem_address   st\n"
        f"   0: {proc6('fd00::8')}:094C {proc6('fd00::9')}:A112 01 00000000:00000000 00:00000000"
        " 00000000 0\n"
        f"   1: {proc6('::1')}:094C {proc6('::1')}:A113 01 00000000:00000000 00:00000000"
        " 00000000 0\n"
    )
    root = str(tmp_path)
    assert S.connected_to(["fd00:0:0::9"], 2380, proc_root=root) == {"fd00:0:0::9"}
    assert S.connected_to(["[fd00::9]"], 2380, proc_root=root) == {"[fd00::9]"}
    assert S.connected_to(["fd00::10"], 2380, proc_root=root) == set()
    assert S.canonical_addresses("localhost") >= {"127.0.0.1"} or "::1" in S.canonical_addresses(
        "localhost"
    )


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
