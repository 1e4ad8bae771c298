"""Every master runs the stop and start steps at once; each waits for its turn, read from
the plan in its journal, by looking at the peer ports of the masters before it."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _cutover as C


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
        ("b", "10.0.0.2", 2380),
        ("c", "10.0.0.3", 2380),
    ]
    assert C.peers_before(journal("a"), "start") == []
    assert C.peers_before(journal("c"), "start") == [
        ("a", "10.0.0.1", 2380),
        ("b", "10.0.0.2", 2380),
    ]
    # a journal without this master in the order (an older plan): no waiting
    assert C.peers_before(journal("z"), "stop") == []


def test_the_leader_stops_once_no_follower_serves_its_peer_port():
    serving = {"10.0.0.2": True, "10.0.0.3": True}
    calls = []

    def answers(address, port):
        calls.append(address)
        if len(calls) > 4:  # the followers go after a few looks
            serving[address] = False
        return serving[address]

    turn = C.wait_for_turn(journal("a"), "stop", timeout=5, poll=0.001, answers=answers)
    assert turn["after"] == ["b", "c"]
    assert not any(serving.values())


def test_a_master_starts_once_the_ones_before_it_serve():
    turn = C.wait_for_turn(journal("c"), "start", 5, poll=0.001, answers=lambda a, p: True)
    assert turn["after"] == ["a", "b"]


def test_a_late_master_is_named_after_the_timeout():
    with pytest.raises(C.CutoverError, match=r"waited 0.05 s for c, which still serves") as err:
        C.wait_for_turn(journal("a"), "stop", 0.05, poll=0.01, answers=lambda a, p: a == "10.0.0.3")
    assert err.value.details == {"late": ["c"]}
    with pytest.raises(C.CutoverError, match="does not serve its peer port"):
        C.wait_for_turn(journal("b"), "start", 0.05, poll=0.01, answers=lambda a, p: False)


def test_answers_sees_a_real_listening_port_open_and_then_closed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert C._answers("127.0.0.1", port)
    server.close()
    assert not C._answers("127.0.0.1", port)


def test_wait_for_turn_over_real_sockets():
    """The master before this one starts serving its peer port a moment later."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def serve_later():
        time.sleep(0.3)
        server.bind(("127.0.0.1", port))
        server.listen()

    j = journal("b", port=port)
    for m in j["plan"]["members"]:
        m["peer_urls"] = [f"https://127.0.0.1:{port}"]
    thread = threading.Thread(target=serve_later)
    thread.start()
    try:
        turn = C.wait_for_turn(j, "start", timeout=10)
    finally:
        thread.join()
        server.close()
    assert turn["after"] == ["a"] and turn["waited"] >= 0.2
