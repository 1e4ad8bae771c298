"""The collection builds, installs from its tarball, and runs from there."""

from __future__ import annotations

import os
import subprocess

from tests.integration.conftest import BIN, ROOT, run_ansible, task_results


def _run(*argv, cwd, env=None):
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_build_install_and_run_installed_collection(lab, tmp_path):
    _run(
        BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, ROOT, cwd=tmp_path
    )
    tarball = next(tmp_path.glob("kubedr-etcd-*.tar.gz"))
    installed = tmp_path / "collections"
    # An empty config, so nothing of the checkout (its collections_path) is used.
    empty_cfg = tmp_path / "empty.cfg"
    empty_cfg.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(empty_cfg), ANSIBLE_COLLECTIONS_PATH=str(installed))
    _run(
        BIN / "ansible-galaxy",
        "collection",
        "install",
        tarball,
        "-p",
        installed,
        cwd=tmp_path,
        env=env,
    )
    home = installed / "ansible_collections" / "kubedr" / "etcd"
    assert (home / "plugins" / "modules" / "etcd_member_facts.py").exists()
    assert not (home / ".collections").exists()
    for module in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        doc = _run(BIN / "ansible-doc", f"kubedr.etcd.{module.stem}", cwd=tmp_path, env=env)
        assert f"kubedr.etcd.{module.stem}" in doc.stdout
    # The installed collection's playbook, by its collection name.
    rc, data, err = run_ansible(
        "ansible-playbook",
        "kubedr.etcd.facts",
        "-i",
        lab.inventory,
        env={
            "ANSIBLE_COLLECTIONS_PATH": str(installed),
            "ANSIBLE_CONFIG": str(empty_cfg),
        },
    )
    assert rc == 0, err
    results = task_results(data, "Read the etcd static pod manifest")
    assert sorted(results) == sorted(lab.names)
