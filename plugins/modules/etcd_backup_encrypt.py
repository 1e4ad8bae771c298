#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_encrypt
short_description: Encrypt a verified etcd backup at rest with age
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Encrypts the files of one backup in O(dir) - the snapshot and the control-plane archives
    its metadata record lists - to one or more age recipients (public keys). Each file
    C(<name>) is replaced by C(<name>.age). Decrypting needs only a matching identity file
    (the private key) and the C(age) tool; see M(kubedr.etcd.etcd_backup_decrypt).
  - Runs where the backup was filed and verified, typically on the controller after
    M(kubedr.etcd.etcd_backup_receive) (C(delegate_to=localhost)). Needs C(age) there, no
    private key.
  - "Safe order: every file is streamed through C(age) into a hidden temporary file while the
    plain file's sha256 is checked against the metadata record; the encrypted files are
    flushed and renamed into place; the metadata record gets an C(encryption) section
    (recipients, and the size and sha256 of every encrypted file) and is replaced atomically;
    only then are the plain files removed. An interruption leaves the plain backup usable, and
    a re-run finishes the job."
  - The metadata record stays in the clear, under the same name C(<snapshot>.json), so
    retention and restore find encrypted backups like plain ones. It holds no secret (sizes,
    hashes, revision, member names and peer URLs).
  - Without O(snapshot), only checks that C(age) is there and accepts every recipient; use this
    before a backup so a bad setting stops the run before anything is saved.
options:
  dir:
    description: Directory holding the backup (its snapshot, metadata record and archives).
    type: path
  snapshot:
    description:
      - File name (not a path) of the plain snapshot, for example
        C(etcd-snapshot-20261126T030000Z.db). Its metadata record is the same name plus
        C(.json).
      - Leave out to check O(recipients) and C(age) only.
    type: str
  recipients:
    description:
      - age recipients (public keys) to encrypt to - C(age1...) keys or SSH public keys.
        Anyone holding the identity of any one of them can decrypt.
    type: list
    elements: str
    default: []
  recipients_files:
    description: Files listing recipients, one per line (C(#) starts a comment).
    type: list
    elements: path
    default: []
  check_identity_files:
    description:
      - Identity files (private keys) to prove each encrypted file decrypts to the recorded
        sha256 before the plain file is removed. Optional; it costs a second pass, and keeping
        private keys off the host that encrypts is safer.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    details: Checks age, the recipients and the backup, and says what it would encrypt.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A backup whose record already has an C(encryption) section is not encrypted again; its
        encrypted files are checked against the record, and plain copies left by an
        interrupted run are removed.
notes:
  - Room for the backup twice is needed while it runs; the plain files go at the end.
  - A file C(<name>.age) that the metadata record does not list is what an interrupted run
    left, and is replaced.
  - Recipients are recorded in the metadata record so you can tell which key decrypts it.
seealso:
  - module: kubedr.etcd.etcd_backup_decrypt
  - module: kubedr.etcd.etcd_backup_receive
  - name: age
    description: The age file encryption tool and format.
    link: https://age-encryption.org
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.age
"""

EXAMPLES = r"""
- name: Stop early when age or a recipient is not usable
  kubedr.etcd.etcd_backup_encrypt:
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
  delegate_to: localhost
  run_once: true

- name: Encrypt the backup just filed on the controller
  kubedr.etcd.etcd_backup_encrypt:
    dir: /srv/etcd-backups/cluster1
    snapshot: etcd-snapshot-20261126T030000Z.db
    recipients_files: [/etc/kubedr/backup-recipients.txt]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
files:
  description: The backup's file names as now stored in O(dir), the metadata record last.
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: [kubernetes-cp-1-20261126T030000Z.tar.gz.age, etcd-snapshot-20261126T030000Z.db.age,
           etcd-snapshot-20261126T030000Z.db.json]
snapshot:
  description: Path of the encrypted snapshot.
  returned: success, with O(snapshot)
  type: str
  sample: /srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db.age
encryption:
  description: The C(encryption) section of the metadata record.
  returned: success, with O(snapshot)
  type: dict
  sample:
    method: age
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    files:
      etcd-snapshot-20261126T030000Z.db:
        file: etcd-snapshot-20261126T030000Z.db.age
        size: 360448261
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
removed:
  description: Plain files removed after their encrypted copies were in place.
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: [/srv/etcd-backups/cluster1/etcd-snapshot-20261126T030000Z.db]
missing_archives:
  description: Archives the record lists that were not in O(dir) (not encrypted, not listed).
  returned: success, with O(snapshot)
  type: list
  elements: str
  sample: []
timings:
  description: Seconds spent encrypting (C(encrypt)) and, with O(check_identity_files),
    decrypting again (C(check)).
  returned: success, when files were encrypted
  type: dict
  sample: {encrypt: 1.9, check: 0.0}
peak_rss_kib:
  description: Peak resident memory of this module (self) and of the age processes it ran (age).
  returned: success, when files were encrypted
  type: dict
  sample: {self: 21000, age: 9000}
recipients:
  description: Every recipient, from O(recipients) and O(recipients_files).
  returned: success
  type: list
  elements: str
  sample: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
age:
  description: Path of the age binary used.
  returned: success
  type: str
  sample: /usr/bin/age
"""

import datetime  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (  # noqa: E402
    AgeError,
    check_recipients,
    decrypt_file,
    encrypt_file,
    find_age,
    recipient_list,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    age_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import (  # noqa: E402
    fsync_dir,
    remove,
    temp_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (  # noqa: E402
    ENCRYPTED_SUFFIX,
    ENCRYPTION_METHOD,
    SnapshotError,
    backup_files,
    is_encrypted,
    load_metadata,
    metadata_path,
    sha256_file,
    write_json_atomic,
)


class Encryptor:
    def __init__(self, module, age, recipients):
        self.module = module
        self.age = age
        self.recipients = recipients
        p = module.params
        self.dir = p["dir"]
        self.name = p["snapshot"]
        self.meta_path = metadata_path(os.path.join(self.dir, self.name))
        self.result = {"changed": False, "recipients": recipients, "age": age}

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **self.result, **extra)

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
            self.module.warn(
                f"{self.name} was encrypted earlier to {', '.join(recorded) or 'unknown'}; it is"
                " not encrypted again to the recipients given now"
            )
        removed = []
        if leftovers and not self.module.check_mode:
            for path in leftovers:
                if remove(path):
                    removed.append(path)
            fsync_dir(self.dir)
        self.report(metadata, parts, removed if not self.module.check_mode else leftovers, missing)
        self.result["changed"] = bool(leftovers)
        self.result["msg"] = f"{self.name} was encrypted already" + (
            f"; removed plain leftovers: {', '.join(map(os.path.basename, leftovers))}"
            if leftovers
            else ""
        )
        self.module.exit_json(**self.result)

    def run(self):
        metadata = self.load()
        if is_encrypted(metadata):
            self.finish_earlier_run(metadata)
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
            self.module.warn(f"control-plane archive {name} is not in {self.dir}: not encrypted")
        if self.module.check_mode:
            for part in todo:
                part["stored"] = {"file": part["plain"]["file"] + ENCRYPTED_SUFFIX}
            self.report(metadata, todo, [], missing)
            self.result.update(
                changed=True,
                removed=[self.path(part["plain"]["file"]) for part in todo],
                msg=f"would encrypt {', '.join(p['plain']['file'] for p in todo)} in {self.dir}",
            )
            self.module.exit_json(**self.result)

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
        self.module.exit_json(**self.result)

    def encrypt_all(self, todo, temps):
        """Encrypt every plain file into a temporary file; {plain name: stored entry}."""
        p = self.module.params
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
            if p["check_identity_files"]:
                started = time.monotonic()
                try:
                    back = decrypt_file(self.age, temp, p["check_identity_files"])
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


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path"},
            "snapshot": {"type": "str"},
            "recipients": {"type": "list", "elements": "str", "default": []},
            "recipients_files": {"type": "list", "elements": "path", "default": []},
            "check_identity_files": {"type": "list", "elements": "path", "default": []},
            **age_argument_spec(),
        },
        required_by={"snapshot": "dir"},
        supports_check_mode=True,
    )
    p = module.params
    try:
        age = find_age(p["age_command"])
        recipients = recipient_list(p["recipients"], p["recipients_files"])
        check_recipients(age, recipients)
    except AgeError as exc:
        module.fail_json(msg=f"{exc}; nothing was encrypted")
    name = p["snapshot"]
    if name is None:
        module.exit_json(
            changed=False,
            recipients=recipients,
            age=age,
            msg=f"{age} accepts all {len(recipients)} recipient(s)",
        )
    if not name or "/" in name or name.startswith("."):
        module.fail_json(
            msg=f"snapshot={name!r} is not a file name: give the snapshot's name without a"
            " directory, e.g. etcd-snapshot-20261126T030000Z.db"
        )
    if name.endswith(ENCRYPTED_SUFFIX):
        module.fail_json(msg=f"snapshot={name!r}: give the plain name, without {ENCRYPTED_SUFFIX}")
    if not os.path.isdir(p["dir"]):
        module.fail_json(msg=f"dir {p['dir']} is not a directory")
    Encryptor(module, age, recipients).run()


if __name__ == "__main__":
    main()
