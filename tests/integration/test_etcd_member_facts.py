"""etcd_member_facts over SSH on every lab master: the facts equal what the lab configured."""

from __future__ import annotations

import pytest

from tests.integration.conftest import task_results
from tests.lab import lab as L

FACTS_TASK = "Read the etcd static pod manifest"
ETCD_VERSIONS = {"3.4": "3.4.23", "3.5": "3.5.16"}


def expected_initial_cluster(lab, index):
    """kubeadm's way: each master's manifest lists the members that existed when it joined."""
    return [
        {"name": m.name, "peer_urls": [f"https://{m.ip}:2380"]} for m in lab.masters[: index + 1]
    ]


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_facts_equal_the_lab_configuration(lab, check_mode):
    args = ["--check"] if check_mode else []
    rc, data, err = lab.ansible_playbook("playbooks/facts.yml", *args)
    assert rc == 0, err
    results = task_results(data, FACTS_TASK)
    assert sorted(results) == sorted(lab.names)
    version = ETCD_VERSIONS[lab.etcd_version]
    for index, m in enumerate(lab.masters):
        result = results[m.name]
        assert result["changed"] is False
        member = result["ansible_facts"]["kubedr_etcd_member"]
        assert member["manifest_path"] == "/etc/kubernetes/manifests/etcd.yaml"
        assert member["moved_aside"] is False
        assert member["name"] == m.name
        assert member["data_dir"] == "/var/lib/etcd"
        assert member["advertise_client_urls"] == [f"https://{m.ip}:2379"]
        assert member["listen_client_urls"] == ["https://127.0.0.1:2379", f"https://{m.ip}:2379"]
        assert member["initial_advertise_peer_urls"] == [f"https://{m.ip}:2380"]
        assert member["listen_peer_urls"] == [f"https://{m.ip}:2380"]
        assert member["initial_cluster"] == expected_initial_cluster(lab, index)
        assert member["initial_cluster_state"] == (None if index == 0 else "existing")
        assert member["version"] == version
        assert member["image"] == f"registry.k8s.io/etcd:{version}-0"
        pki = "/etc/kubernetes/pki/etcd"
        assert member["tls"] == {
            "cert_file": f"{pki}/server.crt",
            "key_file": f"{pki}/server.key",
            "trusted_ca_file": f"{pki}/ca.crt",
            "client_cert_auth": True,
            "peer_cert_file": f"{pki}/peer.crt",
            "peer_key_file": f"{pki}/peer.key",
            "peer_trusted_ca_file": f"{pki}/ca.crt",
            "peer_client_cert_auth": True,
            "healthcheck_client_cert_file": f"{pki}/healthcheck-client.crt",
            "healthcheck_client_key_file": f"{pki}/healthcheck-client.key",
            "client_cert_file": f"{pki}/healthcheck-client.crt",
            "client_key_file": f"{pki}/healthcheck-client.key",
        }
        tools = result["ansible_facts"]["kubedr_etcd_tools"]
        assert tools["etcdctl"]["path"] == "/usr/local/bin/etcdctl"
        assert tools["etcdctl"]["version"] == version
        if lab.etcd_version == "3.4":
            assert tools["etcdutl"] is None
        else:
            assert tools["etcdutl"]["path"] == "/usr/local/bin/etcdutl"
            assert tools["etcdutl"]["version"] == version


def test_facts_from_a_moved_aside_manifests_directory(lab):
    host = lab.masters[0]
    lab.sh(host.name, "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.bak")
    try:
        rc, data, err = lab.ansible_playbook("playbooks/facts.yml", "--limit", host.name)
        assert rc == 0, err
        member = task_results(data, FACTS_TASK)[host.name]["ansible_facts"]["kubedr_etcd_member"]
        assert member["manifest_path"] == "/etc/kubernetes/manifests.bak/etcd.yaml"
        assert member["moved_aside"] is True
        assert member["name"] == host.name
    finally:
        lab.sh(host.name, "mv /etc/kubernetes/manifests.bak /etc/kubernetes/manifests")
    lab.wait(
        "cluster healthy again",
        lambda: lab.cli("etcdctl", "endpoint", "health", "--cluster", check=False).returncode == 0,
        60,
    )


def test_missing_manifest_fails_clearly_and_changes_nothing(lab):
    host = lab.masters[1]
    lab.sh(host.name, "mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.kept")
    try:
        rc, data, _unused = lab.ansible_playbook("playbooks/facts.yml", "--limit", host.name)
        assert rc != 0
        result = task_results(data, FACTS_TASK)[host.name]
        assert result["failed"]
        assert "/etc/kubernetes/manifests/etcd.yaml" in result["msg"]
    finally:
        lab.sh(host.name, "mv /etc/kubernetes/etcd.yaml.kept /etc/kubernetes/manifests/etcd.yaml")
    lab.wait("etcd back", lambda: L.apiserver_status(lab.lab, host)[0], 60)
