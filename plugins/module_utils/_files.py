# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Small file-system steps every writer of backups and data directories shares."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile


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


def fsync_file(path):
    """Flush a file's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
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


@contextlib.contextmanager
def atomic_writer(path, mode=0o600, binary=False):
    """A file open for writing under a hidden temporary name beside ``path`` (a dot-name
    ending in .tmp, which retention ignores). When the block ends cleanly the file is
    flushed, fsynced, given ``mode`` and renamed onto ``path``, and the directory fsynced:
    readers see the old file or the whole new one, never half. When the block raises, the
    temporary file is removed and ``path`` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        if binary:
            handle = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        remove(temp)
        raise
    fsync_dir(directory)


def temp_name(path):
    """A hidden temporary name beside ``path`` for a writer that opens the file itself
    (age); the caller renames it into place, or removes it."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")


def write_text_atomic(path, text, mode=0o600):
    """Write ``text`` to ``path`` atomically (``atomic_writer``). Raises OSError; the
    temporary file is gone."""
    with atomic_writer(path, mode) as handle:
        handle.write(text)


def move_file(src, dest, mode=0o600, chunk_size=1 << 20):
    """Move ``src`` to ``dest`` whole or not at all: a rename where both lie on one file
    system, otherwise a streamed copy through ``atomic_writer`` and then ``src`` removed.
    ``dest`` is replaced. Raises OSError; ``src`` stays until ``dest`` is complete."""
    try:
        os.chmod(src, mode)
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    else:
        fsync_dir(os.path.dirname(os.path.abspath(dest)))
        return
    with atomic_writer(dest, mode, binary=True) as out, open(src, "rb") as source:
        while True:
            chunk = source.read(chunk_size)
            if not chunk:
                break
            out.write(chunk)
    remove(src)
