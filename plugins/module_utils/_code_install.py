# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the hosts, inside the
# module_utils_install module, and on the controller in its action plugin.
"""The collection's own module_utils installed into a directory on a host, for the
scheduled scripts to import: read on the controller (``read_sources``), then on the host
compared by sha256 and written where they differ (``install``).

The directory must be a collection's module_utils directory - its path ends in
``ansible_collections/kubedr/etcd/plugins/module_utils`` - and the names written there are
listed in a file of the module's own, ``.kubedr-etcd-installed``. A listed ``_*.py`` file
the collection no longer ships is removed when it is a regular file; nothing else in the
directory is ever touched (not a file the module did not write, not a symlink, not
``__init__.py`` or another ``__*__.py``)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

from ansible_collections.kubedr.etcd.plugins.module_utils._files import atomic_writer, remove
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure

FILE_MODE = 0o644
DIR_MODE = 0o755
# The path dest must end in: the collection's module_utils as Python imports them.
DEST_SUFFIX = ("ansible_collections", "kubedr", "etcd", "plugins", "module_utils")
# In dest: the names of the files the module installed there, one a line.
MANIFEST = ".kubedr-etcd-installed"


def is_source_name(name):
    """Whether ``name`` is one of the files installed: ``_*.py``, a plain file name, and
    not a dunder name such as ``__init__.py``."""
    return (
        len(name) > len("_.py")
        and name.startswith("_")
        and name.endswith(".py")
        and not (name.startswith("__") and name.endswith("__.py"))
        and os.sep not in name
        and "/" not in name
    )


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def check_dest(dest):
    """Refuse (TaskFailure) a ``dest`` whose path does not end in the collection's
    module_utils directory, ``.../ansible_collections/kubedr/etcd/plugins/module_utils``."""
    parts = tuple(p for p in os.path.normpath(dest).split(os.sep) if p)
    if parts[-len(DEST_SUFFIX) :] != DEST_SUFFIX:
        raise TaskFailure(
            f"dest {dest} is not a directory of the collection's code: its path must end in"
            f" {'/'.join(DEST_SUFFIX)} (for example"
            f" /usr/local/lib/kubedr-etcd/{'/'.join(DEST_SUFFIX)}); nothing was written"
        )


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


def _regular(path):
    """os.lstat of ``path`` when it is a regular file (not a symlink), else None."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _file_state(path):
    """(sha256, mode) of a regular file, or None when there is none (or something else)."""
    info = _regular(path)
    if info is None:
        return None
    with open(path, "rb") as handle:
        return sha256_hex(handle.read()), stat.S_IMODE(info.st_mode)


def manifest_text(names):
    return "".join(f"{name}\n" for name in sorted(names))


def read_manifest(dest):
    """The ``_*.py`` names the manifest in ``dest`` lists (a set), empty when there is none
    (or it is not a regular file)."""
    path = os.path.join(dest, MANIFEST)
    if _regular(path) is None:
        return set()
    with open(path, "rb") as handle:
        lines = handle.read().decode("utf-8", "replace").splitlines()
    return {line.strip() for line in lines if is_source_name(line.strip())}


def _fix(exc):
    """What to do about an OSError met on the host, in a few words."""
    if exc.errno == errno.ENOTDIR:
        return "a part of that path is a file, not a directory: remove it or choose another dest"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            "run the task as a user that may write there (become: true) or choose a writable dest"
        )
    return "check dest and its parent directories on the host"


def _os_failure(dest, exc, what, **details):
    path = exc.filename or dest
    return TaskFailure(
        f"cannot {what} {dest} ({path}: {exc.strerror or exc}) - {_fix(exc)}",
        dest=dest,
        **details,
    )


def plan(dest, wanted):
    """What ``install`` has to do in ``dest`` for the files ``wanted`` ({name: bytes}):
    ``{create, dir_mode, write, chmod, remove, manifest, before}`` - whether dest is to be
    made, the mode it has when that is to be set (else None), the names to write (missing
    or differing), to chmod only, the stale ones to remove (listed in the manifest, not
    wanted, regular files), and the names the manifest lists now; ``before`` holds
    (sha256, mode) of the files there now that are touched. Raises TaskFailure when dest
    is not a directory, OSError when it cannot be read."""
    result = {"create": False, "dir_mode": None, "write": [], "chmod": [], "remove": []}
    before = {}
    try:
        info = os.stat(dest)
    except FileNotFoundError:
        result.update(create=True, write=sorted(wanted), manifest=set(), before=before)
        return result
    if not stat.S_ISDIR(info.st_mode):
        raise TaskFailure(
            f"dest {dest} exists and is not a directory - remove it or choose another dest;"
            " nothing was written",
            dest=dest,
        )
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        result["dir_mode"] = stat.S_IMODE(info.st_mode)
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
    listed = read_manifest(dest)
    for name in sorted(listed - set(wanted)):
        state = _file_state(os.path.join(dest, name))
        if state is not None:
            result["remove"].append(name)
            before[name] = state
    result["manifest"] = listed
    result["before"] = before
    return result


def make_dirs(path):
    """Make ``path`` and its missing parents, each mode 0755 whatever the umask."""
    path = os.path.normpath(path)
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
    of their sha256 and their mode, as they are (before) and as they will be (after); the
    directory itself as ``.`` when its mode is set, the manifest when it changes."""
    before = dict(steps["before"])
    after = {name: (sha256_hex(wanted[name]), FILE_MODE) for name in steps["write"]}
    after.update((name, (before[name][0], FILE_MODE)) for name in steps["chmod"])
    if steps["dir_mode"] is not None:
        before["."] = ("-", steps["dir_mode"])
        after["."] = ("-", DIR_MODE)
    if steps["manifest_changes"]:
        if steps["manifest_before"] is not None:
            before[MANIFEST] = steps["manifest_before"]
        after[MANIFEST] = (sha256_hex(manifest_text(wanted).encode()), FILE_MODE)
    return {
        "before_header": dest,
        "after_header": dest,
        "before": "".join(_line(n, s) for n, s in sorted(before.items())),
        "after": "".join(_line(n, s) for n, s in sorted(after.items())),
    }


def _message(dest, steps, wanted, check_mode):
    def say(past, present):
        return f"would {present}" if check_mode else past

    count, total = len(steps["write"]), len(wanted)
    parts = [say("installed", "install") + f" {count} of {total} files in {dest}"]
    if steps["chmod"]:
        parts.append(say("set", "set") + f" the mode of {len(steps['chmod'])} to 0644")
    if steps["remove"]:
        parts.append(say("removed", "remove") + f" {len(steps['remove'])} it installed before")
    if steps["dir_mode"] is not None:
        parts.append(
            say("set", "set") + f" the directory's mode to 0755 (was {steps['dir_mode']:04o})"
        )
    if steps["manifest_changes"]:
        parts.append(say("updated", "update") + f" its list of installed files {MANIFEST}")
    return ", ".join(parts)


def install(dest, files, check_mode=False, want_diff=False):
    """Install ``files`` (``[{name, content, sha256}]``, as ``read_sources`` gives them)
    into ``dest``: files whose sha256 differs are written atomically (mode 0644), a right
    file with another mode gets 0644, the ``_*.py`` regular files an earlier install listed
    in the manifest and that are not among ``files`` are removed, the manifest is
    rewritten to list ``files``, and dest (and missing parents) is made 0755. In check
    mode nothing is written. Returns the module's result; raises TaskFailure (with what
    was done so far, and ``changed``) when a step fails."""
    check_dest(dest)
    wanted = check_files(files)
    manifest = os.path.join(dest, MANIFEST)
    listing = manifest_text(wanted)
    try:
        steps = plan(dest, wanted)
        steps["manifest_before"] = None if steps["create"] else _file_state(manifest)
    except OSError as exc:
        raise _os_failure(dest, exc, "read", changed=False) from exc
    steps["manifest_changes"] = steps["manifest_before"] != (
        sha256_hex(listing.encode()),
        FILE_MODE,
    )
    result = {
        "changed": bool(
            steps["create"]
            or steps["dir_mode"] is not None
            or steps["manifest_changes"]
            or any(steps[key] for key in ("write", "chmod", "remove"))
        ),
        "dest": dest,
        "created": steps["create"],
        "written": steps["write"],
        "mode_set": steps["chmod"],
        "removed": steps["remove"],
    }
    if want_diff:
        result["diff"] = diff(dest, steps, wanted)
    result["msg"] = (
        _message(dest, steps, wanted, check_mode)
        if result["changed"]
        else f"all {len(wanted)} files in {dest} are up to date"
    )
    if check_mode:
        return result
    done = {"changed": False, "written": [], "removed": []}
    try:
        if steps["create"]:
            make_dirs(dest)
            done["changed"] = True
        elif steps["dir_mode"] is not None:
            os.chmod(dest, DIR_MODE)
            done["changed"] = True
        # The names about to be written are listed before they are written: a file the
        # module wrote is always one it may remove later.
        rewrite = steps["manifest_changes"]
        if not set(wanted) <= steps["manifest"]:
            recorded = steps["manifest"] | set(wanted)
            with atomic_writer(manifest, FILE_MODE) as handle:
                handle.write(manifest_text(recorded))
            done["changed"] = True
            rewrite = recorded != set(wanted)
        for name in steps["write"]:
            with atomic_writer(os.path.join(dest, name), FILE_MODE, binary=True) as handle:
                handle.write(wanted[name])
            done["written"].append(name)
            done["changed"] = True
        for name in steps["chmod"]:
            os.chmod(os.path.join(dest, name), FILE_MODE)
            done["changed"] = True
        for name in steps["remove"]:
            remove(os.path.join(dest, name))
            done["removed"].append(name)
            done["changed"] = True
        if rewrite:
            with atomic_writer(manifest, FILE_MODE) as handle:
                handle.write(listing)
            done["changed"] = True
    except OSError as exc:
        raise _os_failure(dest, exc, "install the collection's module_utils in", **done) from exc
    return result
