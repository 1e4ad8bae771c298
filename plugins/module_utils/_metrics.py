# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, on backup and drill
# hosts, inside modules and in the standalone scheduled backup script.
"""Prometheus metrics of a backup directory, for node_exporter's textfile collector.

The metrics are read from what the directory holds, never from what one run remembers:
the newest complete backup (its metadata record), the number of complete backups, and
the newest drill record (``<snapshot>.drill.json``, see ``_drill``). So every writer (the
scheduled backup script, backup.yml on the controller and on backup hosts, a drill)
calls the same ``write_textfile(backup_dir, textfile_dir)`` after it changed the
directory, and two writers of one directory write the same file.

The file (``textfile_name``: one per backup directory) is written atomically: a
dot-file in the same directory (node_exporter reads only ``*.prom``), flushed, mode
0644, renamed into place.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.kubedr.etcd.plugins.module_utils._files import write_text_atomic
from ansible_collections.kubedr.etcd.plugins.module_utils._retention import scan
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    load_metadata,
    stamp_time,
)

PREFIX = "kubedr_etcd_"
DRILL_SUFFIX = ".drill.json"  # <snapshot>.drill.json: the record of its newest drill
DRILL_FORMAT = "kubedr.etcd/drill/v1"
# node_exporter's textfile directory in Debian's prometheus-node-exporter package
DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"

# name -> help; every metric is a gauge labelled with the backup directory
HELP = {
    "backup_last_success_timestamp_seconds": (
        "Creation time of the newest complete backup (0: none)."
    ),
    "backup_last_size_bytes": "Size of the newest complete backup's snapshot.",
    "backup_last_revision": "etcd revision of the newest complete backup's snapshot.",
    "backups_stored": "Complete backups (snapshot and metadata record) in the directory.",
    "drill_last_timestamp_seconds": "End time of the newest drill (0: never drilled).",
    "drill_last_success": "1 when the newest drill passed, 0 when it failed.",
    "drill_last_duration_seconds": "Duration of the newest drill.",
    "drill_last_backup_timestamp_seconds": "Creation time of the backup the newest drill used.",
    "metrics_errors": "Records in the directory that could not be read (see the writer's log).",
}


class MetricsError(Exception):
    """The metrics could not be written; the message names the file and why."""


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render(values, labels):
    """The text exposition format of ``values`` ({name without prefix: number}; None
    values are left out), each sample with ``labels`` ({name: value})."""
    shown = ",".join(f'{key}="{_label(value)}"' for key, value in sorted(labels.items()))
    lines = []
    for name, help_text in HELP.items():
        if values.get(name) is None:
            continue
        full = PREFIX + name
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} gauge")
        lines.append(f"{full}{{{shown}}} {_number(values[name])}")
    return "\n".join(lines) + "\n"


def _created(record, fallback):
    try:
        return stamp_time(record["created"].replace("-", "").replace(":", "")).timestamp()
    except (KeyError, AttributeError, ValueError):
        return fallback


def drill_path(snapshot_path):
    """'<snapshot>.drill.json': the record of the newest drill of a backup."""
    return f"{snapshot_path}{DRILL_SUFFIX}"


def load_drill(path):
    """A drill record (dict), or None when it is missing or not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != DRILL_FORMAT:
        return None
    return data


def collect(backup_dir):
    """{'values': {metric: number}, 'errors': [str]} of one backup directory."""
    backups = [b for b in scan(backup_dir) if b["has_metadata"]]
    values = {"backups_stored": len(backups), "backup_last_success_timestamp_seconds": 0}
    errors = []
    for backup in backups:  # newest first; the first readable record counts
        try:
            record = load_metadata(backup["metadata_path"])
        except SnapshotError as exc:
            errors.append(str(exc))
            continue
        values["backup_last_success_timestamp_seconds"] = _created(record, backup["time"])
        values["backup_last_size_bytes"] = record["snapshot"]["size"]
        values["backup_last_revision"] = record["snapshot"]["revision"]
        break
    drills = []
    try:
        names = sorted(os.listdir(backup_dir))
    except FileNotFoundError:
        names = []
    for name in names:
        if name.endswith(DRILL_SUFFIX) and not name.startswith("."):
            drill = load_drill(os.path.join(backup_dir, name))
            if drill is None or not isinstance(drill.get("finished_epoch"), (int, float)):
                errors.append(f"{os.path.join(backup_dir, name)} is not a drill record")
                continue
            drills.append(drill)
    values["drill_last_timestamp_seconds"] = 0
    if drills:
        newest = max(drills, key=lambda d: d["finished_epoch"])
        values["drill_last_timestamp_seconds"] = newest["finished_epoch"]
        values["drill_last_success"] = newest.get("result") == "pass"
        values["drill_last_duration_seconds"] = newest.get("duration_seconds")
        values["drill_last_backup_timestamp_seconds"] = newest.get("backup_created_epoch")
    values["metrics_errors"] = len(errors)
    return {"values": values, "errors": errors}


def textfile_name(backup_dir):
    """The .prom file of one backup directory: kubedr_etcd<dir, '/' and odd characters
    as '_'>.prom, so several directories on one host do not overwrite each other."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.abspath(backup_dir))
    return f"kubedr_etcd{slug}.prom"


def write_atomic(path, text, mode=0o644):
    """Write ``text`` to ``path``: readers see the old file or the whole new one."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise MetricsError(f"cannot write metrics to {directory}: {exc}") from None
    try:
        write_text_atomic(path, text, mode)
    except OSError as exc:
        raise MetricsError(f"cannot write metrics file {path}: {exc}") from None


def textfile(backup_dir, textfile_dir=DEFAULT_TEXTFILE_DIR, extra_labels=None):
    """What ``write_textfile`` would write: {'path', 'text', 'values', 'errors'}."""
    found = collect(backup_dir)
    labels = {"backup_dir": os.path.abspath(backup_dir), **(extra_labels or {})}
    path = os.path.join(textfile_dir, textfile_name(backup_dir))
    return {"path": path, "text": render(found["values"], labels), **found}


def current_text(path):
    """The text of an existing metrics file, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def write_textfile(backup_dir, textfile_dir=DEFAULT_TEXTFILE_DIR, extra_labels=None):
    """Collect the metrics of ``backup_dir`` and write them to ``textfile_dir``.
    Returns {'path', 'text', 'values', 'errors', 'changed'}; raises MetricsError."""
    made = textfile(backup_dir, textfile_dir, extra_labels)
    made["changed"] = current_text(made["path"]) != made["text"]
    if made["changed"]:
        write_atomic(made["path"], made["text"])
    return made
