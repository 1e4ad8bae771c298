"""The oldest ansible-core: meta/runtime.yml admits the release requirements-oldest.txt
tests (`make unit-oldest`), and that file pins the test tools as requirements-dev.txt does."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pins(name):
    found = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found.update(pins(line.split(None, 1)[1]))
        elif "==" in line:
            package, version = line.split("==", 1)
            found[package.strip().lower()] = version.strip()
    return found


def release(version):
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def test_runtime_floor_is_the_tested_oldest():
    floor = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert floor.startswith(">=")
    oldest = pins("requirements-oldest.txt")["ansible-core"]
    assert release(floor[2:]) == release(oldest)
    assert release(oldest) < release(pins("requirements.txt")["ansible-core"])


def test_test_tools_pinned_alike():
    oldest, dev = pins("requirements-oldest.txt"), pins("requirements-dev.txt")
    for package, version in oldest.items():
        if package != "ansible-core":
            assert dev.get(package) == version, package
