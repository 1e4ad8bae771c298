"""The execution environment: what ansible-builder makes of the collection.

`ansible-builder create` writes a build context (no container engine needed). The
image it describes installs the collection, runs the context's own introspect.py over
the installed collections and installs the bindep list that writes; here that same
script runs over this checkout (.collections holds it as an installed collection), so
the test sees the list the image would install."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "extensions" / "ee" / "execution-environment.yml"
META = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())


def name_of(requirement):
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def requirement_names(path):
    """Package names of a pip requirements file, its -r includes followed."""
    names = set()
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(Path(path).parent / line.split(None, 1)[1])
        elif line:
            names.add(name_of(line))
    return names


DEV_ONLY = requirement_names(ROOT / "requirements-dev.txt") - requirement_names(
    ROOT / "requirements.txt"
)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee") / "context"
    done = subprocess.run(
        [
            str(BIN / "ansible-builder"),
            "create",
            "--file",
            str(EXAMPLE),
            "--context",
            str(out),
            "--output-filename",
            "Containerfile",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def introspected(context, tmp_path_factory):
    """What the image's builder stage writes: bindep and pip lists of the collections."""
    out = tmp_path_factory.mktemp("introspect")
    done = subprocess.run(
        [
            sys.executable,
            str(context / "_build" / "scripts" / "introspect.py"),
            "introspect",
            str(ROOT / ".collections"),
            f"--write-bindep={out / 'bindep.txt'}",
            f"--write-pip={out / 'requirements.txt'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bindep = out / "bindep.txt"
    pip = out / "requirements.txt"
    return {
        "system": bindep.read_text().splitlines() if bindep.exists() else [],
        "python": pip.read_text().splitlines() if pip.exists() else [],
    }


def test_collection_names_its_own_requirement_files():
    assert META["version"] == 3
    for kind in ("python", "system"):
        assert (ROOT / META["dependencies"][kind]).is_file()


def test_context_installs_the_collection_then_its_system_packages(context):
    containerfile = (context / "Containerfile").read_text()
    steps = [
        "install -y epel-release",  # age comes from EPEL on Stream 9
        "ansible-galaxy collection install",
        "introspect.py introspect --write-bindep=",
        "/output/scripts/install-from-bindep",
    ]
    found = [containerfile.find(step) for step in steps]
    assert -1 not in found, dict(zip(steps, found, strict=True))
    assert found == sorted(found), "the build steps run out of order"
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["kubedr.etcd"]


def test_image_gets_age_and_ssh(introspected):
    packages = {line.split()[0] for line in introspected["system"]}
    assert {"age", "openssh-clients", "openssh-client"} <= packages


def test_image_gets_no_lab_or_test_package(introspected, context):
    assert {"cslab-etcd3", "grpcio", "protobuf", "cryptography", "pytest"} <= DEV_ONLY
    python = {name_of(line) for line in introspected["python"]}
    assert not python & DEV_ONLY
    built = "\n".join(p.read_text() for p in (context / "_build").glob("*") if p.is_file())
    for name in DEV_ONLY:
        assert not re.search(rf"(?im)^\s*{re.escape(name)}\b", built), name


def test_example_pins_the_tested_ansible_core():
    example = yaml.safe_load(EXAMPLE.read_text())
    pinned = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("ansible-core==")
    ]
    assert example["dependencies"]["ansible_core"]["package_pip"] in pinned
