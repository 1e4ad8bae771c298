# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside modules and
# in the standalone scheduled backup script.
"""Which snapshot backups to keep and which to prune.

A backup is ``<prefix><time><suffix>`` (``etcd-snapshot-20261126T030000Z.db``)
with its metadata file ``<name>.json`` beside it. Without metadata it is
incomplete (a save in progress or interrupted, or a file someone else put there):
``plan`` never prunes it and never counts it as the newest backup. An encrypted
backup keeps its snapshot as ``<name>.age`` and its metadata as ``<name>.json``:
it is the same backup, under its plain name.
"""

from __future__ import annotations

import datetime as _dt
import os
import stat
import time as _time

from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    ENCRYPTED_SUFFIX,
    metadata_path,
    parse_snapshot_time,
)

_TEMP_SUFFIXES = (".part", ".tmp", ".partial")


def _is_backup_name(name, prefix, suffix):
    return (
        name.startswith(prefix)
        and name.endswith(suffix)
        and len(name) > len(prefix) + len(suffix)
        and not name.startswith(".")
        and not name.endswith(_TEMP_SUFFIXES)
    )


def scan(directory, prefix="etcd-snapshot-", suffix=".db"):
    """The backups in ``directory``, newest first.

    Each is {'name' (the plain snapshot name), 'path' (the snapshot file: the plain
    one, else the encrypted one), 'files' (every snapshot file of it: plain and/or
    encrypted), 'time' (epoch seconds from the name, else the file's mtime), 'size',
    'has_metadata', 'metadata_path'}. Only regular files (not symlinks) count;
    dot-files and ``.part``/``.tmp`` files are not backups. A missing directory has no
    backups.
    """
    found = {}
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if name.endswith(ENCRYPTED_SUFFIX):
            name = name[: -len(ENCRYPTED_SUFFIX)]
        if not _is_backup_name(name, prefix, suffix):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # pruned or renamed meanwhile
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if name in found:  # the plain name sorts first: it stays the path
            found[name]["files"].append(entry.path)
            continue
        when = parse_snapshot_time(name, prefix=prefix, suffix=suffix)
        meta = metadata_path(os.path.join(directory, name))
        found[name] = {
            "name": name,
            "path": entry.path,
            "files": [entry.path],
            "time": when.timestamp() if when else info.st_mtime,
            "size": info.st_size,
            "has_metadata": os.path.isfile(meta),
            "metadata_path": meta,
        }
    return _newest_first(list(found.values()))


def _newest_first(backups):
    return sorted(backups, key=lambda backup: (backup["time"], backup["name"]), reverse=True)


def _epoch(now):
    if now is None:
        return _time.time()
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            raise ValueError(f"now={now!r} has no time zone: pass an aware datetime")
        return now.timestamp()
    return float(now)


def check_rules(keep_last=None, keep_days=None):
    """Raise ValueError, naming the value and the fix, for a rule ``plan`` refuses."""
    if keep_last is not None and (isinstance(keep_last, bool) or keep_last < 1):
        raise ValueError(f"keep_last={keep_last} would delete every backup; use at least 1")
    if keep_days is not None and (isinstance(keep_days, bool) or keep_days < 0):
        raise ValueError(f"keep_days={keep_days} is negative; use 0 or more days")


def plan(backups, keep_last=None, keep_days=None, now=None):
    """Decide what to keep: {'keep': [names], 'prune': [names], 'ignored': [names],
    'reasons': {name: why}}, each list newest first.

    Only complete backups (with metadata) are considered; the others are
    'ignored' (left alone). A backup is kept when ANY rule keeps it: among the
    newest ``keep_last``, or newer than ``now - keep_days`` days (``now``: epoch
    seconds or aware datetime, default the current time). With no rule all are
    kept. The newest complete backup is always kept.
    """
    check_rules(keep_last, keep_days)
    now = _epoch(now)
    ordered = _newest_first(backups)
    complete = [backup for backup in ordered if backup.get("has_metadata")]
    keep, prune, reasons = [], [], {}
    ignored = [backup["name"] for backup in ordered if not backup.get("has_metadata")]
    for name in ignored:
        reasons[name] = "no metadata file: incomplete or not made by kubedr.etcd; left alone"
    cutoff = now - keep_days * 86400 if keep_days is not None else None
    for index, backup in enumerate(complete):
        why = []
        if index == 0:
            why.append("newest complete backup")
        if keep_last is None and keep_days is None:
            why.append("no retention rule")
        if keep_last is not None and index < keep_last:
            why.append(f"among the newest {keep_last}")
        if cutoff is not None and backup["time"] >= cutoff:
            why.append(f"younger than {keep_days:g} days")
        if why:
            keep.append(backup["name"])
            reasons[backup["name"]] = "kept: " + ", ".join(why)
        else:
            prune.append(backup["name"])
            rules = []
            if keep_last is not None:
                rules.append(f"not among the newest {keep_last}")
            if cutoff is not None:
                rules.append(f"older than {keep_days:g} days")
            reasons[backup["name"]] = "pruned: " + ", ".join(rules)
    return {"keep": keep, "prune": prune, "ignored": ignored, "reasons": reasons}
