# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Controller side: used by action plugins before they transfer a large file.
"""How a large file (a snapshot) crosses the ``ssh`` connection: without compression.

Ansible's default ``ssh_args`` are ``-C -o ControlMaster=auto -o ControlPersist=60s``.
``-C`` makes ssh compress with zlib on both ends: a 256 MiB snapshot sent to three
masters at once then takes about four times as long as the same copy without it (see
docs/restore.md, Measured). These helpers give the arguments of a transfer without
compression, everything else the user set kept, and a control socket of its own: a
master connection opened earlier with ``-C`` keeps compressing whatever reuses it.
``uncompressed(connection)`` applies both to a connection for the length of a transfer.
"""

from __future__ import annotations

import contextlib
import shlex

SSH_TRANSPORTS = ("ssh", "ansible.builtin.ssh")

# ssh_args tokens that turn compression on: -C alone or within a flag group (-4C), and
# the Compression option in either spelling (-o Compression=yes, -oCompression yes).
_OPTION = "compression"
# ssh's flags that take no value, which may stand grouped in one token (-4C, -AC)
_FLAGS = set("46AaCfGgKkMNnqsTtVvXxYy")


def _is_compression_option(value):
    key, _sep, _rest = value.replace("=", " ", 1).partition(" ")
    return key.strip().lower() == _OPTION


def uncompressed_ssh_args(ssh_args):
    """``ssh_args`` (a string, as in ansible.cfg) without what turns compression on.

    Returns (new_args, changed). Flags grouped with -C (``-4C``) keep their other
    letters; options that take a value are left as they are."""
    if not ssh_args:
        return ssh_args, False
    tokens = shlex.split(ssh_args)
    out = []
    changed = False
    skip_value = False
    for index, token in enumerate(tokens):
        if skip_value:
            skip_value = False
            continue
        if token == "-o" and index + 1 < len(tokens):
            if _is_compression_option(tokens[index + 1]):
                changed = True
                skip_value = True
                continue
            out.append(token)
            continue
        if token.startswith("-o") and len(token) > 2:
            if _is_compression_option(token[2:]):
                changed = True
                continue
            out.append(token)
            continue
        letters = token[1:]
        if token.startswith("-") and "C" in letters and set(letters) <= _FLAGS:
            rest = letters.replace("C", "")
            changed = True
            if rest:
                out.append("-" + rest)
            continue
        out.append(token)
    return (shlex.join(out), True) if changed else (ssh_args, False)


def own_control_path(control_path):
    """A ControlPath template for the uncompressed transfer, apart from the usual one.

    ``control_path`` is the ssh plugin's option (None: the plugin's own hash under
    ``%(directory)s``). ssh's ``%C`` (a hash of both hosts, the port and the user) keeps
    one socket per master."""
    if not control_path:
        return "%(directory)s/kubedr-%%C"
    return f"{control_path}-kubedr"


@contextlib.contextmanager
def uncompressed(connection, compress=False):
    """For the length of the block, an ``ssh`` connection transfers without compression,
    over a control socket of its own; its options are put back afterwards. Yields whether
    anything was changed: nothing is when ``compress`` (the user asked for it), when the
    connection is not ``ssh``, or when its ``ssh_args`` do not compress."""
    saved = {}
    if not compress and connection.transport in SSH_TRANSPORTS:
        before = connection.get_option("ssh_args")
        args, changed = uncompressed_ssh_args(before)
        if changed:
            control_path = connection.get_option("control_path")
            connection.set_option("ssh_args", args)
            connection.set_option("control_path", own_control_path(control_path))
            saved = {"ssh_args": before, "control_path": control_path}
    try:
        yield bool(saved)
    finally:
        for option, value in saved.items():
            connection.set_option(option, value)
