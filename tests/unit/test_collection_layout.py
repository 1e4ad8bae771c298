"""What Galaxy and users see of the collection: the README lists every module, every
playbook can be called by its collection name, every role has a README, and the
tarball leaves out what only a checkout needs."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
# a playbook is called as kubedr.etcd.<stem>, so the stem must be a Python-style name
CALLABLE = re.compile(r"^[a-z_][a-z0-9_]*$")


def module_table():
    section = README.split("### Modules", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `kubedr\.etcd\.([a-z0-9_]+)` \|", section, re.M)


def test_readme_lists_every_module_once():
    rows = module_table()
    assert sorted(rows) == MODULES, "README.md's module table and plugins/modules differ"
    assert len(rows) == len(set(rows))


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation_is_yaml(module):
    # ansible-doc and validate-modules read these blocks as YAML; a stray ": " in a
    # description breaks the whole module's documentation
    tree = ast.parse((ROOT / "plugins" / "modules" / f"{module}.py").read_text())
    blocks = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")
    }
    assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    for name, text in blocks.items():
        assert yaml.safe_load(text) is not None, name


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_callable_by_collection_name(playbook):
    if CALLABLE.match(playbook.stem):
        return
    # A name with a hyphen is kept for checkouts, as an import of the callable one.
    plays = yaml.safe_load(playbook.read_text())
    imported = [p.get("ansible.builtin.import_playbook") for p in plays]
    assert imported == [playbook.stem.replace("-", "_") + ".yml"], (
        f"{playbook.name} cannot be called as kubedr.etcd.{playbook.stem}"
    )
    assert (playbook.parent / imported[0]).exists()


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme(role):
    readme = ROOT / "roles" / role / "README.md"
    assert readme.is_file()
    assert f"kubedr.etcd.{role}" in readme.read_text()


def ignored(path):
    """Whether ansible-galaxy's build_ignore leaves out path (or a directory above it)."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) for p in prefixes for pat in GALAXY["build_ignore"])


@pytest.mark.parametrize(
    "path",
    [
        "tests/lab/lab.py",
        "bench/common.py",
        "bench/results/restore.json",
        ".ansible/collections/x",
        "inventories/lab/hosts.yml",
        "tests/output/junit/x.xml",
        ".venv/bin/python",
        ".venv-importer/bin/python",
        ".venv-oldest/bin/python",
        "plugins/modules/__pycache__/x.pyc",
        "build/kubedr-etcd-0.1.0.tar.gz",
    ],
)
def test_build_ignore_leaves_out(path):
    assert ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "plugins/modules/etcd_snapshot.py",
        "roles/etcd_backup/README.md",
        "tests/sanity/ignore-2.19.txt",
        "playbooks/backup.yml",
        "changelogs/changelog.yaml",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "meta/ee-requirements.txt",
        "meta/ee-bindep.txt",
        "extensions/ee/execution-environment.yml",
    ],
)
def test_build_keeps(path):
    assert not ignored(path)


def test_galaxy_metadata_for_the_importer():
    assert GALAXY["repository"].startswith("https://")
