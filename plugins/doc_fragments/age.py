# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The age options of the encryption modules; their argument spec is
    age_argument_spec() in plugins/module_utils/_common_args.py."""

    DOCUMENTATION = r"""
options:
  age_command:
    description: The age binary, a name looked up in C(PATH) or a path.
    type: str
    default: age
"""
