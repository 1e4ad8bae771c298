#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot_verify
short_description: Check that an etcd snapshot file is whole and matches its metadata record
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Read-only check of one snapshot file, made before a restore and useful by hand.
  - Checks the sha256 trailer C(etcdctl snapshot save) appends (streaming, never loaded into
    memory), then compares the file's size and sha256 with its metadata record
    C(<snapshot>.json) written by M(kubedr.etcd.etcd_snapshot).
  - With O(tools), also runs C(snapshot status) and compares the revision and key count with
    the metadata; with O(trial_restore), restores the snapshot into a scratch directory that is
    always removed afterwards, which proves that etcd can restore it.
  - An age-encrypted backup (see M(kubedr.etcd.etcd_backup_encrypt)) is not read; the module
    says to decrypt it first with M(kubedr.etcd.etcd_backup_decrypt).
  - When something is wrong the module fails with one message that lists every problem it
    found, naming the file.
options:
  path:
    description:
      - The snapshot file, for example
        C(/var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db).
    type: path
    required: true
  metadata:
    description: The metadata record of the snapshot. Defaults to O(path) with C(.json) appended.
    type: path
  require_metadata:
    description:
      - Fail when the metadata record is missing.
      - When V(false) and there is no metadata record, only the sha256 trailer is checked (and
        C(snapshot status) / the trial restore when asked for); a metadata record that exists
        is always read and compared.
    type: bool
    default: true
  tools:
    description:
      - The etcd tools on this host, as the C(kubedr_etcd_tools) fact of
        M(kubedr.etcd.etcd_member_facts) - keys C(etcdctl) and C(etcdutl), each a dict with
        C(path) and C(version), or null.
      - When given, C(snapshot status) is run (with C(etcdutl) when present) and its revision and
        key count are compared with the metadata record.
    type: dict
  trial_restore:
    description:
      - Restore the snapshot into a scratch directory under O(scratch_dir) and remove it again.
        Needs O(tools), and free space for a second copy of the database plus 64 MiB.
    type: bool
    default: false
  scratch_dir:
    description:
      - Directory the trial restore's scratch directory is made in.
      - Defaults to the snapshot's directory.
    type: path
  timeout:
    description:
      - Seconds C(snapshot status) and the trial restore may each take before they are stopped.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details:
      - The module changes nothing, so it runs the same checks in check mode, the trial restore
        included (its scratch directory is removed either way).
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Runs with the Python standard library only.
  - C(snapshot status) and the trial restore run only when the file has a valid sha256
    trailer; a file without one is already unusable and those tools would only repeat that.
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_backup_receive
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Check a snapshot and its metadata record before restoring it
  kubedr.etcd.etcd_snapshot_verify:
    path: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db

- name: Prove that etcd can restore it, with the tools found by etcd_member_facts
  kubedr.etcd.etcd_snapshot_verify:
    path: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
    tools: "{{ kubedr_etcd_tools }}"
    trial_restore: true
  register: verified

- name: Check a snapshot saved by hand (no metadata record) by its trailer only
  kubedr.etcd.etcd_snapshot_verify:
    path: /root/etcd-snapshot-2026-11-26_03:00:00_UTC.db
    require_metadata: false
"""

RETURN = r"""
path:
  description: The snapshot file checked.
  returned: always
  type: str
  sample: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
size:
  description: Size of the snapshot file in bytes.
  returned: when the file could be read
  type: int
  sample: 2125856
sha256:
  description: sha256 of the whole snapshot file.
  returned: when the file could be read
  type: str
  sample: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
metadata:
  description:
    - The metadata record, or null when there is none (O(require_metadata=false)) or it is
      unreadable.
  returned: always
  type: dict
  sample:
    format: kubedr.etcd/snapshot-metadata/v1
    snapshot:
      file: etcd-snapshot-20261126T030000Z.db
      size: 2125856
      revision: 5321
      total_key: 812
status:
  description:
    - What C(snapshot status) reported (hash, revision, total_key, total_size), or null when it
      was not run.
  returned: always
  type: dict
  sample: {hash: 3117283462, revision: 5321, total_key: 812, total_size: 2125824}
trial_restore:
  description: true when a trial restore passed, null when none was tried.
  returned: always
  type: bool
  sample: true
problems:
  description: Every problem found (only on failure).
  returned: failure
  type: list
  elements: str
  sample: ["size is 1048576 bytes but the metadata records 2125856 bytes"]
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (  # noqa: E402
    BackupError,
    trial_restore,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (  # noqa: E402
    EtcdctlError,
    check,
    parse_snapshot_status,
    snapshot_status_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (  # noqa: E402
    ENCRYPTED_SUFFIX,
    SnapshotError,
    backup_files,
    compare_with_metadata,
    is_encrypted,
    load_metadata,
    metadata_path,
    sha256_file,
    verify_trailer,
)


def has_tool(tools):
    return any((tools.get(name) or {}).get("path") for name in ("etcdctl", "etcdutl"))


def read_file(path, problems):
    """(trailer_ok, {'size', 'sha256'} or None); trailer problems go into ``problems``."""
    try:
        verified = verify_trailer(path)
        return True, {"size": verified["size"], "sha256": verified["sha256"]}
    except SnapshotError as exc:
        problems.append(str(exc))
    try:  # no usable trailer: still hash it, so the metadata comparison can say more
        return False, {"size": os.path.getsize(path), "sha256": sha256_file(path)}
    except (OSError, SnapshotError):
        return False, None


def read_metadata(path, required, problems):
    if not required and not os.path.lexists(path):
        return None
    try:
        return load_metadata(path)
    except SnapshotError as exc:
        problems.append(str(exc))
        return None


def encrypted_copy(path, metadata_file):
    """The encrypted file standing for ``path`` (an age-encrypted backup), else None."""
    if path.endswith(ENCRYPTED_SUFFIX):
        return path
    if os.path.exists(path):
        return None
    try:
        metadata = load_metadata(metadata_file or metadata_path(path))
    except SnapshotError:
        return None
    if not is_encrypted(metadata):
        return None
    snapshot = backup_files(metadata)[-1]
    if snapshot["kind"] != "snapshot" or not snapshot["encrypted"]:
        return None
    return os.path.join(os.path.dirname(path), snapshot["stored"]["file"])


def compare_status(status, metadata):
    recorded = metadata.get("snapshot") or {}
    problems = []
    for key, what in (("revision", "revision"), ("total_key", "key count")):
        if recorded.get(key) is not None and status[key] != recorded[key]:
            problems.append(
                f"snapshot status reports {what} {status[key]} but the metadata records"
                f" {recorded[key]}"
            )
    return problems


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "metadata": {"type": "path"},
            "require_metadata": {"type": "bool", "default": True},
            "tools": {"type": "dict"},
            "trial_restore": {"type": "bool", "default": False},
            "scratch_dir": {"type": "path"},
            "timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    tools = p["tools"]
    result = {"changed": False, "path": path, "metadata": None, "status": None}
    result["trial_restore"] = None
    if p["trial_restore"] and not (tools and has_tool(tools)):
        module.fail_json(
            msg="trial_restore needs the etcd tools: pass tools (the kubedr_etcd_tools fact of"
            " kubedr.etcd.etcd_member_facts) naming etcdutl or etcdctl",
            **result,
        )
    if tools is not None and not has_tool(tools):
        module.fail_json(
            msg="tools names neither etcdctl nor etcdutl with a path: pass the kubedr_etcd_tools"
            " fact of kubedr.etcd.etcd_member_facts, or leave tools out to check without etcd",
            **result,
        )
    if p["timeout"] < 1:
        module.fail_json(msg=f"timeout={p['timeout']}: give at least 1 second", **result)
    encrypted = encrypted_copy(path, p["metadata"])
    if encrypted:
        module.fail_json(
            msg=f"snapshot {path} is stored encrypted ({encrypted}): decrypt it first with"
            " kubedr.etcd.etcd_backup_decrypt (or age -d -i <identity file>) and verify the"
            " plain copy",
            **result,
        )
    if not os.path.exists(path):
        module.fail_json(msg=f"snapshot {path} does not exist", **result)

    problems = []
    trailer_ok, info = read_file(path, problems)
    if info is None:  # unreadable: the trailer check said why
        module.fail_json(msg=problems[0], problems=problems, **result)
    result.update(info)

    metadata = read_metadata(p["metadata"] or metadata_path(path), p["require_metadata"], problems)
    result["metadata"] = metadata
    if metadata is not None:
        problems.extend(compare_with_metadata(info, metadata))

    if tools and trailer_ok:
        try:
            status = parse_snapshot_status(
                check(
                    snapshot_status_argv(tools, path),
                    {"ETCDCTL_API": "3"},
                    p["timeout"],
                    "snapshot status",
                )
            )
        except EtcdctlError as exc:
            problems.append(str(exc))
        else:
            result["status"] = status
            if metadata is not None:
                problems.extend(compare_status(status, metadata))

    if p["trial_restore"] and trailer_ok:
        scratch = p["scratch_dir"] or os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(scratch):
            problems.append(
                f"scratch_dir {scratch} is not a directory: the trial restore needs one"
            )
        else:
            try:
                trial_restore(tools, path, scratch, None, p["timeout"])
            except BackupError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(
                    f"cannot make a scratch directory for the trial restore in {scratch}:"
                    f" {exc.strerror or exc}; choose another scratch_dir"
                )
            else:
                result["trial_restore"] = True

    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        module.fail_json(
            msg=f"snapshot {path} failed verification ({count}): " + "; ".join(problems),
            problems=problems,
            **result,
        )
    module.exit_json(msg=f"snapshot {path} verified", **result)


if __name__ == "__main__":
    main()
