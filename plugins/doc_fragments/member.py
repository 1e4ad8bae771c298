# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Where a master's etcd member and tools are read from: the options of the modules
    that return the kubedr_etcd_member and kubedr_etcd_tools facts; their argument spec is
    member_argument_spec() in plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  manifest_path:
    description:
      - Path of the etcd static pod manifest on the master.
    type: path
    default: /etc/kubernetes/manifests/etcd.yaml
  search_moved_aside:
    description:
      - When O(manifest_path) does not exist, look for the same file name in the sibling
        directories of its directory whose names start with the directory's name followed by
        C(.) or C(-), for example C(/etc/kubernetes/manifests.bak/etcd.yaml) or
        C(/etc/kubernetes/manifests.kubedr-20261126T031500Z/etcd.yaml).
      - The most recent one wins (the latest of the file's modification time and its
        directory's modification and change time), and
        the fact C(kubedr_etcd_member.moved_aside) is V(true).
    type: bool
    default: true
  etcdctl_path:
    description:
      - Path of the C(etcdctl) binary.
      - When not set, C(etcdctl) is searched in E(PATH), C(/usr/local/bin) and C(/usr/bin);
        if it is not found, the fact C(kubedr_etcd_tools.etcdctl) is V(null).
      - When set, the file must exist and be executable, or the module fails.
    type: path
  etcdutl_path:
    description:
      - Path of the C(etcdutl) binary (etcd 3.5 and newer).
      - Searched and reported like O(etcdctl_path).
    type: path
"""
