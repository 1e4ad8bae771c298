# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Argument spec of the options several modules share.

Each function returns a new dict to merge into a module's argument_spec; the
options are documented once, by the doc fragment of the same name in
plugins/doc_fragments/ (kubedr.etcd.tls, kubedr.etcd.tools, kubedr.etcd.age,
kubedr.etcd.retention, kubedr.etcd.member, kubedr.etcd.control_plane_archive).
"""

from __future__ import annotations


def tls_argument_spec():
    """ca_file, cert_file and key_file: the TLS client files for etcd."""
    return {
        "ca_file": {"type": "path", "required": True},
        "cert_file": {"type": "path", "required": True},
        # a path to the key, not the key itself
        "key_file": {"type": "path", "required": True, "no_log": False},
    }


def tools_argument_spec():
    """tools: the kubedr_etcd_tools fact of etcd_member_facts."""
    return {"tools": {"type": "dict", "required": True}}


def age_argument_spec():
    """age_command: the age binary."""
    return {"age_command": {"type": "str", "default": "age"}}


def retention_argument_spec():
    """keep_last and keep_days: the retention rules (plugins/module_utils/_retention.py)."""
    return {"keep_last": {"type": "int"}, "keep_days": {"type": "float"}}


def member_argument_spec():
    """manifest_path, search_moved_aside, etcdctl_path, etcdutl_path: where a master's etcd
    member and tools are read from (plugins/module_utils/_member_facts.py)."""
    return {
        "manifest_path": {"type": "path", "default": "/etc/kubernetes/manifests/etcd.yaml"},
        "search_moved_aside": {"type": "bool", "default": True},
        "etcdctl_path": {"type": "path"},
        "etcdutl_path": {"type": "path"},
    }


def control_plane_argument_spec():
    """src, dest_dir, host, stamp: a master's control-plane archive
    (plugins/module_utils/_control_plane.py)."""
    return {
        "src": {"type": "path", "default": "/etc/kubernetes"},
        "dest_dir": {"type": "path", "default": "/var/backups/kubedr-etcd"},
        "host": {"type": "str"},
        "stamp": {"type": "str"},
    }
