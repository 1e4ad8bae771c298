# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Set flags of etcd's command line in its static pod manifest, as text: every other
line, comment and quote of the file stays as it was (kubeadm and users keep their own
edits there). A member that joins a running cluster needs ``--initial-cluster`` with every
member and ``--initial-cluster-state=existing``; ``set_flags`` writes those.

Only the ``- --flag=value`` items of the etcd container's command (or args) are
changed; a flag missing there is added after the last of them, with the same indent. The
result is read back with the manifest reader (``_manifest_yaml``, ``parse_flags``): it
must give exactly the flags asked for and every other flag unchanged, else nothing is
written (ManifestError).
"""

from __future__ import annotations

import json
import re

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    ManifestError,
    _as_strings,
    _etcd_container,
    parse_flags,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._manifest_yaml import load_yaml

# one item of a block sequence that is a long flag: indent, the dash, an optional quote
_FLAG_ITEM = re.compile(
    r"""^(?P<indent>\s*)-\s+(?P<quote>["']?)--(?P<name>[A-Za-z0-9-]+)(?P<rest>.*)$"""
)
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./:=,@\[\]%+-]*$")


def _scalar(text):
    """``text`` as a YAML scalar: plain when it is safe so, else double-quoted (JSON)."""
    if _PLAIN_SAFE.match(text) and ": " not in text and not text.startswith(("[", "@", "%")):
        return text
    return json.dumps(text)


def _argv_of(text, where):
    pod = load_yaml(text)
    if not isinstance(pod, dict) or not isinstance(pod.get("spec"), dict):
        raise ManifestError(f"{where}: not a Pod manifest")
    container = _etcd_container(pod["spec"])
    argv = _as_strings(container.get("command"), f"{where}: the etcd container's command")
    return argv + _as_strings(container.get("args"), f"{where}: the etcd container's args")


def _flags_of(argv):
    return parse_flags(argv[1:] if argv and not argv[0].startswith("-") else argv)[0]


def set_flags(text, wanted, where="etcd.yaml"):
    """(new text, changed names) with each flag of ``wanted`` ({name: value}) set on the
    etcd container. ManifestError when a flag is written in another form than
    ``- --name=value`` (its value a separate item), or when the result does not read back
    as asked."""
    argv = _argv_of(text, where)
    before = _flags_of(argv)
    lines = text.splitlines(keepends=True)
    items = [(i, _FLAG_ITEM.match(line.rstrip("\r\n"))) for i, line in enumerate(lines)]
    items = [(i, match) for i, match in items if match]
    if len(items) != len([arg for arg in argv if arg.startswith("--")]):
        raise ManifestError(
            f"{where}: the file holds flags of more than the etcd container's command (another"
            " container, or flags in another form); set the flags by hand"
        )
    found = {}
    last = None
    for index, match in items:
        last = (index, match.group("indent"))
        name = match.group("name")
        if name in wanted:
            if not match.group("rest").startswith("="):
                raise ManifestError(
                    f"{where}: --{name} is written with its value apart (or with none); write"
                    f" it as one item, - --{name}=<value>, then re-run"
                )
            found.setdefault(name, []).append((index, match.group("indent")))
    if last is None:
        raise ManifestError(f"{where}: no '- --flag=value' item in the etcd container's command")
    changed = sorted(name for name, value in wanted.items() if before.get(name) != str(value))
    end = "\r\n" if lines[last[0]].endswith("\r\n") else "\n"
    added = []
    for name in sorted(wanted):
        item = _scalar(f"--{name}={wanted[name]}")
        for index, indent in found.get(name, []):
            lines[index] = f"{indent}- {item}{end}"
        if name not in found:
            added.append(f"{last[1]}- {item}{end}")
    if not lines[last[0]].endswith(("\n", "\r")):
        lines[last[0]] += end
    lines[last[0] + 1 : last[0] + 1] = added
    result = "".join(lines)
    after = _flags_of(_argv_of(result, where))
    expected = dict(before, **{name: str(value) for name, value in wanted.items()})
    if after != expected:
        wrong = sorted(k for k in set(after) | set(expected) if after.get(k) != expected.get(k))
        raise ManifestError(
            f"{where}: setting {', '.join(sorted(wanted))} would change {', '.join(wrong)} in a"
            " way not asked for; nothing was written. Set the flags by hand"
        )
    return result, changed
