"""Backup directories as the metrics read them, and the samples of a metrics file."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import DRILL_FORMAT, drill_path
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    build_metadata,
    metadata_path,
    write_json_atomic,
)

# 2026-11-26T03:00:00Z, 2026-11-27T03:00:00Z
DAY1, DAY2 = 1795662000, 1795748400


def add_backup(directory, stamp, created, size=1056, revision=42):
    snapshot = Path(directory) / f"etcd-snapshot-{stamp}.db"
    snapshot.write_bytes(b"x" * size)
    record = build_metadata(
        snapshot,
        {"size": size, "sha256": "ab" * 32},
        {"revision": revision, "total_key": 7, "total_size": size, "hash": 1},
        created=created,
        etcd_version="3.5.16",
        cluster_id="f6bdd115e86ccf90",
        members=[],
        source_host="cp-1",
    )
    write_json_atomic(metadata_path(str(snapshot)), record)
    return snapshot


def add_drill(snapshot, result, finished, duration=3.5, backup_created=DAY1):
    write_json_atomic(
        drill_path(str(snapshot)),
        {
            "format": DRILL_FORMAT,
            "result": result,
            "finished_epoch": finished,
            "duration_seconds": duration,
            "backup_created_epoch": backup_created,
        },
    )


def samples(text):
    """{metric name: value} of a textfile with one sample per metric."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            found[name_labels.split("{")[0]] = float(value)
    return found
