"""Fixtures for the integration tests: labs of real masters, and a way to run
the real ansible-playbook against them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.lab import lab as L

ROOT = L.ROOT
# KUBEDR_FULL_MATRIX=1: every lab test on every etcd version, every kill point.
FULL_MATRIX = os.environ.get("KUBEDR_FULL_MATRIX") == "1"


def pytest_collection_modifyitems(config, items):
    """Without the full matrix, a test that takes ``etcd_version`` runs on etcd 3.4 only
    when it is marked ``every_etcd`` (the main backup, restore and drill paths) or written
    for 3.4 (``on_34_only``); its 3.4 copy is deselected, its 3.5 one runs."""
    if FULL_MATRIX:
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            params.get("etcd_version") == "3.4"
            and item.get_closest_marker("every_etcd") is None
            and "on_34_only" not in item.fixturenames
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


BIN = Path(sys.executable).parent


def _require_lab_host():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (namespaces, mounts, sshd)")
    try:
        L.check_host("3.4")
    except L.LabError as exc:
        pytest.fail(f"{exc}\nrun `make deps` (tests/lab/install-deps.sh) first")


class LabHandle:
    """A running lab plus helpers that go through the same doors users do."""

    def __init__(self, lab: L.Lab):
        self.lab = lab

    def __getattr__(self, name):
        return getattr(self.lab, name)

    @property
    def inventory(self):
        return self.lab.inventory

    def cli(self, *args, check=True, timeout=600):
        proc = subprocess.run(
            [sys.executable, "-m", "tests.lab", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def digest(self):
        return json.loads(self.cli("digest").stdout)

    @contextlib.contextmanager
    def realistic_kubelet(self):
        """For the block: every master's kubelet as kubeadm's (a 20 s file-check period,
        each master at its own moment; 30 s grace) with an etcd that takes 3 s to honour
        SIGTERM (tests/lab: KUBELET_PROFILES). Then the lab's fast timings again."""
        self.cli("kubelet", "--profile", "realistic")
        time.sleep(0.5)  # every master has read them
        try:
            yield
        finally:
            self.cli("kubelet", "--profile", "fast")

    def sh(self, host, script, check=True):
        """Run a shell script inside a master's namespaces (not over SSH)."""
        proc = subprocess.run(
            self.lab.exec_argv(host, "sh", "-c", script),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {script!r} failed ({proc.returncode}): {proc.stderr}")
        return proc

    @contextlib.contextmanager
    def tmpfs(self, host, path, size):
        """A tmpfs of ``size`` (mount's size=, e.g. 4m) at ``path`` inside ``host``, for the
        length of the block; then unmounted and its mount point removed. The mount lives in
        the host's own mount namespace (private): it ends with the lab at the latest."""
        self.sh(host, f"mkdir -p {path} && mount -t tmpfs -o size={size},mode=0700 tmpfs {path}")
        try:
            yield path
        finally:
            self.sh(host, f"umount {path} && rmdir {path}", check=False)

    def inventory_copy(self, path, edit):
        """A copy of the lab's inventory at ``path``, changed by ``edit(doc)`` (the parsed
        YAML, changed in place); returns ``path``."""
        doc = yaml.safe_load(Path(self.inventory).read_text())
        edit(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def ansible_playbook(self, playbook, *args, check=False, inventory=None, bin_dir=BIN):
        return run_ansible(
            "ansible-playbook",
            playbook,
            "-i",
            inventory or self.inventory,
            *args,
            check=check,
            bin_dir=bin_dir,
        )

    def wait(self, what, predicate, timeout=60):
        return L.wait_for(what, lambda: (bool(predicate()), None), timeout)


def ansible_env(env=None, bin_dir=BIN):
    """The environment the tests run a real ansible CLI in (JSON callback)."""
    full_env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="results_json",
        ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{bin_dir}:{os.environ.get('PATH', '')}",
    )
    full_env.update(env or {})
    return full_env


def start_ansible(tool, *args, env=None, log=None):
    """Start a real ansible CLI in its own process group (to be killed as a whole, as a
    closed laptop or a cancelled AWX job kills it); returns the Popen."""
    return subprocess.Popen(
        [str(BIN / tool), *map(str, args)],
        cwd=ROOT,
        env=ansible_env(env),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )


def run_ansible(tool, *args, check=False, env=None, bin_dir=BIN):
    """Run a real ansible CLI (from ``bin_dir``: by default the one of this Python) with
    the JSON callback; return (rc, parsed output, stderr)."""
    full_env = ansible_env(env, bin_dir)
    proc = subprocess.run(
        [str(Path(bin_dir) / tool), *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {"raw": proc.stdout}
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{tool} {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.returncode, data, proc.stderr


def task_results(data, task_name):
    """{host: result} of the task with this name (a role's task too) in a results_json run."""
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            name = task["task"]["name"]
            if name == task_name or name.endswith(f" : {task_name}"):
                return task["hosts"]
    raise AssertionError(
        f"task {task_name!r} not in the run: "
        f"{[t['task']['name'] for p in data.get('plays', []) for t in p['tasks']]}"
    )


class LabManager:
    """One lab at a time (the lab's names and addresses are fixed): reuses the
    running lab when a test asks for the same shape, else replaces it."""

    def __init__(self):
        self.current = None
        self.key = None

    def get(self, masters, etcd_version):
        _require_lab_host()
        key = (masters, etcd_version)
        if self.current is not None and self.key == key and self._alive():
            return self.current
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.lab",
                "up",
                "--masters",
                str(masters),
                "--etcd",
                etcd_version,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"lab up failed:\n{proc.stdout}\n{proc.stderr}")
        self.current = LabHandle(L.Lab.load())
        self.current.up_seconds = time.monotonic() - t0
        self.key = key
        return self.current

    def _alive(self):
        try:
            return all(self.current.node_pid(m.name) for m in self.current.masters)
        except L.LabError:
            return False

    def forget(self):
        """Called by tests that bring labs up and down themselves."""
        self.current = self.key = None

    def down(self):
        subprocess.run(
            [sys.executable, "-m", "tests.lab", "down"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.forget()


@pytest.fixture(scope="session")
def labs():
    manager = LabManager()
    yield manager
    manager.down()


@pytest.fixture(scope="session", params=["3.4", "3.5"], ids=lambda v: f"etcd{v}")
def etcd_version(request):
    """Tests that take this run once per etcd version, grouped by version."""
    return request.param


@pytest.fixture
def lab(labs, etcd_version):
    """A running 3-master lab on the current etcd version."""
    return labs.get(3, etcd_version)


def restored_digest(lab, snapshot, workdir):
    """Restore a snapshot by hand into a fresh one-member etcd (in the lab's hub
    namespace, with this lab's etcd binaries) and return the digest of its keys."""
    spec = L.ETCD_BINARIES[lab.etcd_version]
    data = Path(workdir) / "restored"
    peer, client = f"http://{L.HUB_IP}:23800", f"http://{L.HUB_IP}:23790"
    if "etcdutl" in spec["tools"]:
        restore = [str(spec["dir"] / "etcdutl"), "snapshot", "restore"]
    else:
        restore = [str(spec["dir"] / "etcdctl"), "snapshot", "restore"]
    proc = subprocess.run(
        [
            *restore,
            str(snapshot),
            "--data-dir",
            str(data),
            "--name",
            "verify",
            "--initial-cluster",
            f"verify={peer}",
            "--initial-advertise-peer-urls",
            peer,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, ETCDCTL_API="3"),
        check=False,
    )
    assert proc.returncode == 0, f"restore by hand failed: {proc.stdout}{proc.stderr}"
    log = open(Path(workdir) / "restored-etcd.log", "wb")
    etcd = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            L.HUB,
            str(spec["dir"] / "etcd"),
            "--data-dir",
            str(data),
            "--name",
            "verify",
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def answers():
            probe = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    L.HUB,
                    str(spec["dir"] / "etcdctl"),
                    f"--endpoints={client}",
                    "endpoint",
                    "health",
                ],
                capture_output=True,
                env=dict(os.environ, ETCDCTL_API="3"),
                check=False,
            )
            return probe.returncode == 0, probe.stderr

        L.wait_for("the restored etcd to answer", answers, 30)
        out = subprocess.run(
            lab.in_hub(
                sys.executable,
                "-m",
                "tests.lab.seeder",
                "digest",
                "--host",
                L.HUB_IP,
                "--port",
                "23790",
            ),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)
    finally:
        etcd.terminate()
        etcd.wait(30)
        log.close()
