"""The scheduled drill script (roles/etcd_backup_schedule/files/kubedr-etcd-drill) run as
cron or systemd runs it, with the kubedr.etcd code installed as the role installs it, on
backups saved from a real etcd 3.4 and 3.5."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._backup import save_verified_snapshot
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import drill_path, textfile_name
from tests.support.etcd_process import NO_TLS, VERSIONS, Etcd, binaries, skip_unless_installed
from tests.support.install_root import PYTHON, populate_install_root
from tests.support.metrics import samples

pytestmark = pytest.mark.timeout(180)
SCRIPT = Path(__file__).resolve().parents[3] / "roles/etcd_backup_schedule/files/kubedr-etcd-drill"


@pytest.fixture(scope="module")
def install_root(tmp_path_factory):
    return populate_install_root(tmp_path_factory.mktemp("install-root"))


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def saved(request, tmp_path_factory):
    version = request.param
    skip_unless_installed(version)
    base = tmp_path_factory.mktemp(f"drill-script-{version}")
    etcd = Etcd(version, base / "live")
    try:
        etcd.start()
        for index in range(10):
            etcd.put(f"/registry/configmaps/default/c{index}", "x" * 100)
        result = save_verified_snapshot(
            tools=etcd.tools,
            endpoints=[etcd.client],
            tls=NO_TLS,
            dest_dir=str(base / "backups"),
            source_host="cp-1",
            save_timeout=60,
        )
    finally:
        etcd.stop()
    return {"version": version, "dir": base / "backups", "name": Path(result["snapshot"]).name}


def run(tmp_path, install_root, saved, **config):
    backups = tmp_path / "backups"
    if not backups.exists():
        shutil.copytree(saved["dir"], backups)
    tools = binaries(saved["version"])
    settings = {
        "dir": str(backups),
        "scratch_dir": str(tmp_path / "scratch"),
        "etcd_path": str(tools["etcd"]),
        "etcdctl_path": str(tools["etcdctl"]),
        "etcdutl_path": str(tools["etcdutl"]) if "etcdutl" in tools else None,
        "metrics_dir": str(tmp_path / "textfile"),
        "labels": {"cluster": "c1"},
        "install_root": str(install_root),
        **config,
    }
    (tmp_path / "drill.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [PYTHON, str(SCRIPT), "--config", str(tmp_path / "drill.json")],
        capture_output=True,
        text=True,
        timeout=150,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_drill_passes_then_a_damaged_copy_fails(tmp_path, install_root, saved):
    proc = run(tmp_path, install_root, saved)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith(f"{saved['name']}: pass in ")
    backups = tmp_path / "backups"
    record = json.loads(Path(drill_path(str(backups / saved["name"]))).read_text())
    assert record["result"] == "pass" and record["found"] == record["recorded"]
    prom = tmp_path / "textfile" / textfile_name(str(backups))
    assert f"metrics: {prom}" in proc.stdout
    assert samples(prom.read_text())["kubedr_etcd_drill_last_success"] == 1
    assert 'cluster="c1"' in prom.read_text()

    snapshot = backups / saved["name"]
    snapshot.write_bytes(snapshot.read_bytes()[:-100])
    proc = run(tmp_path, install_root, saved)
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"kubedr-etcd-drill: {saved['name']}: the stored copy is damaged")
    assert samples(prom.read_text())["kubedr_etcd_drill_last_success"] == 0
    assert list((tmp_path / "scratch").iterdir()) == []


def test_no_backup_and_bad_config_are_one_line(tmp_path, install_root, saved):
    (tmp_path / "backups").mkdir()
    proc = run(tmp_path, install_root, saved)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"kubedr-etcd-drill: no complete backup in {tmp_path / 'backups'}: nothing to drill"
    ]
    # metrics still say so: no backup, never drilled
    prom = tmp_path / "textfile" / textfile_name(str(tmp_path / "backups"))
    assert samples(prom.read_text())["kubedr_etcd_backups_stored"] == 0
    proc = run(tmp_path, install_root, saved, last="3")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"kubedr-etcd-drill: config {tmp_path / 'drill.json'}: last has the wrong type (str)"
    )
