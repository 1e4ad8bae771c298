#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_retention
short_description: Prune old etcd backups in one directory
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Run it after a new backup was saved (or received) and verified. It looks at the backups
    C(etcd-snapshot-<time>.db) in O(dir) and keeps every one that a rule keeps - among the
    newest O(keep_last), or younger than O(keep_days) days. With neither rule, all are kept.
  - A pruned backup loses its snapshot, its metadata record C(<snapshot>.json), the record of
    its newest drill C(<snapshot>.drill.json), and the
    control-plane archives its record lists that are in O(dir) - those only, and never a file
    that a kept backup also needs. The metadata record goes first, so a backup pruned halfway
    is never taken for a complete one.
  - Control-plane archives that no snapshot record lists (on the masters that did not save
    the snapshot) are pruned by the same rules, counted among themselves.
  - Only complete backups count. A snapshot without a readable metadata record (a save in
    progress or interrupted, or a file someone else put there) is never removed and never
    counts as the newest backup; it is reported in RV(ignored). The newest complete backup is
    always kept.
options:
  dir:
    description: Directory holding the backups. When it does not exist there is nothing to prune.
    type: path
    required: true
  keep_last:
    description: Keep the newest N complete backups. At least 1.
    type: int
  keep_days:
    description: Keep every complete backup younger than this many days (fractions allowed).
    type: float
attributes:
  check_mode:
    support: full
    details: Reports what it would prune and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run with the same rules finds nothing to prune.
notes:
  - Runs with the Python standard library only.
  - The time of a backup is the one in its file name, else the file's modification time.
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_backup_receive
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Keep the last 7 backups on each master, and any younger than 3 days
  kubedr.etcd.etcd_backup_retention:
    dir: /var/backups/kubedr-etcd
    keep_last: 7
    keep_days: 3

- name: Keep 30 days of backups on the controller
  kubedr.etcd.etcd_backup_retention:
    dir: /srv/etcd-backups/cluster1
    keep_days: 30
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
kept:
  description: Snapshots kept, newest first, then standalone archives kept.
  returned: success
  type: list
  elements: str
  sample: [/var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db]
pruned:
  description:
    - Files removed (in check mode, that would be removed) - snapshots, metadata records,
      archives.
  returned: success
  type: list
  elements: str
  sample:
    - /var/backups/kubedr-etcd/etcd-snapshot-20261119T030000Z.db.json
    - /var/backups/kubedr-etcd/etcd-snapshot-20261119T030000Z.db
    - /var/backups/kubedr-etcd/kubernetes-cp-1-20261119T030000Z.tar.gz
ignored:
  description: Snapshots left alone because they have no readable metadata record.
  returned: success
  type: list
  elements: str
  sample: [/var/backups/kubedr-etcd/etcd-snapshot-20261126T040000Z.db]
reasons:
  description: Why each snapshot was kept, pruned or ignored, by file name.
  returned: success
  type: dict
  sample: {etcd-snapshot-20261126T030000Z.db: "kept: newest complete backup, among the newest 7"}
"""

import os  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import (  # noqa: E402
    ARCHIVE_PREFIX,
    ARCHIVE_SUFFIX,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (  # noqa: E402
    drill_path,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._retention import (  # noqa: E402
    plan,
    scan,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (  # noqa: E402
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


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "keep_last": {"type": "int"},
            "keep_days": {"type": "float"},
        },
        supports_check_mode=True,
    )
    p = module.params
    directory = p["dir"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"dir {directory} is not a directory: check the backup directory")
    if not os.path.exists(directory):  # nothing saved there yet (or check mode)
        module.exit_json(
            changed=False,
            kept=[],
            pruned=[],
            ignored=[],
            reasons={},
            msg=f"no backups in {directory}: nothing to prune",
        )
    backups, records, unreadable = read_backups(directory)
    try:
        decision = plan(backups, keep_last=p["keep_last"], keep_days=p["keep_days"])
    except ValueError as exc:
        module.fail_json(msg=f"{exc}; nothing was removed")
    reasons = {**decision["reasons"], **unreadable}
    paths = {backup["name"]: backup["path"] for backup in backups}
    by_name = {backup["name"]: backup for backup in backups}

    def files_of(name):
        backup = by_name[name]
        files = [backup["metadata_path"], *backup["files"]]
        drill = drill_path(os.path.join(directory, name))
        if os.path.isfile(drill):
            files.append(drill)
        if name in records:
            files.extend(archive_paths(directory, records[name]))
        return files

    # Files a kept or ignored backup has: never removed, whatever a pruned record lists.
    protected = set()
    for name in decision["keep"] + decision["ignored"]:
        protected.update(files_of(name))

    doomed = []
    for name in decision["prune"]:
        doomed.extend(
            path for path in files_of(name) if path not in protected and path not in doomed
        )

    referenced = {path for record in records.values() for path in archive_paths(directory, record)}
    archives = standalone_archives(directory, backups, referenced)
    lone = plan(archives, keep_last=p["keep_last"], keep_days=p["keep_days"])
    lone_paths = {a["name"]: a["path"] for a in archives}
    doomed.extend(lone_paths[name] for name in lone["prune"])
    reasons.update(lone["reasons"])

    pruned, errors = [], []
    if module.check_mode:
        pruned = doomed
    else:
        for path in doomed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
            pruned.append(path)
    result = {
        "changed": bool(pruned),
        "kept": [paths[name] for name in decision["keep"]]
        + [lone_paths[name] for name in lone["keep"]],
        "pruned": pruned,
        "ignored": [paths[name] for name in decision["ignored"]],
        "reasons": reasons,
    }
    if errors:
        module.fail_json(msg="could not remove " + "; ".join(errors), **result)
    verb = "would prune" if module.check_mode else "pruned"
    if decision["prune"] or lone["prune"]:
        result["msg"] = (
            f"{verb} {len(decision['prune']) + len(lone['prune'])} backup(s)"
            f" ({len(pruned)} files), kept {len(decision['keep']) + len(lone['keep'])}"
        )
    else:
        result["msg"] = f"nothing to prune, kept {len(decision['keep'])}"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
