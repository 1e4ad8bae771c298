# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Small file-system steps every writer of backups and data directories shares."""

from __future__ import annotations

import os


def fsync_dir(path):
    """Flush a directory's entries (renames, new and removed files) to disk; a file system
    that cannot fsync a directory is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove(*paths):
    """Remove files that may not exist; True when at least one was there."""
    removed = False
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed = True
    return removed
