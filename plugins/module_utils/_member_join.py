# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Ready a replaced master to join its cluster again as a new member, on that master
(after the survivors removed its old member and added it back as a learner), its static
pods stopped: its etcd manifest lies moved aside, out of the kubelet's directory.
Everything is checked before the first change - the manifest is out of the kubelet's
directory and can be edited, no etcd runs on the data dir - then:

1. (checked) this master proves its own etcd is gone: no process runs etcd on its data
   dir (``_restore.etcd_processes_on``, by the directory's identity, container or not);
2. its old ``member/`` is moved aside, inside the data dir, under the name a restore
   uses (``_restore.paths``: ``member.kubedr-<stamp>``) - never deleted; a data dir that
   is not there (a rebuilt master) is made, mode 0700;
3. its etcd manifest gets the cluster it joins: ``--initial-cluster`` (every member, as
   the plan wrote it) and ``--initial-cluster-state=existing``
   (``_etcd_manifest_edit.set_flags``); the manifest as it was is kept in ``keep_dir``
   (the run's state dir: never beside the manifest, where the kubelet would run a copy).

Each step checks its own result, so a run killed half way and run again finishes the job:
a member already aside and no ``member/`` is done; flags already set are left alone.
"""

from __future__ import annotations

import os
import shutil

from ansible_collections.kubedr.etcd.plugins.module_utils import _files as F
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import ManifestError
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest_edit import set_flags
from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (
    etcd_processes_on,
    paths,
)


class JoinError(Exception):
    """The master cannot be readied; ``msg`` names the path, the state and the fix."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def join_flags(initial_cluster):
    """The flags a member joining a running cluster starts with."""
    return {"initial-cluster": initial_cluster, "initial-cluster-state": "existing"}


def _refuse_running(data_dir, proc_root):
    running = etcd_processes_on(data_dir, proc_root)
    if running:
        listed = "; ".join(f"pid {p['pid']}: {p['command']}" for p in running)
        raise JoinError(
            f"etcd still runs on {data_dir} ({listed}): its static pod must be stopped"
            " before its data is moved aside; nothing was changed",
            running=running,
        )


def _set_member_aside(data_dir, stamp, check_mode):
    names = paths(data_dir, stamp)
    member, aside = names["member"], names["aside"]
    if os.path.lexists(member):
        if os.path.lexists(aside):
            raise JoinError(
                f"both {member} and {aside} exist: {aside} holds what an earlier step of this"
                f" run moved aside, and {member} was made since. Look at both; move {member}"
                " away yourself, then re-run",
                member=member,
                aside=aside,
            )
        if not check_mode:
            os.rename(member, aside)
            F.fsync_dir(data_dir)
        return {"moved": member, "to": aside}
    return {"moved": None, "to": aside if os.path.lexists(aside) else None}


def _make_data_dir(data_dir, check_mode):
    if os.path.isdir(data_dir):
        return False
    if os.path.lexists(data_dir):
        raise JoinError(f"{data_dir} is not a directory: etcd's data dir must be one")
    if not check_mode:
        os.makedirs(data_dir, mode=0o700)
        F.fsync_dir(os.path.dirname(os.path.abspath(data_dir)))
    return True


def _new_manifest(manifest, initial_cluster, kubelet_manifests_dir):
    """(text as it is, text with the join flags, flags changed), before anything moves."""
    directory = os.path.dirname(os.path.abspath(manifest))
    if kubelet_manifests_dir and os.path.abspath(kubelet_manifests_dir) == directory:
        raise JoinError(
            f"{manifest} is in the kubelet's manifests directory: the kubelet could start"
            " etcd while its data is moved aside. Stop the static pods first (the manifests"
            " moved aside), then re-run; nothing was changed"
        )
    try:
        with open(manifest, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise JoinError(f"cannot read the etcd manifest {manifest}: {exc}") from None
    try:
        new, changed = set_flags(text, join_flags(initial_cluster), where=manifest)
    except ManifestError as exc:
        raise JoinError(f"{exc}; nothing was changed") from None
    return text, new, changed


def _write_manifest(manifest, new, changed, keep_dir, check_mode):
    kept = os.path.join(keep_dir, os.path.basename(manifest))
    if changed and not check_mode:
        if not os.path.exists(kept):  # the manifest as the user had it, once
            os.makedirs(keep_dir, mode=0o700, exist_ok=True)
            shutil.copy2(manifest, kept)
            F.fsync_file(kept)
            F.fsync_dir(keep_dir)
        mode = os.stat(manifest).st_mode & 0o7777
        F.write_text_atomic(manifest, new, mode=mode)
    return {"manifest": manifest, "changed_flags": changed, "kept": kept if changed else None}


def prepare_join(
    data_dir,
    manifest,
    initial_cluster,
    stamp,
    keep_dir,
    check_mode=False,
    proc_root="/proc",
    kubelet_manifests_dir="/etc/kubernetes/manifests",
):
    """Steps 1-3 above, every check before the first change: the manifest must lie
    outside ``kubelet_manifests_dir`` (moved aside with the static pods) and be editable.
    Returns {'changed', 'data_dir_made', 'moved', 'to', 'manifest', 'changed_flags',
    'kept'}; JoinError when a step cannot be done, nothing further changed."""
    if not initial_cluster or "=" not in initial_cluster:
        raise JoinError(f"{initial_cluster!r} is not an initial cluster (name=peer-url,...)")
    _old, new, changed = _new_manifest(manifest, initial_cluster, kubelet_manifests_dir)
    _refuse_running(data_dir, proc_root)
    made = _make_data_dir(data_dir, check_mode)
    aside = _set_member_aside(data_dir, stamp, check_mode)
    flags = _write_manifest(manifest, new, changed, keep_dir, check_mode)
    return {
        "changed": bool(made or aside["moved"] or flags["changed_flags"]),
        "data_dir_made": made,
        **aside,
        **flags,
    }
