"""The lab kubelet's timings (tests/lab/runtime/kubelet.py): a stop's SIGTERM comes
``sigterm_delay`` late, a pod without a grace period gets ``grace``; real processes."""

from __future__ import annotations

import importlib.util
import os
import time

import pytest

from tests.lab import lab as L

HERE = os.path.dirname(L.__file__)


def load_kubelet():
    spec = importlib.util.spec_from_file_location(
        "lab_kubelet", os.path.join(HERE, "runtime", "kubelet.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kubelet(tmp_path):
    module = load_kubelet()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (tmp_path / "logs").mkdir()
    k = module.Kubelet(
        str(manifests),
        {"busybox": "/bin"},
        str(tmp_path / "logs"),
        str(tmp_path / "s.json"),
        lambda _msg: None,
    )
    yield k, manifests
    for pod in list(k.pods.values()) + k.stopping:
        for c in pod.containers:
            if c.pid:
                os.kill(c.pid, 9)
                os.waitpid(c.pid, 0)


def reap(k):
    for pid in list(k.by_pid):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            k.reaped(pid, status)


def pod_yaml(grace=None):
    lines = ["kind: Pod", "metadata: {name: sleeper}", "spec:"]
    if grace is not None:
        lines.append(f"  terminationGracePeriodSeconds: {grace}")
    lines.append("  containers: [{name: main, image: busybox, command: [sleep, '60']}]")
    return "\n".join(lines) + "\n"


def test_a_stop_sends_sigterm_only_after_the_delay(kubelet):
    k, manifests = kubelet
    k.timings.update(sigterm_delay=1.0, grace=17.0)
    (manifests / "p.yaml").write_text(pod_yaml())
    k.sync()
    (container,) = k.pods[str(manifests / "p.yaml")].containers
    assert container.pid and container.pod.grace == 17.0
    (manifests / "p.yaml").unlink()
    t0 = time.monotonic()
    k.sync()
    assert k.stopping and not container.term_sent
    while container.pid and time.monotonic() - t0 < 5:
        k.sync(look=False)
        reap(k)
        time.sleep(0.05)
    waited = time.monotonic() - t0
    assert container.pid is None and container.term_sent
    assert 1.0 <= waited < 3.0


def test_without_a_look_a_removed_manifest_keeps_its_pod(kubelet):
    k, manifests = kubelet
    (manifests / "p.yaml").write_text(pod_yaml(grace=5))
    k.sync()
    (manifests / "p.yaml").unlink()
    k.sync(look=False)  # within the file-check period: the kubelet has not looked yet
    assert str(manifests / "p.yaml") in k.pods and not k.stopping


def test_timings_are_a_profile_with_values_over_it(tmp_path):
    assert L.set_kubelet_timings(tmp_path, "realistic", grace=12) == {
        "file_check_period": 20.0,
        "grace": 12.0,
        "sigterm_delay": 3.0,
    }
    with pytest.raises(L.LabError, match="kubelet profile 'slow'"):
        L.set_kubelet_timings(tmp_path, "slow")
