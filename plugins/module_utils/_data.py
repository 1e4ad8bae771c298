# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only.
"""Data handed over by Ansible, as plain Python."""

from __future__ import annotations

from collections.abc import Mapping


def plain(value):
    """Mappings and lists (Ansible's tagged and lazy ones too) as plain dicts and lists,
    all the way down."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
