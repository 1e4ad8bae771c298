"""Static pod manifests in the shape kubeadm writes them.

kubeadm serialises with sigs.k8s.io/yaml: keys sorted, block style, list items
at the indentation of their parent key, flags as `--key=value`. PyYAML's
safe_dump with sort_keys gives the same shape.
"""

from __future__ import annotations

import yaml

ETCD_IMAGES = {"3.4": "registry.k8s.io/etcd:3.4.23-0", "3.5": "registry.k8s.io/etcd:3.5.16-0"}
K8S_VERSIONS = {"3.4": "v1.21.14", "3.5": "v1.31.4"}


def _probe(host, port, path, scheme="HTTP", period=10, failure=8):
    return {
        "failureThreshold": failure,
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "initialDelaySeconds": 10,
        "periodSeconds": period,
        "timeoutSeconds": 15,
    }


def _pod(name, image, command, mounts, volumes, annotations=None, probes=None):
    container = {
        "command": command,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
        "volumeMounts": [
            {"mountPath": p, "name": n, **({"readOnly": True} if ro else {})} for n, p, ro in mounts
        ],
    }
    container.update(probes or {})
    meta = {
        "creationTimestamp": None,
        "labels": {"component": name, "tier": "control-plane"},
        "name": name,
        "namespace": "kube-system",
    }
    if annotations:
        meta["annotations"] = annotations
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"hostPath": {"path": p, "type": t}, "name": n} for n, p, t in volumes],
        },
        "status": {},
    }
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)


def etcd(name, ip, initial_cluster, state, etcd_version):
    """etcd.yaml for one member. `initial_cluster` is "name=url,..."."""
    flags = {
        "advertise-client-urls": f"https://{ip}:2379",
        "cert-file": "/etc/kubernetes/pki/etcd/server.crt",
        "client-cert-auth": "true",
        "data-dir": "/var/lib/etcd",
        "experimental-initial-corrupt-check": "true",
        "experimental-watch-progress-notify-interval": "5s",
        "initial-advertise-peer-urls": f"https://{ip}:2380",
        "initial-cluster": initial_cluster,
        "key-file": "/etc/kubernetes/pki/etcd/server.key",
        "listen-client-urls": f"https://127.0.0.1:2379,https://{ip}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "listen-peer-urls": f"https://{ip}:2380",
        "name": name,
        "peer-cert-file": "/etc/kubernetes/pki/etcd/peer.crt",
        "peer-client-cert-auth": "true",
        "peer-key-file": "/etc/kubernetes/pki/etcd/peer.key",
        "peer-trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
        "snapshot-count": "10000",
        "trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
    }
    if state == "existing":
        flags["initial-cluster-state"] = "existing"
    command = ["etcd"] + [f"--{k}={v}" for k, v in sorted(flags.items())]
    return _pod(
        "etcd",
        ETCD_IMAGES[etcd_version],
        command,
        mounts=[
            ("etcd-data", "/var/lib/etcd", False),
            ("etcd-certs", "/etc/kubernetes/pki/etcd", False),
        ],
        volumes=[
            ("etcd-certs", "/etc/kubernetes/pki/etcd", "DirectoryOrCreate"),
            ("etcd-data", "/var/lib/etcd", "DirectoryOrCreate"),
        ],
        annotations={"kubeadm.kubernetes.io/etcd.advertise-client-urls": f"https://{ip}:2379"},
        probes={
            "livenessProbe": _probe("127.0.0.1", 2381, "/livez"),
            "startupProbe": _probe("127.0.0.1", 2381, "/readyz", failure=24),
        },
    )


def kube_apiserver(ip, etcd_version):
    flags = {
        "advertise-address": ip,
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": "/etc/kubernetes/pki/ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "etcd-cafile": "/etc/kubernetes/pki/etcd/ca.crt",
        "etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "etcd-keyfile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
        "etcd-servers": "https://127.0.0.1:2379",
        "secure-port": "6443",
        "service-cluster-ip-range": "10.96.0.0/12",
        "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
        "tls-private-key-file": "/etc/kubernetes/pki/apiserver.key",
    }
    command = ["kube-apiserver"] + [f"--{k}={v}" for k, v in sorted(flags.items())]
    return _pod(
        "kube-apiserver",
        f"registry.k8s.io/kube-apiserver:{K8S_VERSIONS[etcd_version]}",
        command,
        mounts=[
            ("ca-certs", "/etc/ssl/certs", True),
            ("k8s-certs", "/etc/kubernetes/pki", True),
        ],
        volumes=[
            ("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate"),
            ("k8s-certs", "/etc/kubernetes/pki", "DirectoryOrCreate"),
        ],
        annotations={
            "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": f"{ip}:6443"
        },
        probes={
            "livenessProbe": _probe(ip, 6443, "/livez", "HTTPS"),
            "readinessProbe": _probe(ip, 6443, "/readyz", "HTTPS", period=1, failure=3),
        },
    )


def component(name, etcd_version, kubeconfig):
    command = [
        name,
        "--authentication-kubeconfig=" + kubeconfig,
        "--authorization-kubeconfig=" + kubeconfig,
        "--bind-address=127.0.0.1",
        "--kubeconfig=" + kubeconfig,
        "--leader-elect=true",
    ]
    return _pod(
        name,
        f"registry.k8s.io/{name}:{K8S_VERSIONS[etcd_version]}",
        command,
        mounts=[("kubeconfig", kubeconfig, True)],
        volumes=[("kubeconfig", kubeconfig, "FileOrCreate")],
    )
