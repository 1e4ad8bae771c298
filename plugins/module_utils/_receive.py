# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs where backups are kept.
"""Receive one copied backup: verify every file of it against its metadata record, then
install it beside the earlier backups (the etcd_backup_receive module).

``Receiver.run`` checks the incoming copies (snapshot trailer, sizes and sha256 the record
gives) and what ``dest_dir`` holds already, then moves the files in - archives, snapshot,
the record last - or, in check mode, says what it would install. Any problem raises
ReceiveError; a copy that is cut short or corrupt has its incoming files removed first.
Given retention rules, it then prunes ``dest_dir`` by them (``_pruning.apply_rules``, as
the etcd_backup_retention module does), never the backup it received: one task, where a
separate retention task would cost the run another module start.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat

from ansible_collections.kubedr.etcd.plugins.module_utils._files import (
    atomic_writer,
    fsync_dir,
    fsync_file,
    remove,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import apply_rules, rules_of
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    backup_files,
    compare_with_metadata,
    file_name_problem,
    load_metadata,
    metadata_path,
    sha256_file,
    verify_trailer,
)

RERUN = "the copy was interrupted or corrupted; run the backup again"


class ReceiveError(TaskFailure):
    """The backup was not received; the message says why, ``details`` holds the other
    fields of the module's failure (problems, removed_from_incoming)."""


def plain_name(name):
    """Whether ``name`` names a file in a directory, not a path."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def is_regular(path):
    """Whether ``path`` is a regular file (not a link to one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


class Part:
    """One file of the backup: where it is, where it goes, what it must be."""

    def __init__(self, kind, name, incoming_dir, dest_dir, size=None, sha256=None, encrypted=False):
        self.kind = kind  # 'archive', 'snapshot' or 'metadata'
        self.encrypted = encrypted  # stored encrypted: checked by size and sha256 only
        self.name = name
        self.incoming = os.path.join(incoming_dir, name)
        self.final = os.path.join(dest_dir, name)
        self.size = size
        self.sha256 = sha256
        self.in_present = os.path.lexists(self.incoming)
        self.in_sha256 = None  # of the incoming copy, once read
        self.state = None  # 'install', 'present' or 'missing'

    def label(self):
        label = {"archive": "control-plane archive", "metadata": "metadata file"}.get(
            self.kind, self.kind
        )
        return f"encrypted {label}" if self.encrypted else label


def check_incoming(part, metadata):
    """Problems (list) with the incoming copy of ``part`` against what the metadata records."""
    if not is_regular(part.incoming):
        return [f"incoming {part.label()} {part.incoming} is not a regular file"]
    if part.kind == "metadata":
        part.in_sha256 = part.sha256  # read and checked by load_metadata already
        return []
    if part.kind == "snapshot" and not part.encrypted:
        try:
            verified = verify_trailer(part.incoming)
        except SnapshotError as exc:
            problems = [str(exc)]
            try:
                verified = {
                    "size": os.path.getsize(part.incoming),
                    "sha256": sha256_file(part.incoming),
                }
            except (OSError, SnapshotError):
                return problems
        else:
            problems = []
        part.in_sha256 = verified["sha256"]
        problems.extend(
            f"incoming snapshot {part.incoming}: {problem}"
            for problem in compare_with_metadata(verified, metadata)
        )
        return problems
    try:
        size, digest = os.path.getsize(part.incoming), sha256_file(part.incoming)
    except (OSError, SnapshotError) as exc:
        return [f"cannot read incoming {part.label()} {part.incoming}: {exc}"]
    part.in_sha256 = digest
    problems = []
    if size != part.size:
        problems.append(
            f"incoming {part.label()} {part.incoming} is {size} bytes but the metadata records"
            f" {part.size} bytes"
        )
    if digest != part.sha256:
        problems.append(
            f"incoming {part.label()} {part.incoming} has sha256 {digest} but the metadata"
            f" records {part.sha256}"
        )
    return problems


def check_dest(part):
    """(present, problem): whether dest_dir holds this file already, or why it clashes."""
    if not os.path.lexists(part.final):
        return False, None
    if not is_regular(part.final):
        return False, f"{part.final} exists and is not a regular file; move it away"
    try:
        size, digest = os.path.getsize(part.final), sha256_file(part.final)
    except (OSError, SnapshotError) as exc:
        return False, f"cannot read {part.final}: {exc}"
    if digest == part.sha256 and (part.size is None or size == part.size):
        return True, None
    if part.in_present:
        return False, (
            f"{part.final} exists already with sha256 {digest}, but the incoming"
            f" {part.incoming} has sha256 {part.in_sha256 or 'unknown'}: a backup is never"
            " overwritten; find out which is right and move the other away"
        )
    return False, (
        f"{part.final} has sha256 {digest} ({size} bytes) but the metadata records"
        f" {part.sha256} ({part.size} bytes): the backup in dest_dir is damaged"
    )


def copy_across(part):
    """Copy into dest_dir atomically (_files.atomic_writer), checking size and sha256
    before the rename; then remove the source."""
    digest, size = hashlib.sha256(), 0
    with open(part.incoming, "rb") as source, atomic_writer(part.final, binary=True) as target:
        while True:
            chunk = source.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            target.write(chunk)
        if digest.hexdigest() != part.sha256 or (part.size is not None and size != part.size):
            raise ReceiveError(
                f"copying {part.incoming} to {os.path.dirname(part.final)} gave {size} bytes"
                f" with sha256 {digest.hexdigest()}, expected {part.size} bytes with sha256"
                f" {part.sha256}"
            )
    os.unlink(part.incoming)


def install(part, dest_dir):
    """Move one verified file into dest_dir (mode 0600); nothing may be at its final name."""
    os.chmod(part.incoming, 0o600)  # a copy across file systems is made 0600 anyway
    # on disk before it has its name: a crash right after the rename must not leave a
    # backup that is named but half written
    fsync_file(part.incoming)
    try:
        os.replace(part.incoming, part.final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_across(part)  # atomic_writer fsyncs the copy and its directory
        return
    fsync_dir(os.path.dirname(part.final))


def check_arguments(incoming_dir, dest_dir, name):
    """Raise ReceiveError unless ``name`` is a snapshot's file name and the two directories
    can be received from and into."""
    problem = file_name_problem(name)
    if problem:
        raise ReceiveError(problem)
    if not os.path.isdir(incoming_dir):
        raise ReceiveError(
            f"incoming_dir {incoming_dir} is not a directory: copy the backup there first"
        )
    if os.path.lexists(dest_dir) and not os.path.isdir(dest_dir):
        raise ReceiveError(f"dest_dir {dest_dir} exists and is not a directory")
    if os.path.realpath(incoming_dir) == os.path.realpath(dest_dir):
        raise ReceiveError(
            f"incoming_dir and dest_dir are both {dest_dir}: copy the backup into a"
            " separate incoming directory"
        )


class Receiver:
    """Receive the backup of snapshot ``name`` from ``incoming_dir`` into ``dest_dir``.
    ``run`` returns the module's result or raises ReceiveError; ``warn`` is called with
    what the user should be told besides."""

    def __init__(
        self,
        incoming_dir,
        dest_dir,
        name,
        require_archives=True,
        check_mode=False,
        warn=None,
        retention=None,
    ):
        self.name = name
        self.incoming_dir = incoming_dir
        self.dest_dir = dest_dir
        self.require_archives = require_archives
        self.check_mode = check_mode
        self.removed = []
        self.warn = warn or (lambda _message: None)
        # {'keep_last', 'keep_days'}: prune dest_dir by these rules once the backup is in
        self.retention = retention or {}

    def cleanup_incoming(self, parts):
        """Remove every incoming file of this backup (not in check mode)."""
        if self.check_mode:
            return
        for path in dict.fromkeys(part.incoming for part in parts):
            if remove(path):
                self.removed.append(path)

    def fail_copy(self, problems, parts, installed=()):
        for path in installed:
            remove(path)
        self.cleanup_incoming(parts)
        if self.check_mode:
            done = "check mode: nothing was removed"
        else:
            done = (
                f"removed from {self.incoming_dir}: "
                + (", ".join(os.path.basename(path) for path in self.removed) or "nothing")
                + f"; nothing of it was installed in {self.dest_dir}"
            )
        raise ReceiveError(
            f"receiving {self.name} failed: {'; '.join(problems)}. {RERUN} ({done})",
            problems=list(problems),
            removed_from_incoming=self.removed,
        )

    def read_metadata(self):
        """(metadata, metadata Part)."""
        meta_name = metadata_path(self.name)
        part = Part("metadata", meta_name, self.incoming_dir, self.dest_dir)
        snapshot_in = Part("snapshot", self.name, self.incoming_dir, self.dest_dir)
        if part.in_present:
            try:
                metadata = load_metadata(part.incoming)
                part.sha256 = sha256_file(part.incoming)
            except SnapshotError as exc:
                self.fail_copy([str(exc)], [snapshot_in, part])
            part.size = os.path.getsize(part.incoming)
        elif is_regular(part.final):
            try:
                metadata = load_metadata(part.final)
                part.sha256 = sha256_file(part.final)
            except SnapshotError as exc:
                raise ReceiveError(
                    f"{exc}: the backup in dest_dir is damaged; it was left as it is",
                    removed_from_incoming=self.removed,
                ) from None
            part.size = os.path.getsize(part.final)
        else:
            self.fail_copy(
                [
                    f"no metadata file {meta_name} in {self.incoming_dir} (nor in"
                    f" {self.dest_dir}): the metadata record is copied with the snapshot"
                ],
                [snapshot_in, part],
            )
        recorded = metadata["snapshot"]["file"]
        if recorded != self.name and not part.in_present:
            raise ReceiveError(
                f"metadata file {part.final} describes snapshot {recorded}, not"
                f" {self.name}: the backup in dest_dir is damaged; it was left as it is",
                removed_from_incoming=self.removed,
            )
        if recorded != self.name:
            self.fail_copy(
                [f"metadata file {part.incoming} describes snapshot {recorded}, not {self.name}"],
                [snapshot_in, part],
            )
        return metadata, part

    def plan(self, metadata, meta_part):
        """The parts in install order, plus the metadata problems of the archive list."""
        problems, valid = [], set()
        for archive in metadata.get("control_plane_archives") or []:
            name = archive.get("file") if isinstance(archive, dict) else None
            if (
                not isinstance(name, str)
                or not plain_name(name)
                or name in (self.name, meta_part.name)
            ):
                problems.append(
                    f"metadata file {meta_part.incoming} lists control-plane archive {name!r},"
                    " which is not a plain file name of its own"
                )
                continue
            valid.add(name)
        parts, seen = [], set()
        for entry in backup_files(metadata):  # as stored: encrypted files where recorded
            name = entry["plain"]["file"]
            if entry["kind"] == "archive" and (name not in valid or name in seen):
                continue
            seen.add(name)
            stored = entry["stored"]
            parts.append(
                Part(
                    entry["kind"],
                    stored["file"],
                    self.incoming_dir,
                    self.dest_dir,
                    stored["size"],
                    stored["sha256"],
                    encrypted=entry["encrypted"],
                )
            )
        parts.append(meta_part)
        return parts, problems

    def run(self):
        """Verify and install (in check mode: verify and say), then prune when given rules;
        the module's result."""
        check_arguments(self.incoming_dir, self.dest_dir, self.name)
        try:
            self.retention = rules_of(self.retention)
        except ValueError as exc:
            raise ReceiveError(f"{exc}; nothing was received or pruned") from None
        metadata, meta_part = self.read_metadata()
        parts, copy_problems = self.plan(metadata, meta_part)
        clashes, missing = [], []
        for part in parts:
            if part.in_present:
                copy_problems.extend(check_incoming(part, metadata))
            present, clash = check_dest(part)
            if clash:
                clashes.append(clash)
            elif present:
                part.state = "present"
            elif part.in_present:
                part.state = "install"
            elif part.kind == "archive" and not self.require_archives:
                part.state = "missing"
                missing.append(part.name)
            else:
                copy_problems.append(
                    f"{part.label()} {part.name}"
                    + (" listed in the metadata" if part.kind == "archive" else "")
                    + f" is not in {self.incoming_dir}"
                )
        if copy_problems:
            self.fail_copy(copy_problems + clashes, parts)
        if clashes:
            raise ReceiveError(
                f"receiving {self.name} failed: {'; '.join(clashes)}. Nothing was moved or"
                " removed.",
                problems=clashes,
                removed_from_incoming=self.removed,
            )

        to_install = [part for part in parts if part.state == "install"]
        result = {
            "snapshot": parts[-2].final,
            "metadata_file": meta_part.final,
            "archives": [
                part.final for part in parts if part.kind == "archive" and part.state != "missing"
            ],
            "verified": {part.name: part.sha256 for part in parts if part.state != "missing"},
            "installed": [part.final for part in to_install],
            "missing_archives": missing,
            "removed_from_incoming": self.removed,
        }
        for name in missing:
            self.warn(
                f"control-plane archive {name} listed in the metadata of {self.name} was not"
                " received (require_archives=false)"
            )
        if self.check_mode:
            names = ", ".join(part.name for part in to_install)
            result["msg"] = (
                f"would install {names} into {self.dest_dir}"
                if to_install
                else f"{self.name} is already in {self.dest_dir}"
            )
            return self.apply_retention({"changed": bool(to_install), **result})

        self.install(to_install, parts)
        for part in parts:
            if part.state == "present" and part.in_present and remove(part.incoming):
                self.removed.append(part.incoming)
        result["msg"] = (
            f"installed {', '.join(part.name for part in to_install)} into {self.dest_dir}"
            if to_install
            else f"{self.name} is already in {self.dest_dir}"
        )
        return self.apply_retention({"changed": bool(to_install), **result})

    def apply_retention(self, result):
        """``result`` with the retention done in dest_dir (in check mode: what it would
        prune of what is there), when rules were given. A file it cannot remove is a
        warning: the backup stays received."""
        done = apply_rules(self.dest_dir, self.retention, self.name, self.check_mode, self.warn)
        if done is None:
            return result
        return {
            **result,
            "changed": result["changed"] or done["changed"],
            "retention": done,
            "msg": f"{result['msg']}; {done['msg']}",
        }

    def install(self, to_install, parts):
        """Move the parts to install into dest_dir, in order; on a failure take back what
        was moved and raise ReceiveError (fail_copy)."""
        if not to_install:
            return
        try:
            os.makedirs(self.dest_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ReceiveError(
                f"cannot create dest_dir {self.dest_dir}: {exc.strerror or exc}; nothing was moved",
                removed_from_incoming=self.removed,
            ) from None
        installed = []
        for part in to_install:
            if os.path.lexists(part.final):
                self.fail_copy(
                    [f"{part.final} appeared meanwhile; a backup is never overwritten"],
                    parts,
                    installed=installed,
                )
            try:
                install(part, self.dest_dir)
            except (OSError, ReceiveError) as exc:
                if os.path.lexists(part.final):  # renamed into place, then failed
                    installed.append(part.final)
                why = str(exc) if isinstance(exc, ReceiveError) else (exc.strerror or str(exc))
                self.fail_copy(
                    [f"installing {part.name} into {self.dest_dir} failed: {why}"],
                    parts,
                    installed=installed,
                )
            installed.append(part.final)
        fsync_dir(self.dest_dir)
