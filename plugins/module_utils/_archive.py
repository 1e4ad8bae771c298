# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Archives of a master's control-plane files (/etc/kubernetes).

``archive_directory`` streams a gzip'd tar of a directory into a hidden
temporary file (mode 0600 from the start: it holds private keys), hashing the
bytes as they are written, then renames it into place. A failure leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tarfile

from ansible_collections.kubedr.etcd.plugins.module_utils._files import atomic_writer

ARCHIVE_PREFIX = "kubernetes-"
ARCHIVE_SUFFIX = ".tar.gz"


class ArchiveError(Exception):
    """The archive could not be written; the message says why."""


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()


def archive_name(host, stamp):
    """kubernetes-<host>-<stamp>.tar.gz, e.g. kubernetes-docker8-20261126T030000Z.tar.gz."""
    return f"{ARCHIVE_PREFIX}{host}-{stamp}{ARCHIVE_SUFFIX}"


def archive_directory(src, dest):
    """Write a tar.gz of ``src`` (paths inside it relative to its parent) to ``dest``.

    Returns {'file', 'size', 'sha256', 'entries'}. Refuses to overwrite ``dest``.
    """
    if not os.path.isdir(src):
        raise ArchiveError(f"{src} is not a directory; nothing to archive")
    if os.path.exists(dest):
        raise ArchiveError(f"{dest} exists already; an archive is never overwritten")
    entries = 0
    try:
        with atomic_writer(dest, binary=True) as raw:
            writer = _HashingWriter(raw)
            with tarfile.open(fileobj=writer, mode="w|gz") as tar:
                base = os.path.dirname(os.path.abspath(src))
                # The top directory itself first, so its mode and owner come back too.
                tar.add(src, arcname=os.path.relpath(os.path.abspath(src), base), recursive=False)
                entries += 1
                for root, dirs, files in os.walk(src):
                    dirs.sort()
                    for name in [*sorted(dirs), *sorted(files)]:
                        path = os.path.join(root, name)
                        tar.add(path, arcname=os.path.relpath(path, base), recursive=False)
                        entries += 1
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"could not archive {src} to {dest}: {exc}") from None
    return {
        "file": os.path.basename(dest),
        "size": writer.size,
        "sha256": writer.sha256.hexdigest(),
        "entries": entries,
    }
