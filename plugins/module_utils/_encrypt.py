# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Encrypt one verified backup at rest with age (the etcd_backup_encrypt module).

``Encryptor.run`` streams every plain file of the backup through age into a hidden
temporary file while checking its sha256 against the metadata record, renames the
encrypted files into place, adds the ``encryption`` section to the record (atomically),
and only then removes the plain files. A backup recorded as encrypted already is checked
and the plain leftovers of an interrupted run are removed. Any problem raises
EncryptError; the plain backup is then left as it was.
"""

from __future__ import annotations

import datetime
import os
import resource
import time

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (
    AgeError,
    check_recipients,
    decrypt_file,
    encrypt_file,
    find_age,
    recipient_list,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import (
    fsync_dir,
    remove,
    temp_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    ENCRYPTED_SUFFIX,
    ENCRYPTION_METHOD,
    SnapshotError,
    backup_files,
    file_name_problem,
    is_encrypted,
    load_metadata,
    metadata_path,
    sha256_file,
    write_json_atomic,
)


class EncryptError(TaskFailure):
    """The backup was not encrypted; the message says why, ``details`` holds the other
    fields of the module's failure (recipients, age)."""


def prepare(age_command, recipients, recipients_files):
    """(age path, recipients): age is there and accepts every recipient, else EncryptError."""
    try:
        age = find_age(age_command)
        found = recipient_list(recipients, recipients_files)
        check_recipients(age, found)
    except AgeError as exc:
        raise EncryptError(f"{exc}; nothing was encrypted") from None
    return age, found


def check_arguments(directory, name):
    """Raise EncryptError unless ``name`` is a plain snapshot's file name in ``directory``."""
    problem = file_name_problem(name)
    if problem:
        raise EncryptError(problem)
    if name.endswith(ENCRYPTED_SUFFIX):
        raise EncryptError(f"snapshot={name!r}: give the plain name, without {ENCRYPTED_SUFFIX}")
    if not os.path.isdir(directory):
        raise EncryptError(f"dir {directory} is not a directory")


def encrypt(
    directory,
    name,
    recipients=(),
    recipients_files=(),
    check_identity_files=(),
    age_command="age",
    check_mode=False,
    warn=None,
):
    """The etcd_backup_encrypt module's work: check age and the recipients, then, with a
    snapshot ``name``, encrypt its backup in ``directory``. Returns the module's result;
    raises EncryptError."""
    age, found = prepare(age_command, recipients, recipients_files)
    if name is None:
        return {
            "changed": False,
            "recipients": found,
            "age": age,
            "msg": f"{age} accepts all {len(found)} recipient(s)",
        }
    check_arguments(directory, name)
    encryptor = Encryptor(
        directory,
        name,
        age,
        found,
        check_identity_files=check_identity_files,
        check_mode=check_mode,
        warn=warn,
    )
    return encryptor.run()


class Encryptor:
    """Encrypt the backup of snapshot ``name`` in ``directory`` to ``recipients`` with the
    age binary ``age``; ``warn`` is called with what the user should be told besides."""

    def __init__(
        self, directory, name, age, recipients, check_identity_files=(), check_mode=False, warn=None
    ):
        self.age = age
        self.recipients = recipients
        self.check_identity_files = list(check_identity_files or ())
        self.check_mode = check_mode
        self.warn = warn or (lambda _message: None)
        self.dir = directory
        self.name = name
        self.timings = {}
        self.meta_path = metadata_path(os.path.join(self.dir, self.name))
        self.result = {"changed": False, "recipients": recipients, "age": age}

    def fail(self, msg):
        raise EncryptError(msg, **self.result)

    def path(self, name):
        return os.path.join(self.dir, name)

    def load(self):
        try:
            metadata = load_metadata(self.meta_path)
        except SnapshotError as exc:
            self.fail(f"{exc}; nothing was encrypted")
        if metadata["snapshot"]["file"] != self.name:
            self.fail(
                f"metadata file {self.meta_path} describes snapshot"
                f" {metadata['snapshot']['file']}, not {self.name}; nothing was encrypted"
            )
        return metadata

    def report(self, metadata, parts, removed, missing):
        stored = [part["stored"]["file"] for part in parts if part["plain"]["file"] not in missing]
        self.result.update(
            files=[*stored, os.path.basename(self.meta_path)],
            snapshot=self.path(parts[-1]["stored"]["file"]),
            encryption=metadata.get("encryption"),
            removed=removed,
            missing_archives=missing,
        )

    def finish_earlier_run(self, metadata):
        """The record says encrypted: check the encrypted files, drop plain leftovers."""
        parts = backup_files(metadata)
        problems, leftovers, missing = [], [], []
        for part in parts:
            if not part["encrypted"]:
                missing.append(part["plain"]["file"])
                continue
            stored = part["stored"]
            try:
                digest = sha256_file(self.path(stored["file"]))
                size = os.path.getsize(self.path(stored["file"]))
            except (OSError, SnapshotError) as exc:
                problems.append(f"{stored['file']}: {exc}")
                continue
            if digest != stored["sha256"] or size != stored["size"]:
                problems.append(
                    f"{stored['file']} is {size} bytes with sha256 {digest}, the record says"
                    f" {stored['size']} bytes with sha256 {stored['sha256']}"
                )
            if os.path.isfile(self.path(part["plain"]["file"])):
                leftovers.append(self.path(part["plain"]["file"]))
        if problems:
            self.fail(
                f"{self.name} is recorded as encrypted, but: {'; '.join(problems)}. The backup"
                f" in {self.dir} is damaged; nothing was changed"
            )
        recorded = (metadata.get("encryption") or {}).get("recipients") or []
        if sorted(recorded) != sorted(self.recipients):
            self.warn(
                f"{self.name} was encrypted earlier to {', '.join(recorded) or 'unknown'}; it is"
                " not encrypted again to the recipients given now"
            )
        removed = []
        if leftovers and not self.check_mode:
            for path in leftovers:
                if remove(path):
                    removed.append(path)
            fsync_dir(self.dir)
        self.report(metadata, parts, removed if not self.check_mode else leftovers, missing)
        self.result["changed"] = bool(leftovers)
        self.result["msg"] = f"{self.name} was encrypted already" + (
            f"; removed plain leftovers: {', '.join(map(os.path.basename, leftovers))}"
            if leftovers
            else ""
        )
        return self.result

    def run(self):
        """Encrypt (in check mode: say what would be); the module's result."""
        metadata = self.load()
        if is_encrypted(metadata):
            return self.finish_earlier_run(metadata)
        parts = backup_files(metadata)
        missing = [
            part["plain"]["file"]
            for part in parts
            if part["kind"] == "archive" and not os.path.isfile(self.path(part["plain"]["file"]))
        ]
        todo = [part for part in parts if part["plain"]["file"] not in missing]
        if not os.path.isfile(self.path(self.name)):
            self.fail(f"snapshot {self.path(self.name)} does not exist; nothing was encrypted")
        for name in missing:
            self.warn(f"control-plane archive {name} is not in {self.dir}: not encrypted")
        if self.check_mode:
            for part in todo:
                part["stored"] = {"file": part["plain"]["file"] + ENCRYPTED_SUFFIX}
            self.report(metadata, todo, [], missing)
            self.result.update(
                changed=True,
                removed=[self.path(part["plain"]["file"]) for part in todo],
                msg=f"would encrypt {', '.join(p['plain']['file'] for p in todo)} in {self.dir}",
            )
            return self.result

        temps = {}
        self.timings = {"encrypt": 0.0, "check": 0.0}
        try:
            files = self.encrypt_all(todo, temps)
        except BaseException:
            for temp in temps.values():
                remove(temp)
            raise
        for plain_name, stored in files.items():
            os.replace(temps[plain_name], self.path(stored["file"]))
        fsync_dir(self.dir)
        metadata["encryption"] = {
            "method": ENCRYPTION_METHOD,
            "recipients": self.recipients,
            "encrypted": datetime.datetime.now(datetime.timezone.utc).strftime(  # noqa: UP017
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "files": files,
        }
        write_json_atomic(self.meta_path, metadata)
        removed = []
        for part in todo:
            if remove(self.path(part["plain"]["file"])):
                removed.append(self.path(part["plain"]["file"]))
        fsync_dir(self.dir)
        self.report(metadata, backup_files(metadata), removed, missing)
        self.result.update(
            timings={key: round(value, 3) for key, value in self.timings.items()},
            peak_rss_kib={
                "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "age": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            },
        )
        self.result.update(
            changed=True,
            msg=f"encrypted {len(todo)} file(s) of {self.name} to"
            f" {len(self.recipients)} recipient(s) in {self.dir}",
        )
        return self.result

    def encrypt_all(self, todo, temps):
        """Encrypt every plain file into a temporary file; {plain name: stored entry}."""
        files = {}
        for part in todo:
            plain = part["plain"]
            temp = temps[plain["file"]] = temp_name(self.path(plain["file"] + ENCRYPTED_SUFFIX))
            started = time.monotonic()
            try:
                done = encrypt_file(self.age, self.path(plain["file"]), temp, self.recipients)
            except AgeError as exc:
                self.fail(f"{exc}; the plain backup in {self.dir} was left as it is")
            self.timings["encrypt"] += time.monotonic() - started
            if done["plain"]["sha256"] != plain["sha256"] or done["plain"]["size"] != plain["size"]:
                self.fail(
                    f"{plain['file']} is {done['plain']['size']} bytes with sha256"
                    f" {done['plain']['sha256']}, but the metadata records {plain['size']} bytes"
                    f" with sha256 {plain['sha256']}: the backup in {self.dir} is damaged and was"
                    " not encrypted; check it with kubedr.etcd.etcd_snapshot_verify"
                )
            if self.check_identity_files:
                started = time.monotonic()
                try:
                    back = decrypt_file(self.age, temp, self.check_identity_files)
                except AgeError as exc:
                    self.fail(
                        f"the encrypted {plain['file']} does not decrypt with"
                        f" check_identity_files: {exc}; nothing was changed"
                    )
                if back["plain"]["sha256"] != plain["sha256"]:
                    self.fail(
                        f"the encrypted {plain['file']} decrypts to sha256"
                        f" {back['plain']['sha256']}, not {plain['sha256']}; nothing was changed"
                    )
                self.timings["check"] += time.monotonic() - started
            files[plain["file"]] = {
                "file": plain["file"] + ENCRYPTED_SUFFIX,
                "size": done["encrypted"]["size"],
                "sha256": done["encrypted"]["sha256"],
            }
        return files
