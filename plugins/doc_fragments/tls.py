# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The TLS client options of modules that talk to etcd; their argument spec is
    tls_argument_spec() in plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  ca_file:
    description: The etcd CA certificate (kubeadm - C(/etc/kubernetes/pki/etcd/ca.crt)).
    type: path
    required: true
  cert_file:
    description:
      - Client certificate accepted by etcd
        (kubeadm - C(/etc/kubernetes/pki/etcd/healthcheck-client.crt)).
    type: path
    required: true
  key_file:
    description: Key of O(cert_file).
    type: path
    required: true
notes:
  - The TLS files are passed to etcdctl through C(ETCDCTL_*) environment variables.
"""
