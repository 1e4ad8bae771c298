# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the hosts, inside the
# module_utils_install module, and on the controller in its action plugin.
"""The collection's own module_utils installed into a directory on a host, for the
scheduled scripts to import: read on the controller (``read_sources``), then on the host
compared by sha256 and written where they differ, with stale ones removed (``install``).

The directory belongs to the collection: every ``_*.py`` there is one of its files, so one
the collection no longer ships is removed. Nothing else in it is touched."""

from __future__ import annotations

import hashlib
import os
import stat

from ansible_collections.kubedr.etcd.plugins.module_utils._files import atomic_writer, remove
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure

FILE_MODE = 0o644
DIR_MODE = 0o755


def is_source_name(name):
    """Whether ``name`` is one of the files installed: ``_*.py``, a plain file name."""
    return (
        len(name) > len("_.py")
        and name.startswith("_")
        and name.endswith(".py")
        and os.sep not in name
        and "/" not in name
    )


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def read_sources(directory):
    """The ``_*.py`` files of ``directory`` (the collection's plugins/module_utils), sorted
    by name: ``[{name, content, sha256}]``, content as text (UTF-8). Raises TaskFailure
    when the directory cannot be read or holds none."""
    try:
        names = sorted(n for n in os.listdir(directory) if is_source_name(n))
    except OSError as exc:
        raise TaskFailure(
            f"cannot list the collection's module_utils in {directory}: {exc}"
        ) from exc
    if not names:
        raise TaskFailure(f"no _*.py files in {directory}: is the collection complete?")
    sources = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            content = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TaskFailure(f"cannot read {path} as UTF-8 text: {exc}") from exc
        sources.append({"name": name, "content": content, "sha256": sha256_hex(data)})
    return sources


def check_files(files):
    """The files to install as ``{name: bytes}``; each name must be a ``_*.py`` file name,
    given once, and its content must match its sha256. Raises TaskFailure naming the
    first that does not."""
    wanted = {}
    for entry in files:
        name = entry.get("name") or ""
        if not is_source_name(name):
            raise TaskFailure(f"files: {name!r} is not a _*.py file name; nothing was written")
        if name in wanted:
            raise TaskFailure(f"files: {name} is given twice; nothing was written")
        data = (entry.get("content") or "").encode("utf-8")
        if sha256_hex(data) != entry.get("sha256"):
            raise TaskFailure(
                f"files: the content of {name} does not match its sha256 {entry.get('sha256')};"
                " nothing was written"
            )
        wanted[name] = data
    return wanted


def _file_state(path):
    """(sha256, mode) of a regular file, or None when there is none (or something else)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    with open(path, "rb") as handle:
        return sha256_hex(handle.read()), stat.S_IMODE(info.st_mode)


def plan(dest, wanted):
    """What ``install`` has to do in ``dest`` for the files ``wanted`` ({name: bytes}):
    ``{create, dir_mode, write, chmod, remove, before}`` - whether dest is to be made,
    whether its mode is to be set, the names to write (missing or differing), to chmod
    only, and the stale ``_*.py`` to remove; ``before`` holds (sha256, mode) of the files
    there now that are touched. Raises TaskFailure when dest is not a directory."""
    result = {"create": False, "dir_mode": False, "write": [], "chmod": [], "remove": []}
    before = {}
    try:
        info = os.stat(dest)
    except FileNotFoundError:
        result.update(create=True, write=sorted(wanted), before=before)
        return result
    if not stat.S_ISDIR(info.st_mode):
        raise TaskFailure(f"dest {dest} exists and is not a directory; nothing was written")
    result["dir_mode"] = stat.S_IMODE(info.st_mode) != DIR_MODE
    for name in sorted(wanted):
        state = _file_state(os.path.join(dest, name))
        if state is None or state[0] != sha256_hex(wanted[name]):
            result["write"].append(name)
        elif state[1] != FILE_MODE:
            result["chmod"].append(name)
        else:
            continue
        if state is not None:
            before[name] = state
    with os.scandir(dest) as entries:
        for entry in entries:
            if (
                is_source_name(entry.name)
                and entry.name not in wanted
                and not entry.is_dir(follow_symlinks=False)
            ):
                result["remove"].append(entry.name)
                before[entry.name] = _file_state(entry.path) or ("-", None)
    result["remove"].sort()
    result["before"] = before
    return result


def make_dirs(path):
    """Make ``path`` and its missing parents, each mode 0755 whatever the umask."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        os.mkdir(directory, DIR_MODE)
        os.chmod(directory, DIR_MODE)


def _line(name, state):
    digest, mode = state
    return f"{name} {digest[:12]} {'-' if mode is None else format(mode, '04o')}\n"


def diff(dest, steps, wanted):
    """--diff of ``plan``'s steps: the touched files, one a line with the first 12 digits
    of their sha256 and their mode, as they are (before) and as they will be (after)."""
    after = {name: (sha256_hex(wanted[name]), FILE_MODE) for name in steps["write"]}
    after.update((name, (steps["before"][name][0], FILE_MODE)) for name in steps["chmod"])
    return {
        "before_header": dest,
        "after_header": dest,
        "before": "".join(_line(n, s) for n, s in sorted(steps["before"].items())),
        "after": "".join(_line(n, s) for n, s in sorted(after.items())),
    }


def install(dest, files, check_mode=False, want_diff=False):
    """Install ``files`` (``[{name, content, sha256}]``, as ``read_sources`` gives them)
    into ``dest``: files whose sha256 differs are written atomically (mode 0644), a right
    file with another mode gets 0644, ``_*.py`` files not among ``files`` are removed, dest
    (and missing parents) is made 0755. In check mode nothing is written. Returns the
    module's result; raises TaskFailure (with what was done so far) when a step fails."""
    wanted = check_files(files)
    steps = plan(dest, wanted)
    result = {
        "changed": any(steps[key] for key in ("create", "dir_mode", "write", "chmod", "remove")),
        "dest": dest,
        "created": steps["create"],
        "written": steps["write"],
        "mode_set": steps["chmod"],
        "removed": steps["remove"],
    }
    if want_diff:
        result["diff"] = diff(dest, steps, wanted)
    verb = "would install" if check_mode else "installed"
    result["msg"] = (
        f"{verb} {len(steps['write'])} of {len(wanted)} files in {dest},"
        f" removed {len(steps['remove'])}"
        if result["changed"]
        else f"all {len(wanted)} files in {dest} are up to date"
    )
    if check_mode:
        return result
    done = {"written": [], "removed": []}
    try:
        if steps["create"]:
            make_dirs(dest)
        elif steps["dir_mode"]:
            os.chmod(dest, DIR_MODE)
        for name in steps["write"]:
            with atomic_writer(os.path.join(dest, name), FILE_MODE, binary=True) as handle:
                handle.write(wanted[name])
            done["written"].append(name)
        for name in steps["chmod"]:
            os.chmod(os.path.join(dest, name), FILE_MODE)
        for name in steps["remove"]:
            remove(os.path.join(dest, name))
            done["removed"].append(name)
    except OSError as exc:
        raise TaskFailure(
            f"cannot install the collection's module_utils in {dest}: {exc}", **done
        ) from exc
    return result
