# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Whether a module on a master runs as root, and what to say when it does not.

Backups and restores read and write root's files on the masters (the etcd static pod
manifest, the etcd client certificates and keys, etcd's data dir): run as another user,
every step would fail on its own permission error. The first module on each master asks
here once and refuses with what to change in the inventory."""

from __future__ import annotations

import os
import pwd


def not_root_reason(euid=None):
    """None when running as root; otherwise why the run cannot go on, and the fix."""
    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        return None
    try:
        who = f"user {pwd.getpwuid(euid).pw_name} (uid {euid})"
    except KeyError:
        who = f"uid {euid}"
    return (
        f"this runs as {who}, not root: the etcd manifest, its certificates and its data dir"
        " are root's. Connect as root, or as a user with sudo and become"
        " (ansible_become: true in the inventory, or --become; in AWX, privilege escalation"
        " on the machine credential)"
    )
