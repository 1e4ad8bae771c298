"""What etcd_restore_plan reads, made up: masters docker<n> running member master-<n>
on 10.0.0.<n>, with their facts (member, tools, preflight), and a backup's metadata."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import MIB

STAMP = "20261126T031500Z"
SNAPSHOT_SIZE = 20 * MIB
ENOUGH = 10 * 1024 * MIB


def member(name, ip, version="3.5.16"):
    """kubedr_etcd_member of a kubeadm etcd named ``name`` on ``ip``."""
    return {
        "manifest_path": "/etc/kubernetes/manifests/etcd.yaml",
        "moved_aside": False,
        "kubernetes_version": "v1.31.4",
        "name": name,
        "data_dir": "/var/lib/etcd",
        "advertise_client_urls": [f"https://{ip}:2379"],
        "listen_client_urls": ["https://127.0.0.1:2379", f"https://{ip}:2379"],
        "initial_advertise_peer_urls": [f"https://{ip}:2380"],
        "listen_peer_urls": [f"https://{ip}:2380"],
        "version": version,
        "tls": {
            "cert_file": "/etc/kubernetes/pki/etcd/server.crt",
            "key_file": "/etc/kubernetes/pki/etcd/server.key",
            "peer_cert_file": "/etc/kubernetes/pki/etcd/peer.crt",
            "peer_key_file": "/etc/kubernetes/pki/etcd/peer.key",
        },
    }


def tools(etcdutl="3.5.16", etcdctl="3.5.16"):
    """kubedr_etcd_tools with these versions (None: that tool was not found)."""

    def tool(name, version):
        if version is None:
            return None
        return {"path": f"/usr/local/bin/{name}", "version": version, "error": None}

    return {"etcdctl": tool("etcdctl", etcdctl), "etcdutl": tool("etcdutl", etcdutl)}


def preflight(hostname, ip, is_leader=False, free=ENOUGH):
    """kubedr_etcd_preflight of a master that is ready for the restore."""
    return {
        "hostname": hostname,
        "addresses": [ip],
        "peer_cert_ips": [ip, "127.0.0.1"],
        "server_cert_ips": [ip, "127.0.0.1", "::1"],
        "data_dir_free": free,
        "data_dir_is_mount": False,
        "is_leader": is_leader,
        "etcd_running": True,
    }


def master(n, ip=None, leader=False, version="3.5.16", tool_versions=None):
    """docker<n> running member master-<n> on 10.0.0.<n>."""
    ip = ip or f"10.0.0.{n}"
    return {
        "host": f"docker{n}",
        "address": ip,
        "member": member(f"master-{n}", ip, version),
        "tools": tools(**(tool_versions or {})),
        "preflight": preflight(f"master-{n}", ip, is_leader=leader),
    }


def metadata(names=("master-1", "master-2", "master-3"), version="3.5.16"):
    """The metadata record of a backup of the members ``names``."""
    return {
        "format": "kubedr.etcd/snapshot-metadata/v1",
        "snapshot": {
            "file": "etcd-snapshot-20261126T030000Z.db",
            "size": SNAPSHOT_SIZE,
            "sha256": "0" * 64,
            "revision": 12345,
            "total_key": 1024,
            "total_size": SNAPSHOT_SIZE,
            "hash": 1,
        },
        "etcd": {
            "version": version,
            "cluster_id": "a1b2c3d4e5f60718",
            "members": [
                {"name": name, "id": f"{i:016x}", "peer_urls": [f"https://10.0.0.{i}:2380"]}
                for i, name in enumerate(names, 1)
            ],
        },
    }


def three(**kwargs):
    """Three masters, docker2 the leader (``master``'s keyword arguments)."""
    return [master(1, **kwargs), master(2, leader=True, **kwargs), master(3, **kwargs)]
