# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes of kubedr.etcd modules beyond ansible.builtin.action_common_attributes.

    Modules list this fragment first, then ansible.builtin.action_common_attributes
    (what comes first wins), and set only support and details themselves."""

    DOCUMENTATION = r"""
attributes:
  platform:
    support: full
    platforms: posix
  idempotent:
    description:
      - When run twice in a row with the same options, the second run reports no change and
        changes nothing.
"""

    ACTION = r"""
attributes:
  action:
    description:
      - An action plugin of the same name does the work on the controller.
"""
