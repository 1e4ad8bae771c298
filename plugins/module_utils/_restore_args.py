# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Argument spec of the options every journaled restore module takes (etcd_restore_journal,
etcd_restore_step, etcd_restore_rollback). Kept apart from _common_args so the modules
that take TLS or tools options do not carry the journal with them. Each module documents
the options itself: what the run is to it differs."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (
    DEFAULT_STATE_DIR,
)


def restore_run_argument_spec(run_id_required=True):
    """run_id and state_dir: the restore run that holds a master, and the directory of its
    journal there."""
    return {
        "run_id": {"type": "str", "required": run_id_required},
        "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    }
