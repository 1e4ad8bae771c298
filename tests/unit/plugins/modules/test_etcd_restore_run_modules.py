"""The journaled restore modules (etcd_restore_journal, _step, _rollback) share their
run_id/state_dir options and their ending: run through main() against a real state
directory, each takes the shared defaults and turns the cut-over's error into fail_json."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_args import (
    restore_run_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (
    DEFAULT_STATE_DIR,
)
from ansible_collections.kubedr.etcd.plugins.modules import (
    etcd_restore_journal,
    etcd_restore_rollback,
    etcd_restore_step,
)
from tests.unit.plugins.modules.conftest import fail_module

RUN_ID = "20261126T031500Z-4f9a1c"


def test_the_shared_spec():
    assert restore_run_argument_spec() == {
        "run_id": {"type": "str", "required": True},
        "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    }
    assert restore_run_argument_spec(run_id_required=False)["run_id"]["required"] is False


@pytest.mark.parametrize(
    ("main", "arguments"),
    [
        (etcd_restore_journal.main, {"state": "verified"}),
        (etcd_restore_step.main, {"step": "stop"}),
        (etcd_restore_rollback.main, {}),
    ],
    ids=["journal", "step", "rollback"],
)
def test_no_journal_fails_with_the_cutover_message(tmp_path, main, arguments):
    state_dir = tmp_path / "restore"
    state_dir.mkdir()
    failed = fail_module(main, {**arguments, "run_id": RUN_ID, "state_dir": str(state_dir)})
    assert failed["msg"] == (
        f"{state_dir / 'journal.json'} does not exist: run {RUN_ID} never locked this master"
    )
    assert not (state_dir / "journal.json").exists()


def test_run_id_is_required_by_step_and_rollback():
    for main in (etcd_restore_step.main, etcd_restore_rollback.main):
        failed = fail_module(main, {"step": "stop"} if main is etcd_restore_step.main else {})
        assert "run_id" in failed["msg"]
