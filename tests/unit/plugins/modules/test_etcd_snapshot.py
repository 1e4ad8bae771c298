"""Unit tests of the etcd_snapshot module against a real etcd (3.4 and 3.5) over TLS,
with control_plane_archive and etcd_snapshot_verify on the files it writes."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import load_metadata
from ansible_collections.kubedr.etcd.plugins.modules import (
    control_plane_archive,
    etcd_snapshot,
    etcd_snapshot_verify,
)
from tests.lab.pki import CA, CLIENT, SERVER, write_pair
from tests.support.etcd_process import VERSIONS, running_cluster, seed
from tests.support.files import listing
from tests.unit.plugins.modules.conftest import fail_module, run_module

pytestmark = pytest.mark.timeout(180)

STAMP = "20261126T030000Z"
NAME = f"etcd-snapshot-{STAMP}.db"


def make_pki(directory):
    """kubeadm-like etcd PKI: ca, server (127.0.0.1) and healthcheck-client; plus a
    client certificate from another CA."""
    ca = CA.create("etcd-ca")
    ca.write(directory, "ca")
    write_pair(directory, "server", *ca.issue("cp-1", SERVER, dns=["localhost"], ips=["127.0.0.1"]))
    write_pair(directory, "healthcheck-client", *ca.issue("kube-etcd-healthcheck-client", CLIENT))
    other = CA.create("another-ca")
    other.write(directory, "other-ca")
    write_pair(directory, "other-client", *other.issue("stranger", CLIENT))
    return {
        "ca": str(directory / "ca.crt"),
        "cert": str(directory / "server.crt"),
        "key": str(directory / "server.key"),
        "client_cert": str(directory / "healthcheck-client.crt"),
        "client_key": str(directory / "healthcheck-client.key"),
        "other_ca": str(directory / "other-ca.crt"),
        "other_cert": str(directory / "other-client.crt"),
        "other_key": str(directory / "other-client.key"),
    }


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def member(request, tmp_path_factory):
    """One etcd member over TLS with client certificate auth, and its PKI."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    tls = (pki["ca"], pki["client_cert"], pki["client_key"])
    with running_cluster(
        request.param, tmp_path_factory, names=("cp-1",), pki=pki, client_tls=tls
    ) as started:
        seed(started, [f"/registry/configmaps/default/c{index}" for index in range(10)], "y" * 50)
        yield started, pki


def snapshot_args(cluster, pki, dest, **extra):
    return {
        "endpoints": cluster.urls,
        "ca_file": pki["ca"],
        "cert_file": pki["client_cert"],
        "key_file": pki["client_key"],
        "tools": cluster.tools,
        "dest_dir": str(dest),
        "stamp": STAMP,
        "source_host": "cp-1",
        **extra,
    }


def test_save_archive_and_verify(member, tmp_path):
    cluster, pki = member
    dest = tmp_path / "backups"
    etc = tmp_path / "etc" / "kubernetes"
    (etc / "manifests").mkdir(parents=True)
    (etc / "manifests" / "etcd.yaml").write_text("kind: Pod\n")

    archive = run_module(
        control_plane_archive.main,
        {"src": str(etc), "dest_dir": str(dest), "host": "cp-1", "stamp": STAMP},
    )
    listed = [{key: archive[key] for key in ("host", "file", "size", "sha256")}]
    result = run_module(
        etcd_snapshot.main,
        snapshot_args(
            cluster,
            pki,
            dest,
            trial_restore=True,
            kubernetes_version="v1.31.2",
            collection_version="0.1.0",
            control_plane_archives=listed,
        ),
    )
    snapshot = dest / NAME
    assert result["changed"] is True
    assert result["snapshot"] == str(snapshot)
    assert result["metadata_file"] == f"{snapshot}.json"
    assert result["endpoint"] == cluster.urls[0]
    assert result["notes"] == []
    assert set(result["peak_rss_kib"]) == {"self", "tools"}
    assert listing(dest) == sorted([archive["file"], NAME, f"{NAME}.json"])
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600

    record = load_metadata(result["metadata_file"])
    assert record == result["metadata"]
    assert record["etcd"]["version"] == VERSIONS[cluster.version]["version"]
    assert [m["name"] for m in record["etcd"]["members"]] == ["cp-1"]
    assert record["snapshot"]["revision"] == cluster.status("cp-1")["revision"]
    assert record["control_plane_archives"] == listed
    assert record["trial_restore"] is True

    verified = run_module(
        etcd_snapshot_verify.main,
        {"path": str(snapshot), "tools": cluster.tools, "trial_restore": True},
    )
    assert verified["changed"] is False
    assert verified["sha256"] == record["snapshot"]["sha256"]
    assert verified["status"]["revision"] == record["snapshot"]["revision"]
    assert verified["status"]["total_key"] == record["snapshot"]["total_key"]
    assert verified["trial_restore"] is True
    assert listing(dest) == sorted([archive["file"], NAME, f"{NAME}.json"])

    again = fail_module(etcd_snapshot.main, snapshot_args(cluster, pki, dest, trial_restore=False))
    assert again["msg"] == f"{snapshot} exists already; a backup is never overwritten"


def test_check_mode_writes_nothing(member, tmp_path):
    cluster, pki = member
    dest = tmp_path / "backups"
    result = run_module(
        etcd_snapshot.main, snapshot_args(cluster, pki, dest, _ansible_check_mode=True)
    )
    assert result["changed"] is True
    assert result["snapshot"] == str(dest / NAME)
    assert result["msg"].startswith(f"would save {dest / NAME} from {cluster.urls[0]} (database ")
    assert not dest.exists()


def test_client_certificate_of_another_ca(member, tmp_path):
    cluster, pki = member
    dest = tmp_path / "backups"
    args = snapshot_args(cluster, pki, dest)
    args.update(cert_file=pki["other_cert"], key_file=pki["other_key"])
    failed = fail_module(etcd_snapshot.main, args)
    # etcd drops the TLS handshake and etcdctl only sees the time run out; the module's
    # own handshake names the certificate etcd refused.
    assert failed["msg"].startswith(
        f"no healthy etcd member: {cluster.urls[0]}: context deadline exceeded; TLS: "
        f"{cluster.urls[0]} refused the client certificate {pki['other_cert']} ("
    )
    assert failed["msg"].endswith(
        "use a client certificate signed by the cluster's etcd CA; nothing was saved"
    )
    assert not dest.exists()


def test_missing_certificate(member, tmp_path):
    cluster, pki = member
    args = snapshot_args(cluster, pki, tmp_path / "backups", cert_file=str(tmp_path / "no.crt"))
    failed = fail_module(etcd_snapshot.main, args)
    assert failed["msg"].startswith(f"cert_file={tmp_path / 'no.crt'}: no such file.")


def test_no_etcdctl(member, tmp_path):
    cluster, pki = member
    tools = {"etcdctl": None, "etcdutl": cluster.tools["etcdutl"]}
    failed = fail_module(etcd_snapshot.main, snapshot_args(cluster, pki, tmp_path, tools=tools))
    assert failed["msg"].startswith("etcdctl was not found on this master (tools.etcdctl is empty)")
    assert os.listdir(tmp_path) == []
