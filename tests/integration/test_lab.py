"""The lab behaves like real masters where the collection can see it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, run_ansible
from tests.lab import lab as L

STATIC_PODS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}


def pods_running(lab, host):
    """Static pods with a live process (running, or stopping but not yet gone)."""
    status = json.loads((lab.host_dir(host) / "status.json").read_text())
    return {p["pod"] for p in status["pods"] if p["pid"]}


def etcd_pids(lab, host):
    return lab.sh(host, "pgrep -x etcd || true").stdout.split()


def test_ping_with_host_key_checking(lab):
    rc, data, err = run_ansible(
        "ansible", "masters", "-i", lab.inventory, "-m", "ansible.builtin.ping"
    )
    assert rc == 0, err
    assert sorted(data["plays"][0]["tasks"][0]["hosts"]) == sorted(lab.names)
    assert "StrictHostKeyChecking=yes" in Path(lab.inventory).read_text()


def test_wrong_host_key_is_refused(lab, tmp_path):
    """Host key checking is really on: a known_hosts that pins other keys fails."""
    other = tmp_path / "known_hosts"
    lines = lab.known_hosts.read_text().splitlines()
    # Pin each address to the next master's key.
    keys = [line.split(" ", 1)[1] for line in lines]
    other.write_text(
        "".join(f"{line.split()[0]} {keys[(i + 1) % len(keys)]}\n" for i, line in enumerate(lines))
    )

    def pinned_to_other_keys(doc):
        args = doc["all"]["vars"]["ansible_ssh_common_args"]
        assert str(lab.known_hosts) in args
        doc["all"]["vars"]["ansible_ssh_common_args"] = args.replace(
            str(lab.known_hosts), str(other)
        )

    inv = lab.inventory_copy(tmp_path / "hosts.yml", pinned_to_other_keys)
    # A fresh control path: no SSH connection of an earlier test may be reused.
    rc, data, _unused = run_ansible(
        "ansible",
        "masters",
        "-i",
        inv,
        "-m",
        "ansible.builtin.ping",
        env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp")},
    )
    assert rc != 0
    results = data["plays"][0]["tasks"][0]["hosts"]
    assert all(r.get("unreachable") for r in results.values())
    assert "host key verification failed" in json.dumps(results).lower()


def test_each_master_has_its_own_hostname_and_processes(lab):
    rc, data, err = run_ansible(
        "ansible",
        "masters",
        "-i",
        lab.inventory,
        "-m",
        "ansible.builtin.command",
        "-a",
        "sh -c 'hostname; ps -e -o args='",
    )
    assert rc == 0, err
    for host, result in data["plays"][0]["tasks"][0]["hosts"].items():
        lines = result["stdout"].splitlines()
        assert lines[0] == host
        etcds = [a for a in lines[1:] if a.split()[0].endswith("/etcd")]
        assert len(etcds) == 1, etcds
        assert f"--name={host}" in etcds[0]
        for other in set(lab.names) - {host}:
            assert f"--name={other}" not in result["stdout"]


def test_etcd_healthy_over_tls_from_controller_and_masters(lab):
    proc = lab.cli("etcdctl", "endpoint", "health", "--cluster")
    assert proc.stderr.count("is healthy") + proc.stdout.count("is healthy") == 3
    m = lab.masters[0]
    out = lab.sh(
        m.name,
        (
            "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 "
            "--cacert=/etc/kubernetes/pki/etcd/ca.crt "
            "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt "
            "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key "
            "endpoint health --cluster 2>&1"
        ),
    )
    assert out.stdout.count("is healthy") == 3, out.stdout
    # Without a client certificate etcd refuses (client-cert-auth is on).
    bad = lab.sh(
        m.name,
        (
            "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --dial-timeout=2s "
            "--command-timeout=3s --cacert=/etc/kubernetes/pki/etcd/ca.crt endpoint health 2>&1"
        ),
        check=False,
    )
    assert bad.returncode != 0


def test_moving_etcd_manifest_stops_only_that_member(lab):
    host = lab.masters[1].name
    others = [m.name for m in lab.masters if m.name != host]
    manifest = "/etc/kubernetes/manifests/etcd.yaml"
    aside = "/etc/kubernetes/etcd.yaml.aside"
    lab.sh(host, f"mv {manifest} {aside}")
    try:
        t0 = time.monotonic()
        lab.wait(f"etcd to stop on {host}", lambda: not etcd_pids(lab, host), timeout=10)
        stop_seconds = time.monotonic() - t0
        for other in others:
            assert len(etcd_pids(lab, other)) == 1
        ok, body = L.apiserver_status(lab.lab, lab.master(host), "/readyz")
        assert not ok and "etcd" in body
    finally:
        lab.sh(host, f"mv {aside} {manifest}")
    lab.wait(f"etcd back on {host}", lambda: len(etcd_pids(lab, host)) == 1, timeout=15)
    lab.wait(
        f"apiserver ready on {host}",
        lambda: L.apiserver_status(lab.lab, lab.master(host), "/readyz")[0],
        timeout=30,
    )
    assert stop_seconds < 10


def test_moving_manifests_dir_stops_every_static_pod(lab):
    host = lab.masters[2].name
    assert pods_running(lab, host) == STATIC_PODS
    lab.sh(host, "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.bak")
    try:
        lab.wait(f"all static pods to stop on {host}", lambda: not pods_running(lab, host), 15)
        procs = lab.sh(host, "ps -e -o args=").stdout
        assert "etcd --" not in procs and "apiserver.py" not in procs
    finally:
        lab.sh(host, "mv /etc/kubernetes/manifests.bak /etc/kubernetes/manifests")
    lab.wait(f"static pods back on {host}", lambda: pods_running(lab, host) == STATIC_PODS, 15)
    lab.wait(
        "cluster healthy",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        60,
    )


def test_seed_and_digest(lab):
    before = lab.digest()
    # a seed no other test uses: its keys are new here, whatever ran before on this lab
    lab.cli("seed", "--size", "1MiB", "--seed", "23")
    seeded = lab.digest()
    assert seeded["registry_keys"] > before["registry_keys"]
    assert seeded["revision"] > before["revision"]
    assert lab.digest()["sha256"] == seeded["sha256"]  # stable when nothing changes
    lab.cli("etcdctl", "put", "/registry/configmaps/default/x", "changed")
    assert lab.digest()["sha256"] != seeded["sha256"]
    lab.cli("etcdctl", "del", "/registry/configmaps/default/x")


def _leftovers():
    found = []
    found += L.lab_namespaces()
    if L.STATE_DIR.exists():
        found.append(str(L.STATE_DIR))
    with open("/proc/self/mountinfo") as fh:
        found += [line.split()[4] for line in fh if "kubedr-lab" in line or "kdrlab" in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    found += [line for line in links.splitlines() if any(s in line for s in ("kdrbr", "v-"))]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(L.STATE_DIR).encode() in cmd:
                found.append(f"pid {pid}: {cmd[:80]!r}")
    return found


# CI kills a 1-master `lab up`; KUBEDR_FULL_MATRIX=1 a 5-master one too.
@pytest.mark.parametrize("masters", [1, 5] if os.environ.get("KUBEDR_FULL_MATRIX") == "1" else [1])
def test_up_over_a_killed_run_then_down_leaves_nothing(labs, masters):
    labs.down()
    # A run killed halfway: `lab up` is SIGKILLed while etcd bootstraps.
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.lab", "up", "--masters", str(masters)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "bootstrapping" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert L.lab_namespaces(), "the killed run should have left namespaces behind"
    lab = labs.get(masters, "3.4")
    assert lab.names == [f"docker{8 + i}" for i in range(masters)]
    health = lab.cli("etcdctl", "endpoint", "health", "--cluster")
    assert (health.stdout + health.stderr).count("is healthy") == masters
    t0 = time.monotonic()
    labs.down()
    down_seconds = time.monotonic() - t0
    assert _leftovers() == []
    assert not Path(lab.inventory).exists()
    assert down_seconds < 60
