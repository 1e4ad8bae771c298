"""A kubeadm-style PKI for the lab masters.

Layout and names follow kubeadm: /etc/kubernetes/pki/{ca,apiserver,
apiserver-etcd-client}.{crt,key} and /etc/kubernetes/pki/etcd/{ca,server,peer,
healthcheck-client}.{crt,key}. One Kubernetes CA and one etcd CA for the whole
cluster (kubeadm copies them to every control-plane node); leaf certificates
per master with that master's name and address. ECDSA P-256 keys keep `lab up`
quick.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365
SERVER = [ExtendedKeyUsageOID.SERVER_AUTH]
CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]
BOTH = SERVER + CLIENT


class CA:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    @classmethod
    def create(cls, common_name):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=10 * VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(self, common_name, usages, organization=None, dns=(), ips=()):
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = []
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans = [x509.DNSName(d) for d in dns] + [
            x509.IPAddress(ipaddress.ip_address(i)) for i in ips
        ]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def write(self, directory, base):
        write_pair(directory, base, self.cert, self.key)


def write_pair(directory, base, cert, key):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{base}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / f"{base}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)


def kubeconfig(ca, user, client_cert, client_key, server):
    """A kubeconfig file as kubeadm writes them (certificates embedded)."""
    import base64

    def b64(data):
        return base64.b64encode(data).decode()

    ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    crt = client_cert.public_bytes(serialization.Encoding.PEM)
    key = client_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {b64(ca_pem)}\n"
        f"    server: {server}\n"
        "  name: kubernetes\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: kubernetes\n"
        f"    user: {user}\n"
        f"  name: {user}@kubernetes\n"
        f"current-context: {user}@kubernetes\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        f"- name: {user}\n"
        "  user:\n"
        f"    client-certificate-data: {b64(crt)}\n"
        f"    client-key-data: {b64(key)}\n"
    )


class ClusterPKI:
    """The two CAs of one lab cluster, plus the controller's etcd client."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.k8s_ca = CA.create("kubernetes")
        self.etcd_ca = CA.create("etcd-ca")
        etcd_dir = self.directory / "etcd"
        self.etcd_ca.write(etcd_dir, "ca")
        cert, key = self.etcd_ca.issue(
            "kubedr-lab-controller", CLIENT, organization="system:masters"
        )
        write_pair(self.directory, "controller-etcd-client", cert, key)
        self.k8s_ca.write(self.directory, "ca")

    @property
    def etcd_ca_file(self):
        return self.directory / "etcd" / "ca.crt"

    @property
    def client_cert_file(self):
        return self.directory / "controller-etcd-client.crt"

    @property
    def client_key_file(self):
        return self.directory / "controller-etcd-client.key"

    def write_master(self, etc_kubernetes, hostname, ip):
        """Write one master's /etc/kubernetes/pki and kubeconfigs."""
        root = Path(etc_kubernetes)
        pki = root / "pki"
        etcd = pki / "etcd"
        self.k8s_ca.write(pki, "ca")
        self.etcd_ca.write(etcd, "ca")
        names = [hostname, "localhost"]
        ips = [ip, "127.0.0.1", "::1"]
        for base in ("server", "peer"):
            cert, key = self.etcd_ca.issue(hostname, BOTH, dns=names, ips=ips)
            write_pair(etcd, base, cert, key)
        cert, key = self.etcd_ca.issue("kube-etcd-healthcheck-client", CLIENT)
        write_pair(etcd, "healthcheck-client", cert, key)
        cert, key = self.etcd_ca.issue(
            "kube-apiserver-etcd-client", CLIENT, organization="system:masters"
        )
        write_pair(pki, "apiserver-etcd-client", cert, key)
        cert, key = self.k8s_ca.issue(
            "kube-apiserver",
            SERVER,
            dns=[
                hostname,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=["10.96.0.1", ip, "127.0.0.1"],
        )
        write_pair(pki, "apiserver", cert, key)
        server = f"https://{ip}:6443"
        for fname, user, org in (
            ("admin.conf", "kubernetes-admin", "kubeadm:cluster-admins"),
            ("controller-manager.conf", "system:kube-controller-manager", None),
            ("scheduler.conf", "system:kube-scheduler", None),
            ("kubelet.conf", f"system:node:{hostname}", "system:nodes"),
        ):
            cert, key = self.k8s_ca.issue(user, CLIENT, organization=org)
            path = root / fname
            path.write_text(kubeconfig(self.k8s_ca, user, cert, key, server))
            os.chmod(path, 0o600)
