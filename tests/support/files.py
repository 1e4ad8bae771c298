"""Looking at what a test left on disk, and snapshot-like files to feed the code."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def listing(directory):
    """The sorted names in ``directory``, or None when it does not exist."""
    directory = Path(directory)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else None


def tree_digest(path):
    """sha256 over the names and bytes of every file below ``path``."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            digest.update(str(full.relative_to(path)).encode() + b"\0" + full.read_bytes())
    return digest.hexdigest()


def corrupt_body_snapshot(path, blocks=4):
    """Write bytes that are no bbolt database, with a valid sha256 trailer; return the path."""
    body = bytes(range(256)) * 2 * blocks
    Path(path).write_bytes(body + hashlib.sha256(body).digest())
    return str(path)


def flip_byte(path, offset):
    """Change the byte at ``offset`` (negative counts from the end) so it always differs."""
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0x01
    Path(path).write_bytes(bytes(data))


def sha(path):
    """sha256 (hex) of a small file a test wrote or checks."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
