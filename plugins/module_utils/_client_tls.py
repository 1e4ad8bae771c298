# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside modules and
# in the standalone scheduled backup script.
"""Which CA, client certificate and key etcdctl uses to talk to a member: the one place
that decides.

Given ones win. Otherwise the CA is the member's ``--trusted-ca-file``, and the client
certificate is kubeadm's ``healthcheck-client.crt``/``.key`` beside that CA when both
exist, else the member's peer certificate and key (kubeadm signs it for client use too),
else none. ``etcd_member_facts`` returns the choice as ``tls.client_cert_file`` /
``tls.client_key_file``, and the roles pass that on.
"""

from __future__ import annotations

import os

HEALTHCHECK_CERT = "healthcheck-client.crt"
HEALTHCHECK_KEY = "healthcheck-client.key"


class ClientTLSError(Exception):
    """The client TLS files are not usable; the message says which and why."""


def healthcheck_client(trusted_ca_file):
    """kubeadm's healthcheck-client.crt/.key beside the CA when both exist, else
    (None, None)."""
    if not trusted_ca_file:
        return None, None
    directory = os.path.dirname(trusted_ca_file)
    cert = os.path.join(directory, HEALTHCHECK_CERT)
    key = os.path.join(directory, HEALTHCHECK_KEY)
    if os.path.isfile(cert) and os.path.isfile(key):
        return cert, key
    return None, None


def client_tls(member_tls, ca_file=None, cert_file=None, key_file=None):
    """(cacert, cert, key) for etcdctl against the member whose ``tls`` (the
    ``_etcd_manifest`` shape) is given; None parts mean none (plain http, or no client
    certificate). Raises ClientTLSError when only one of cert_file and key_file is given."""
    if bool(cert_file) != bool(key_file):
        raise ClientTLSError("give both a client certificate and its key, or neither")
    tls = member_tls or {}
    ca = ca_file or tls.get("trusted_ca_file")
    if cert_file:
        return ca, cert_file, key_file
    cert, key = healthcheck_client(ca)
    if cert:
        return ca, cert, key
    if tls.get("peer_cert_file") and tls.get("peer_key_file"):
        return ca, tls["peer_cert_file"], tls["peer_key_file"]
    return ca, None, None


def check_client_tls(tls_files, client_cert_auth=False):
    """Raise ClientTLSError when the (cacert, cert, key) chosen cannot work: no client
    certificate for a member that requires one, or a file missing or unreadable."""
    ca, cert, _key = tls_files
    if client_cert_auth and not cert:
        raise ClientTLSError(
            f"etcd requires a client certificate, and there is no {HEALTHCHECK_CERT}/.key"
            f" beside {ca} nor a peer certificate"
        )
    for path in tls_files:
        if path and not os.path.isfile(path):
            raise ClientTLSError(f"TLS file {path} does not exist")
        if path and not os.access(path, os.R_OK):
            raise ClientTLSError(f"cannot read TLS file {path}: permission denied (run as root)")
