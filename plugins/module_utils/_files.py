# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Small file-system steps every writer of backups and data directories shares."""

from __future__ import annotations

import errno
import os
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


def write_text_atomic(path, text, mode=0o600):
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one,
    never half: temp file in the same directory (a dot-name, which retention ignores),
    fsync, chmod, rename, fsync the directory. Raises OSError; the temp file is gone."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def move_file(src, dest, mode=0o600, chunk_size=1 << 20):
    """Move ``src`` to ``dest`` whole or not at all: a rename where both lie on one file
    system, otherwise a streamed copy into a dot-named temp file beside ``dest`` (fsync,
    chmod, rename) and then ``src`` removed. ``dest`` is replaced. Raises OSError; a
    half-written temp file is removed, ``src`` stays until ``dest`` is complete."""
    directory = os.path.dirname(os.path.abspath(dest))
    try:
        os.chmod(src, mode)
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    else:
        fsync_dir(directory)
        return
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(dest)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as source:
            while True:
                chunk = source.read(chunk_size)
                if not chunk:
                    break
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, dest)
    except BaseException:
        remove(temp)
        raise
    fsync_dir(directory)
    remove(src)
