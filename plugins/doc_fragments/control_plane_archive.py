# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What a master's control-plane archive is made of and where it goes: the options of
    the modules that write it; their argument spec is control_plane_argument_spec() in
    plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  src:
    description: Directory to archive.
    type: path
    default: /etc/kubernetes
  dest_dir:
    description: Directory the archive is written to; created (mode 0700) if missing.
    type: path
    default: /var/backups/kubedr-etcd
  host:
    description: Name of this master in the archive's name. Defaults to its hostname.
    type: str
  stamp:
    description: UTC time naming the archive, as C(20261126T030000Z); defaults to now.
    type: str
"""
