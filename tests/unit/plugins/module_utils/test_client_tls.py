"""Unit tests of _client_tls: the one rule for etcdctl's CA, client certificate and key."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._client_tls import (
    ClientTLSError,
    check_client_tls,
    client_tls,
    healthcheck_client,
)


@pytest.fixture
def pki(tmp_path):
    for name in (
        "ca.crt",
        "peer.crt",
        "peer.key",
        "healthcheck-client.crt",
        "healthcheck-client.key",
    ):
        (tmp_path / name).write_text(name)
    return tmp_path


def member_tls(pki):
    return {
        "trusted_ca_file": str(pki / "ca.crt"),
        "peer_cert_file": str(pki / "peer.crt"),
        "peer_key_file": str(pki / "peer.key"),
        "client_cert_auth": True,
    }


def test_healthcheck_client_beside_the_ca_first(pki):
    assert client_tls(member_tls(pki)) == (
        str(pki / "ca.crt"),
        str(pki / "healthcheck-client.crt"),
        str(pki / "healthcheck-client.key"),
    )


def test_peer_certificate_when_the_healthcheck_pair_is_incomplete(pki):
    (pki / "healthcheck-client.key").unlink()
    assert healthcheck_client(str(pki / "ca.crt")) == (None, None)
    assert client_tls(member_tls(pki)) == (
        str(pki / "ca.crt"),
        str(pki / "peer.crt"),
        str(pki / "peer.key"),
    )


def test_given_files_win(pki, tmp_path):
    assert client_tls(member_tls(pki), "/x/ca", "/x/c", "/x/k") == ("/x/ca", "/x/c", "/x/k")
    assert client_tls(member_tls(pki), cert_file="/x/c", key_file="/x/k")[0] == str(pki / "ca.crt")
    with pytest.raises(ClientTLSError, match="both"):
        client_tls(member_tls(pki), cert_file="/x/c")


def test_plain_http_member():
    assert client_tls({"trusted_ca_file": None}) == (None, None, None)
    assert client_tls(None) == (None, None, None)
    check_client_tls((None, None, None))


def test_check_names_the_problem(pki):
    with pytest.raises(ClientTLSError, match="requires a client certificate"):
        check_client_tls((str(pki / "ca.crt"), None, None), client_cert_auth=True)
    with pytest.raises(ClientTLSError, match=r"nowhere\.crt does not exist"):
        check_client_tls((str(pki / "ca.crt"), str(pki / "nowhere.crt"), str(pki / "peer.key")))
    check_client_tls(client_tls(member_tls(pki)), client_cert_auth=True)
