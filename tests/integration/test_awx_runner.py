"""The restore as AWX runs it: ansible-runner with a private data directory per job (the
project, an inventory, the machine credential's key in env/ssh_key, extra vars from the
job templates in extensions/aap_configuration/ and their surveys), and the set_stats
artifacts of one job handed to the next as a workflow does (docs/awx.md, section 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BIN, ROOT
from tests.support.lab_restore import (
    BACKUP_HOST,
    BACKUP_HOST_DIR,
    STATE_DIR,
    Backup,
    assert_same_data,
    backup_host_store,
    state,
)

AAP = ROOT / "extensions" / "aap_configuration"
PLAYBOOK = "playbooks/restore_ha.yml"


def _template(name):
    templates = yaml.safe_load((AAP / "controller_templates.yml").read_text())
    (found,) = [t for t in templates["controller_templates"] if t["name"] == name]
    return found


def _workflow_node(identifier):
    workflows = yaml.safe_load((AAP / "controller_workflows.yml").read_text())
    nodes = workflows["controller_workflows"][0]["simplified_workflow_nodes"]
    (found,) = [n for n in nodes if n["identifier"] == identifier]
    return found


def _project(dest):
    """The project as AWX lays it in a job's private data directory: the checkout's files
    (symlinks kept: .collections/ points back into it, as in a Git checkout)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src, dst = ROOT / rel, dest / rel
        if not os.path.lexists(src):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


class AWX:
    """Runs job templates the way AWX does, one private data directory per job."""

    def __init__(self, lab, tmp_path, jobs_dir):
        self.lab, self.jobs_dir = lab, jobs_dir
        self.project = tmp_path / "project"
        _project(self.project)
        # The inventory without the key: the machine credential brings it (env/ssh_key).
        doc = yaml.safe_load(Path(lab.inventory).read_text())
        doc["all"]["vars"].pop("ansible_ssh_private_key_file")
        # The backups live on the backup host (docs/awx.md, where the backups live).
        doc["all"]["vars"].update(etcd_restore_backup_host=BACKUP_HOST)
        self.inventory = doc
        self.ssh_key = Path(lab.ssh_key).read_text()

    def launch(self, ident, template, answers=None, node=None, artifacts=None):
        """One job: extra vars from upstream artifacts, the template's own, its survey's
        defaults and answers, and the workflow node's extra data, in that order."""
        spec = _template(template)
        extravars = dict(artifacts or {})
        extravars.update(spec.get("extra_vars") or {})
        if spec.get("survey_enabled"):
            for q in spec["survey_spec"]["spec"]:
                if "default" in q:
                    extravars[q["variable"]] = q["default"]
        extravars.update(answers or {})
        extravars.update((_workflow_node(node).get("extra_data") or {}) if node else {})
        # short, as AWX's /tmp/awx_<job>_<random>: SSH's control sockets live below it
        pdd = self.jobs_dir / ident
        shutil.copytree(self.project, pdd / "project", symlinks=True)
        (pdd / "inventory").mkdir()
        (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(self.inventory))
        (pdd / "env").mkdir()
        (pdd / "env" / "extravars").write_text(json.dumps(extravars))
        (pdd / "env" / "envvars").write_text(json.dumps({"HOME": str(pdd / "home")}))
        (pdd / "env" / "ssh_key").write_text(self.ssh_key)
        (pdd / "home").mkdir()
        # Nothing of this test's environment (ANSIBLE_CONFIG, ...) reaches the job.
        env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        proc = subprocess.run(
            [BIN / "ansible-runner", "run", pdd, "-p", spec["playbook"], "--ident", ident],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return Job(pdd / "artifacts" / ident, proc)


class Job:
    """What ansible-runner left in artifacts/<ident>/."""

    def __init__(self, artifacts, proc):
        self.dir, self.proc = artifacts, proc
        self.rc = int((artifacts / "rc").read_text())
        self.status = (artifacts / "status").read_text()
        self.events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
        self.events.sort(key=lambda e: e["counter"])
        (stats,) = [e for e in self.events if e["event"] == "playbook_on_stats"]
        # what AWX stores as the job's artifacts and hands to the next workflow node
        self.artifacts = stats["event_data"]["artifact_data"]

    def output(self):
        return (self.dir / "stdout").read_text()[-4000:] + self.proc.stderr[-2000:]


@pytest.fixture
def on_35_only(lab):
    if lab.etcd_version != "3.5":
        pytest.skip("how AWX runs the playbooks does not depend on the etcd version")
    return lab


@pytest.fixture
def jobs_dir():
    path = Path(tempfile.mkdtemp(prefix="awx_"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def broken_restore_tool(on_35_only):
    """docker9's etcdutl answers everything but `snapshot restore`, which fails."""
    lab = on_35_only
    lab.sh(
        "docker9",
        "cp /usr/local/bin/etcdutl /run/etcdutl.real && printf '%s\\n' '#!/bin/sh'"
        ' \'[ "$1 $2" = "snapshot restore" ] && { echo "Error: disk on fire" >&2; exit 3; }\''
        " 'exec /run/etcdutl.real \"$@\"' > /run/etcdutl.broken && chmod 0755 /run/etcdutl.broken"
        " && mount --bind /run/etcdutl.broken /usr/local/bin/etcdutl",
    )
    try:
        yield
    finally:
        lab.sh("docker9", "umount /usr/local/bin/etcdutl; rm -f /run/etcdutl.*", check=False)


def test_awx_plan_then_restore_jobs(on_35_only, broken_restore_tool, jobs_dir, tmp_path):
    lab = on_35_only
    shutil.rmtree(backup_host_store(lab), True)
    backup = Backup(lab, tmp_path, "-e", "etcd_backup_remote_group=backup_hosts")
    shutil.rmtree(backup.dir)  # the backup job's container is gone; backup1 keeps it
    stored = backup_host_store(lab) / "kubernetes" / backup.snapshot.name
    on_host = f"{BACKUP_HOST}:{BACKUP_HOST_DIR}/kubernetes/{backup.snapshot.name}"
    awx = AWX(lab, tmp_path, jobs_dir)
    before = state(lab)

    # A restore job that fails in the stage phase: nothing had stopped, the run cleaned up
    # after itself, and the job's artifacts say what failed, where the journals stand and
    # what to run next.
    failed = awx.launch("failed", "kubedr-etcd restore", answers={"etcd_restore_confirm": "true"})
    assert (failed.rc, failed.status) == (2, "failed"), failed.output()
    failure = failed.artifacts["kubedr_etcd_restore_failure"]
    assert "disk on fire" in " ".join(failure["error"]), failure
    assert failure["on_failure"] == "rollback" and failure["cutover_begun"] is False
    assert failure["journals"] == "rolled-back" and failure["rollback_failed_on"] == []
    assert failure["next"] == "Fix the cause, then restore again (a new run).", failure
    assert failure["sha256"] == json.loads(Path(f"{stored}.json").read_text())["snapshot"]["sha256"]
    assert "kubedr_etcd_restore" not in failed.artifacts
    assert state(lab) == before
    journal = json.loads(lab.sh("docker9", f"cat {STATE_DIR}/journal.json").stdout)
    assert (journal["run_id"], journal["phase"]) == (failure["run_id"], "rolled-back")
    lab.sh("docker9", "umount /usr/local/bin/etcdutl")

    # The disaster, as far as this test needs one: the keys are not the backup's any more.
    lab.cli("seed", "--size", "256KiB", "--seed", "6")
    assert lab.digest()["sha256"] != backup.digest["sha256"]

    # plan: the plan template (etcd_restore_confirm false fixed in it), the workflow's
    # snapshot answer; it changes nothing and hands the plan on.
    plan_job = awx.launch("plan", "kubedr-etcd restore plan", node="plan")
    assert (plan_job.rc, plan_job.status) == (0, "successful"), plan_job.output()
    plan = plan_job.artifacts["kubedr_etcd_restore_plan"]
    assert plan["snapshot"] == on_host
    assert plan["sha256"] == failure["sha256"]
    assert sorted(m["name"] for m in plan["plan"]["members"]) == sorted(lab.names)

    # A restore that gets a plan of another snapshot is refused at pre-flight.
    other = dict(plan, sha256="0" * 64)
    refused = awx.launch(
        "refused",
        "kubedr-etcd restore",
        node="restore",
        artifacts={"kubedr_etcd_restore_plan": other},
    )
    assert (refused.rc, refused.status) == (2, "failed")
    said = refused.output()
    assert f"not {'0' * 64}, the sha256 that the plan handed on" in said, said[-3000:]
    assert f"run {plan['run_id']}" in said and "etcd_restore_expected_sha256=''" in said
    assert set(refused.artifacts) == set()

    # restore: the workflow's node after the approval, with the plan job's artifacts.
    restore_job = awx.launch(
        "restore", "kubedr-etcd restore", node="restore", artifacts=plan_job.artifacts
    )
    assert (restore_job.rc, restore_job.status) == (0, "successful"), restore_job.output()
    report = restore_job.artifacts["kubedr_etcd_restore"]
    assert report["outcome"] == "restored"
    assert report["snapshot"]["name"] == plan["snapshot"]
    assert report["snapshot"]["sha256"] == plan["sha256"]
    assert sorted(report["verification"]["members"]) == sorted(lab.names)
    after = lab.digest()
    assert_same_data(after, backup.digest)
    # the report is kept on the backup host, beside the backups (the job's $HOME goes)
    kept = backup_host_store(lab) / "kubernetes" / "restore-reports"
    assert json.loads((kept / f"restore-{report['run_id']}.json").read_text()) == report
    # nothing of the snapshot is left in the job's home
    home = jobs_dir / "restore" / "home"
    assert not [p for p in home.rglob("*.db*") if p.is_file()], list(home.rglob("*"))
    shutil.rmtree(backup_host_store(lab), True)
