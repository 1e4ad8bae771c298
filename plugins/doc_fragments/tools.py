# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The etcd tools option; its argument spec is tools_argument_spec() in
    plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  tools:
    description:
      - The etcd tools on this master, as the C(kubedr_etcd_tools) fact that
        M(kubedr.etcd.etcd_member_facts) returns - keys C(etcdctl) and C(etcdutl), each a dict
        with C(path) and C(version), or null. C(etcdctl) talks to etcd; C(etcdutl), when
        present, checks and restores snapshots.
    type: dict
    required: true
"""
