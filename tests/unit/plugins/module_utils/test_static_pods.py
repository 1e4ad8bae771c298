"""Unit tests of _static_pods: moving manifests directories, and waiting on real
processes (a copy of sleep named etcd) and real listening sockets (see
tests.support.fake_processes).

Other etcd processes may run on this machine (the lab), so the tests match only
their own fake by its path, and use free high ports.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _static_pods
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    DEFAULT_PROCESS_PATTERNS,
    StaticPodsError,
    aside_path,
    describe,
    matching_processes,
    open_ports,
    parse_crictl_ps,
    parse_docker_ps,
    parse_proc_net_tcp,
    same_tree,
    socket_owners,
    start,
    stop,
)
from tests.support.fake_processes import PLAIN_PATH, fake_tool
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(60)

STAMP = "20261126T030000Z"


@pytest.fixture
def manifests(tmp_path):
    directory = tmp_path / "kubernetes" / "manifests"
    directory.mkdir(parents=True)
    (directory / "etcd.yaml").write_text("kind: Pod\nmetadata: {name: etcd}\n")
    (directory / "kube-apiserver.yaml").write_text("kind: Pod\nmetadata: {name: kas}\n")
    return directory


def stop_args(fakes, **kwargs):
    args = {
        "names": ["etcd", "kube-apiserver"],
        "ports": [],
        "process_patterns": [fakes.pattern],
        "timeout": 5,
        "search_path": PLAIN_PATH,
        "poll": 0.1,
    }
    args.update(kwargs)
    return args


# --------------------------------------------------------------------------
# Readers


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:094B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1
   1: 0100007F:094B 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 31338 1
   2: 0800A8C0:094C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31339 1
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue \
rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A \
00000000:00000000 00:00000000 00000000     0        0 4242 1
"""


def test_parse_proc_net_tcp_keeps_listening_sockets():
    assert parse_proc_net_tcp(PROC_NET_TCP) == [(2379, 31337), (2380, 31339)]
    assert parse_proc_net_tcp(PROC_NET_TCP6) == [(6443, 4242)]
    assert parse_proc_net_tcp("header only\n") == []


def test_listening_sockets_from_a_proc_tree(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(PROC_NET_TCP)
    (tmp_path / "net" / "tcp6").write_text(PROC_NET_TCP6)
    assert _static_pods.listening_sockets(str(tmp_path)) == {
        2379: {31337},
        2380: {31339},
        6443: {4242},
    }
    assert _static_pods.listening_sockets(str(tmp_path / "missing")) is None


def test_parse_crictl_ps():
    text = json.dumps(
        {
            "containers": [
                {"id": "a" * 64, "metadata": {"name": "etcd"}, "state": "CONTAINER_RUNNING"},
                {"id": "b" * 64, "metadata": {"name": "kube-scheduler"}},
                {"id": "c" * 64, "metadata": {"name": "kube-apiserver"}, "state": "EXITED"},
                {
                    "id": "d" * 64,
                    "metadata": {"name": "etcd"},
                    "labels": {"io.kubernetes.pod.namespace": "storage"},
                },
                {
                    "id": "e" * 64,
                    "metadata": {"name": "kube-apiserver"},
                    "labels": {"io.kubernetes.pod.namespace": "kube-system"},
                },
            ]
        }
    )
    assert parse_crictl_ps(text, ["etcd", "kube-apiserver"]) == [
        {"id": "a" * 13, "name": "etcd"},
        {"id": "e" * 13, "name": "kube-apiserver"},
    ]
    assert parse_crictl_ps('{"containers": []}', ["etcd"]) == []
    with pytest.raises(ValueError):
        parse_crictl_ps("not json", ["etcd"])


def test_parse_docker_ps():
    text = (
        "1111111111111111 k8s_etcd_etcd-cp-1_kube-system_0123_0\n"
        "2222222222222222 k8s_POD_etcd-cp-1_kube-system_0123_0\n"
        "3333333333333333 /k8s_kube-apiserver_kube-apiserver-cp-1_kube-system_4567_1\n"
        "4444444444444444 etcd\n"
        "5555555555555555 k8s_etcd_etcd-0_storage_89ab_0\n"
    )
    assert parse_docker_ps(text, ["etcd", "kube-apiserver"]) == [
        {"id": "1111111111111", "name": "etcd"},
        {"id": "3333333333333", "name": "kube-apiserver"},
    ]


def test_default_patterns_match_etcd_and_apiserver_executables(fakes):
    proc = fakes.etcd()
    assert proc.pid in [p["pid"] for p in matching_processes(DEFAULT_PROCESS_PATTERNS)]
    compiled = [re.compile(p) for p in DEFAULT_PROCESS_PATTERNS]
    for line, expected in (
        ("etcd --data-dir=/var/lib/etcd", True),
        ("/usr/local/bin/etcd", True),
        ("kube-apiserver --advertise-address=10.0.0.1", True),
        ("/usr/bin/etcdctl get /", False),
        ("vim /etc/kubernetes/manifests/etcd.yaml", False),
        ("python3 apiserver.py", False),
    ):
        assert any(p.search(line) for p in compiled) is expected, line


def test_fake_etcd_found_by_its_pattern(fakes):
    proc = fakes.etcd()
    found = matching_processes([fakes.pattern])
    assert found == [{"pid": proc.pid, "command": f"{fakes.sleep} 300"}]


def test_open_ports_and_their_owner(fakes):
    port = free_port()
    assert open_ports([port]) == {}
    proc = fakes.listener(port)
    listening = open_ports([port])
    assert list(listening) == [port]
    assert set(socket_owners(listening[port]).values()) == {proc.pid}
    state = _static_pods.what_runs("processes", None, [], [], [port])
    assert state["ports"] == [{"port": port, "pid": proc.pid}]
    assert describe(state) == f"port {port} listening (pid {proc.pid})"


def test_same_tree(tmp_path, manifests):
    copy = tmp_path / "copy"
    shutil.copytree(manifests, copy)
    assert same_tree(manifests, copy)
    (copy / "etcd.yaml").write_text("changed\n")
    assert not same_tree(manifests, copy)


# --------------------------------------------------------------------------
# stop


def test_stop_moves_the_directory_and_waits_for_the_process(fakes, manifests):
    proc = fakes.etcd()
    fakes.kill_later(proc, 1.0)
    result = stop(str(manifests), STAMP, **stop_args(fakes))
    aside = Path(f"{manifests}.kubedr-{STAMP}")
    assert result["changed"] is True
    assert result["moved_to"] == str(aside)
    assert result["method"] == "processes"
    assert 0.8 <= result["waited"] < 5
    assert not manifests.exists()
    assert sorted(p.name for p in aside.iterdir()) == ["etcd.yaml", "kube-apiserver.yaml"]


def test_stop_again_only_waits(fakes, manifests):
    first = stop(str(manifests), STAMP, **stop_args(fakes))
    again = stop(str(manifests), STAMP, **stop_args(fakes))
    assert first["changed"] is True
    assert again["changed"] is False
    assert again["moved_to"] == first["moved_to"]


def test_stop_timeout_names_what_runs_and_the_rollback(fakes, manifests):
    proc = fakes.etcd()
    port = free_port()
    listener = fakes.listener(port)
    with pytest.raises(StaticPodsError) as caught:
        stop(str(manifests), STAMP, **stop_args(fakes, ports=[port], timeout=1))
    aside = f"{manifests}.kubedr-{STAMP}"
    msg = caught.value.msg
    assert msg.startswith("still running after 1 s: ")
    assert f"pid {proc.pid}: {fakes.sleep} 300" in msg
    assert f"port {port} listening (pid {listener.pid})" in msg
    assert msg.endswith(f"the manifests are in {aside}; to roll back: mv {aside} {manifests}")
    running = caught.value.details["running"]
    assert running["processes"] == [{"pid": proc.pid, "command": f"{fakes.sleep} 300"}]
    assert running["ports"] == [{"port": port, "pid": listener.pid}]
    assert caught.value.details["moved_to"] == aside
    assert Path(aside).is_dir()  # left aside: the operator decides


def test_stop_waits_for_the_port_to_close(fakes, manifests):
    port = free_port()
    fakes.kill_later(fakes.listener(port), 1.0)
    result = stop(str(manifests), STAMP, **stop_args(fakes, ports=[port]))
    assert result["waited"] >= 0.8


def test_stop_refuses_an_aside_dir_that_differs(fakes, manifests):
    aside = Path(aside_path(str(manifests), STAMP))
    aside.mkdir()
    (aside / "etcd.yaml").write_text("older\n")
    with pytest.raises(StaticPodsError, match="already exists and differs"):
        stop(str(manifests), STAMP, **stop_args(fakes))
    assert (manifests / "etcd.yaml").exists()
    assert (aside / "etcd.yaml").read_text() == "older\n"


def test_stop_with_an_identical_aside_dir_drops_the_duplicate(fakes, manifests):
    aside = Path(aside_path(str(manifests), STAMP))
    shutil.copytree(manifests, aside)
    result = stop(str(manifests), STAMP, **stop_args(fakes))
    assert result["changed"] is True
    assert not manifests.exists()
    assert sorted(p.name for p in aside.iterdir()) == ["etcd.yaml", "kube-apiserver.yaml"]
    assert any("already held the same manifests" in note for note in result["notes"])


def test_stop_with_an_empty_manifests_dir_and_the_aside_dir(fakes, manifests):
    aside = Path(aside_path(str(manifests), STAMP))
    manifests.rename(aside)
    manifests.mkdir()
    result = stop(str(manifests), STAMP, **stop_args(fakes))
    assert result["changed"] is False
    assert result["moved_to"] == str(aside)


def test_stop_with_nothing_to_move(fakes, tmp_path):
    result = stop(str(tmp_path / "none"), STAMP, **stop_args(fakes))
    assert result["changed"] is False
    assert result["moved_to"] is None
    assert "nothing to move" in result["notes"][0]


def test_stop_check_mode_moves_nothing(fakes, manifests):
    proc = fakes.etcd()
    result = stop(str(manifests), STAMP, check_mode=True, **stop_args(fakes))
    assert result["changed"] is True
    assert result["msg"].startswith(f"would move {manifests} to {manifests}.kubedr-{STAMP}")
    assert result["running"]["processes"][0]["pid"] == proc.pid
    assert manifests.is_dir()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stamp": "2026-11-26"}, "is not a UTC time like 20261126T030000Z"),
        ({"process_patterns": ["etcd("]}, "is not a regular expression"),
        ({"manifests_dir": "manifests"}, "is not an absolute path"),
    ],
)
def test_stop_refuses_bad_input(fakes, manifests, kwargs, message):
    args = stop_args(fakes)
    manifests_dir = kwargs.pop("manifests_dir", str(manifests))
    stamp = kwargs.pop("stamp", STAMP)
    args.update(kwargs)
    with pytest.raises(StaticPodsError, match=re.escape(message)):
        stop(manifests_dir, stamp, **args)
    assert manifests.is_dir()


# --------------------------------------------------------------------------
# Container runtimes (fake crictl / docker on the search path)


def test_crictl_is_used_when_it_answers(fakes, manifests, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    state = tmp_path / "crictl.json"
    running = {"id": "f" * 64, "metadata": {"name": "etcd"}, "state": "CONTAINER_RUNNING"}
    state.write_text(json.dumps({"containers": [running]}))
    fake_tool(bindir, "crictl", f'[ "$*" = "ps -o json" ] || exit 64\ncat {state}\n')
    fakes.later(1.0, state.write_text, '{"containers": []}')
    fakes.etcd()  # not looked at: the runtime is
    result = stop(str(manifests), STAMP, **stop_args(fakes, search_path=str(bindir)))
    assert result["method"] == "crictl"
    assert result["waited"] >= 0.8


def test_crictl_timeout_names_the_container(fakes, manifests, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    running = {
        "id": "f" * 64,
        "metadata": {"name": "kube-apiserver"},
        "labels": {"io.kubernetes.pod.namespace": "kube-system"},
    }
    fake_tool(bindir, "crictl", f"echo '{json.dumps({'containers': [running]})}'\n")
    with pytest.raises(StaticPodsError, match=r"container kube-apiserver \(fffffffffffff\)"):
        stop(str(manifests), STAMP, **stop_args(fakes, timeout=0.5, search_path=str(bindir)))


def test_a_docker_that_does_not_answer_falls_back_to_processes(fakes, manifests, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "docker", "echo 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    result = stop(str(manifests), STAMP, **stop_args(fakes, search_path=str(bindir)))
    assert result["method"] == "processes"
    assert result["notes"] == [
        f"{bindir}/docker does not answer (Cannot connect to the Docker daemon); not used"
    ]


def test_docker_is_used_when_it_answers(fakes, manifests, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_tool(bindir, "docker", "echo 1234567890abcdef k8s_etcd_etcd-cp-1_kube-system_1_0\n")
    with pytest.raises(StaticPodsError, match=r"container etcd \(1234567890abc\)"):
        stop(str(manifests), STAMP, **stop_args(fakes, timeout=0.5, search_path=str(bindir)))
    fake_tool(bindir, "docker", "echo 1234567890abcdef k8s_POD_etcd-cp-1_kube-system_1_0\n")
    result = stop(str(manifests), STAMP, **stop_args(fakes, search_path=str(bindir)))
    assert result["method"] == "docker"


# --------------------------------------------------------------------------
# start


def test_start_moves_the_directory_back(manifests):
    aside = aside_path(str(manifests), STAMP)
    manifests.rename(aside)
    result = start(str(manifests), aside)
    assert result["changed"] is True
    assert result["moved_from"] == aside
    assert result["moved_to"] == str(manifests)
    assert (manifests / "etcd.yaml").exists()
    assert not Path(aside).exists()
    again = start(str(manifests), aside)
    assert again["changed"] is False
    assert again["moved_from"] is None


def test_start_removes_an_empty_manifests_dir_first(manifests):
    aside = aside_path(str(manifests), STAMP)
    manifests.rename(aside)
    manifests.mkdir()
    result = start(str(manifests), aside)
    assert result["changed"] is True
    assert (manifests / "etcd.yaml").exists()
    assert result["notes"] == [f"removed the empty {manifests} first"]


def test_start_refuses_when_manifests_dir_has_files(manifests):
    aside = Path(aside_path(str(manifests), STAMP))
    shutil.copytree(manifests, aside)
    with pytest.raises(StaticPodsError, match="two sets of static pods"):
        start(str(manifests), str(aside))
    assert aside.is_dir()
    assert manifests.is_dir()


def test_start_with_neither_directory(tmp_path):
    with pytest.raises(StaticPodsError, match="nothing to start"):
        start(str(tmp_path / "manifests"), str(tmp_path / "manifests.kubedr-x"))


def test_start_check_mode_moves_nothing(manifests):
    aside = aside_path(str(manifests), STAMP)
    manifests.rename(aside)
    result = start(str(manifests), aside, wait_ports=[2379], check_mode=True)
    assert result["changed"] is True
    assert result["msg"] == (
        f"would move {aside} back to {manifests}, then wait up to 120 s for ports [2379]"
    )
    assert Path(aside).is_dir()
    assert not manifests.exists()


def test_start_waits_for_ports(fakes, manifests):
    aside = aside_path(str(manifests), STAMP)
    manifests.rename(aside)
    port = free_port()
    fakes.later(1.0, fakes.listener, port)
    result = start(str(manifests), aside, wait_ports=[port], timeout=10, poll=0.1)
    assert result["waited"] >= 0.8


def test_start_port_timeout(manifests):
    aside = aside_path(str(manifests), STAMP)
    manifests.rename(aside)
    port = free_port()
    with pytest.raises(StaticPodsError) as caught:
        start(str(manifests), aside, wait_ports=[port], timeout=0.5, poll=0.1)
    assert caught.value.msg.startswith(f"ports {port} not listening after 0.5 s;")
    assert caught.value.details["not_listening"] == [port]
    assert (manifests / "etcd.yaml").exists()
