# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The retention rules of the modules that prune a backup directory; their argument
    spec is retention_argument_spec() in plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  keep_last:
    description: Keep the newest N complete backups. At least 1.
    type: int
  keep_days:
    description: Keep every complete backup younger than this many days (fractions allowed).
    type: float
"""
