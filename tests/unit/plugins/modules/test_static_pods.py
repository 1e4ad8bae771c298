"""Unit tests of the static_pods module, run through its main()."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.modules import static_pods
from tests.support.fake_processes import PLAIN_PATH
from tests.support.ports import free_port
from tests.unit.plugins.modules.conftest import fail_module, run_module

pytestmark = pytest.mark.timeout(60)

STAMP = "20261126T030000Z"


@pytest.fixture(autouse=True)
def plain_path(monkeypatch):
    # no container runtime of this machine's: the fake processes are what is watched
    monkeypatch.setenv("PATH", PLAIN_PATH)


@pytest.fixture
def manifests(tmp_path):
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "etcd.yaml").write_text("kind: Pod\n")
    return directory


def run(args, check_mode=False):
    if check_mode:
        args = {**args, "_ansible_check_mode": True}
    return run_module(static_pods.main, args)


def run_fail(args):
    return fail_module(static_pods.main, args)


def stopped(manifests_dir, fakes, **kwargs):
    args = {
        "state": "stopped",
        "manifests_dir": str(manifests_dir),
        "stamp": STAMP,
        "process_patterns": [fakes.pattern],
        "ports": [free_port()],
        "timeout": 5,
    }
    args.update(kwargs)
    return args


def test_stop_and_start_round_trip(fakes, manifests):
    aside = f"{manifests}.kubedr-{STAMP}"
    fakes.kill_later(fakes.etcd(), 0.5)
    result = run(stopped(manifests, fakes))
    assert result["changed"] is True
    assert result["moved_to"] == aside
    assert result["method"] == "processes"
    assert result["waited"] >= 0.3
    assert run(stopped(manifests, fakes))["changed"] is False

    port = free_port()
    fakes.listener(port)
    started = run({"state": "started", "manifests_dir": str(manifests), "stamp": STAMP})
    assert started["changed"] is True
    assert started["moved_from"] == aside
    assert (manifests / "etcd.yaml").exists()
    again = run(
        {
            "state": "started",
            "manifests_dir": str(manifests),
            "aside_dir": aside,
            "wait_ports": [port],
        }
    )
    assert again["changed"] is False
    assert again["moved_to"] == str(manifests)


def test_check_mode(fakes, manifests):
    result = run(stopped(manifests, fakes), check_mode=True)
    assert result["changed"] is True
    assert result["msg"].startswith("would move")
    assert manifests.is_dir()
    assert not Path(f"{manifests}.kubedr-{STAMP}").exists()


def test_timeout_fails_with_what_runs(fakes, manifests):
    proc = fakes.etcd()
    failed = run_fail(stopped(manifests, fakes, timeout=1))
    aside = f"{manifests}.kubedr-{STAMP}"
    assert f"pid {proc.pid}: {fakes.sleep} 300" in failed["msg"]
    assert failed["msg"].endswith(f"to roll back: mv {aside} {manifests}")
    assert failed["moved_to"] == aside
    assert failed["running"]["processes"][0]["pid"] == proc.pid


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"state": "stopped"}, "state is stopped but all of the following are missing: stamp"),
        ({"state": "started"}, "state=started needs aside_dir"),
        ({"state": "stopped", "stamp": "now"}, "stamp='now' is not a UTC time"),
        ({"state": "stopped", "stamp": STAMP, "ports": [70000]}, "ports: [70000] are not TCP"),
        ({"state": "started", "stamp": STAMP, "timeout": -1}, "timeout=-1"),
    ],
)
def test_bad_input(manifests, args, message):
    assert message in run_fail({"manifests_dir": str(manifests), **args})["msg"]
    assert manifests.is_dir()
