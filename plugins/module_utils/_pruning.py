# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside the
# etcd_backup_retention module and in the standalone scheduled backup script.
"""Which files of a backup directory retention removes, and removing them.

``_retention.plan`` decides which backups to keep; this module turns that decision
into files. A pruned backup loses its metadata record (first, so a backup pruned
halfway is never taken for a complete one), its snapshot (plain and/or encrypted),
the record of its newest drill, and the control-plane archives its record lists
(plain and/or encrypted) - never a file a kept or ignored backup also has.
Control-plane archives no record lists (on the masters that did not save the
snapshot) are pruned by the same rules, counted among themselves.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import (
    ARCHIVE_PREFIX,
    ARCHIVE_SUFFIX,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import drill_path
from ansible_collections.kubedr.etcd.plugins.module_utils._retention import (
    check_rules,
    plan,
    scan,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SNAPSHOT_PREFIX,
    SNAPSHOT_SUFFIX,
    SnapshotError,
    backup_files,
    check_stamp,
    load_metadata,
    stamp_time,
)


def archive_paths(directory, metadata):
    """Paths in ``directory`` of the regular files the metadata lists as archives: the
    plain archive and, for an encrypted backup, the encrypted one."""
    paths = []
    for part in backup_files(metadata):
        if part["kind"] != "archive":
            continue
        for name in dict.fromkeys((part["plain"]["file"], part["stored"]["file"])):
            path = os.path.join(directory, name)
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    paths.append(path)
            except FileNotFoundError:
                continue
    return paths


def name_stamp(name, prefix, suffix):
    """The first backup time stamp among the '-'-separated parts of a file name between
    ``prefix`` and ``suffix``: '20261126T030000Z' of etcd-snapshot-20261126T030000Z.db or
    of kubernetes-cp-1-20261126T030000Z.tar.gz (or a renamed ...-20261126T030000Z-old
    copy); None when it has none (a part that is no real time, e.g. month 13, is none)."""
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    for part in name[len(prefix) : len(name) - len(suffix)].split("-"):
        try:
            return check_stamp(part)
        except ValueError:
            continue
    return None


def standalone_archives(directory, backups, referenced):
    """Control-plane archives of backups whose snapshot is not in this directory: those of
    the masters that did not save the snapshot. They are pruned by the same rules, counted
    among themselves. Archives sharing a snapshot's time stamp follow that snapshot."""
    taken = {name_stamp(b["name"], SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX) for b in backups}
    taken.discard(None)
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not (name.startswith(ARCHIVE_PREFIX) and name.endswith(ARCHIVE_SUFFIX)):
            continue
        stamp = name_stamp(name, ARCHIVE_PREFIX, ARCHIVE_SUFFIX)
        if path in referenced or stamp in taken:
            continue
        if not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        when = stamp_time(stamp).timestamp() if stamp else os.path.getmtime(path)
        found.append({"name": name, "path": path, "time": when, "has_metadata": True})
    return found


def read_backups(directory):
    """scan() with each complete backup's metadata loaded; an unreadable record makes the
    backup incomplete (left alone). Returns (backups, {name: metadata}, {name: why})."""
    backups, records, unreadable = [], {}, {}
    for found in scan(directory):
        backup = dict(found)
        if backup["has_metadata"]:
            try:
                records[backup["name"]] = load_metadata(backup["metadata_path"])
            except SnapshotError as exc:
                backup["has_metadata"] = False
                unreadable[backup["name"]] = f"metadata unreadable, left alone: {exc}"
        backups.append(backup)
    return backups, records, unreadable


def decide(directory, keep_last=None, keep_days=None, now=None, protect=(), extra=None):
    """What retention does in ``directory``; removes nothing. Returns {
    'kept': [paths] (snapshots newest first, then standalone archives),
    'doomed': [paths] (every file to remove, each backup's metadata record first),
    'ignored': [paths] (snapshots without a readable record),
    'reasons': {file name: why}, 'kept_backups' / 'pruned_backups' (snapshot names),
    'kept_archives' / 'pruned_archives' (standalone archive names)}.

    ``protect``: file names (a snapshot or an archive) never removed, whatever the rules
    say - the backup a run has just made. ``extra``: a backup (a ``scan`` entry) counted as
    if it were in the directory already, for a dry run before it is saved. A missing
    directory has nothing to prune. Raises ValueError for a rule that would delete every
    backup (``_retention.plan``)."""
    protect = set(protect)
    if not os.path.isdir(directory):
        backups, records, unreadable = [], {}, {}
    else:
        backups, records, unreadable = read_backups(directory)
    if extra is not None:
        backups = [b for b in backups if b["name"] != extra["name"]] + [extra]
    decision = plan(backups, keep_last=keep_last, keep_days=keep_days, now=now)
    for name in [name for name in decision["prune"] if name in protect]:
        decision["prune"].remove(name)
        decision["keep"].append(name)
        decision["reasons"][name] = "kept: the backup this run made"
    reasons = {**decision["reasons"], **unreadable}
    by_name = {backup["name"]: backup for backup in backups}

    def files_of(name):
        backup = by_name[name]
        if backup is extra:
            return []
        files = [backup["metadata_path"], *backup.get("files", [backup["path"]])]
        drill = drill_path(os.path.join(directory, name))
        if os.path.isfile(drill):
            files.append(drill)
        if name in records:
            files.extend(archive_paths(directory, records[name]))
        return files

    # Files a kept or ignored backup has: never removed, whatever a pruned record lists.
    protected = {os.path.join(directory, name) for name in protect}
    for name in decision["keep"] + decision["ignored"]:
        protected.update(files_of(name))

    doomed = []
    for name in decision["prune"]:
        doomed.extend(
            path for path in files_of(name) if path not in protected and path not in doomed
        )

    lone_paths = {}
    lone = {"keep": [], "prune": [], "reasons": {}}
    if os.path.isdir(directory):
        referenced = {
            path for record in records.values() for path in archive_paths(directory, record)
        }
        # protected ones count among the archives kept, like a protected snapshot
        archives = standalone_archives(directory, backups, referenced)
        lone = plan(archives, keep_last=keep_last, keep_days=keep_days, now=now)
        for name in [name for name in lone["prune"] if name in protect]:
            lone["prune"].remove(name)
            lone["keep"].append(name)
            lone["reasons"][name] = "kept: the backup this run made"
        lone_paths = {archive["name"]: archive["path"] for archive in archives}
        doomed.extend(lone_paths[name] for name in lone["prune"])
        reasons.update(lone["reasons"])
    return {
        "kept": [by_name[name]["path"] for name in decision["keep"]]
        + [lone_paths[name] for name in lone["keep"]],
        "doomed": doomed,
        "ignored": [by_name[name]["path"] for name in decision["ignored"]],
        "reasons": reasons,
        "kept_backups": decision["keep"],
        "pruned_backups": decision["prune"],
        "kept_archives": lone["keep"],
        "pruned_archives": lone["prune"],
    }


def remove_files(paths):
    """Remove ``paths`` in order; (removed paths, ['<path>: <why>'] for those that could
    not be removed). A file already gone is neither."""
    removed, errors = [], []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        removed.append(path)
    return removed, errors


def prune(directory, keep_last=None, keep_days=None, check_mode=False, diff=False, protect=()):
    """Retention in ``directory``: decide, then remove (in check mode: only say). Returns
    ({'changed', 'kept', 'pruned', 'ignored', 'reasons', 'msg'} plus 'diff' when ``diff``,
    ['<path>: <why>'] of the files that could not be removed). ``protect``: as for
    ``decide``. Raises ValueError for a rule that would delete every backup."""
    decision = decide(directory, keep_last=keep_last, keep_days=keep_days, protect=protect)
    listing = listing_diff(directory, decision["doomed"]) if diff else None
    errors = []
    if check_mode:
        pruned = decision["doomed"]
    else:
        pruned, errors = remove_files(decision["doomed"])
    result = {
        "changed": bool(pruned),
        "kept": decision["kept"],
        "pruned": pruned,
        "ignored": decision["ignored"],
        "reasons": decision["reasons"],
    }
    if listing is not None:
        result["diff"] = listing
    verb = "would prune" if check_mode else "pruned"
    pruned_count = len(decision["pruned_backups"]) + len(decision["pruned_archives"])
    kept = len(decision["kept_backups"]) + len(decision["kept_archives"])
    if pruned_count:
        result["msg"] = f"{verb} {pruned_count} backup(s) ({len(pruned)} files), kept {kept}"
    else:
        result["msg"] = f"nothing to prune, kept {kept}"
    return result, errors


def rules_of(params):
    """The retention rules a module was given (its ``keep_last`` and ``keep_days``), those
    set only, checked: raises ValueError for a rule that would delete every backup."""
    rules = {k: params.get(k) for k in ("keep_last", "keep_days") if params.get(k) is not None}
    check_rules(**rules)
    return rules


def apply_rules(directory, rules, newest=None, check_mode=False, warn=None):
    """Retention in ``directory`` by ``rules`` (from rules_of) once the backup ``newest``
    (a file name: a snapshot or an archive this run made; None: nothing new) is in it -
    never pruning ``newest``. For the modules that make or file a backup and prune in the
    same run (one module start, not two). None when no rule is set; else prune()'s result,
    with 'errors' (['<path>: <why>']). A file that cannot be removed does not fail the
    backup just made: ``warn`` is called with what is left behind, and the next run tries
    again."""
    if not rules:
        return None
    protect = (newest,) if newest else ()
    done, errors = prune(directory, check_mode=check_mode, protect=protect, **rules)
    done["errors"] = errors
    if errors and warn:
        warn(f"retention in {directory} could not remove " + "; ".join(errors))
    return done


def listing_diff(directory, doomed):
    """Ansible's diff of a prune: the directory's files (dot-files aside), one a line,
    before and after removing ``doomed``."""
    try:
        names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
    except FileNotFoundError:
        names = []
    gone = {os.path.basename(path) for path in doomed}
    return {
        "before_header": directory,
        "after_header": directory,
        "before": "".join(f"{name}\n" for name in names),
        "after": "".join(f"{name}\n" for name in names if name not in gone),
    }
