"""Several cut-over steps in one module start (swap, then start): each runs as step() runs
it, in order; the result is the last step's, with each one's under 'steps'."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _cutover as C
from tests.unit.plugins.module_utils.test_cutover_upload import RUN


@pytest.fixture
def calls(monkeypatch):
    """step() replaced by a recorder: swap changes, start does not."""
    seen = []

    def fake(state_dir, run_id, name, timeout, restore_timeout, check_mode, upload):
        seen.append((name, check_mode))
        changed = name == "swap"
        return {"changed": changed, "phase": f"{name}-done", "seconds": 1, "detail": {},
                "msg": f"{name} msg"}  # fmt: skip

    monkeypatch.setattr(C, "step", fake)
    return seen


def test_one_step_gives_its_own_result(calls):
    result = C.steps("/s", RUN, ["stop"])
    assert calls == [("stop", False)]
    assert "steps" not in result
    assert result["phase"] == "stop-done"


def test_several_run_in_order_and_combine(calls):
    result = C.steps("/s", RUN, ["swap", "start"])
    assert calls == [("swap", False), ("start", False)]
    assert result["phase"] == "start-done"
    assert result["changed"] is True  # swap changed
    assert list(result["steps"]) == ["swap", "start"]
    assert result["msg"] == "swap: swap msg; start: start msg"


def test_check_mode_checks_the_first_only(calls):
    result = C.steps("/s", RUN, ["swap", "start"], check_mode=True)
    assert calls == [("swap", True)]
    assert result["msg"] == "swap: swap msg; then start"


def test_no_step_is_refused():
    with pytest.raises(C.CutoverError, match="no step given"):
        C.steps("/s", RUN, [])
