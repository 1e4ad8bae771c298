"""Every role variable is documented.

For every role under roles/, each user variable of defaults/main.yml must be:

- an option of the ``main`` entry point of meta/argument_specs.yml, with a non-empty
  description and a type; and every option there must still be in defaults/main.yml
  (no stale documentation). Where argument_specs gives a plain literal default (no Jinja),
  it must equal the value in defaults/main.yml; defaults that are Jinja templates or lookups
  are exempt (argument_specs shows a human-readable form, such as "~/kubedr-etcd-backups");
- mentioned in inventories/example/group_vars/all.yml, as a commented example line
  (``# <name>: ...``) or a real setting (``<name>: ...``).

Private variables (names containing ``__``) are not user variables and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES_DIR = ROOT / "roles"
EXAMPLE_GROUP_VARS = ROOT / "inventories" / "example" / "group_vars" / "all.yml"
EXPECTED_ROLES = {"etcd_backup", "etcd_backup_schedule", "etcd_drill", "etcd_restore"}
ENTRY_POINT = "main"
# The types ansible.builtin.validate_argument_spec accepts.
ARGSPEC_TYPES = {
    "bits",
    "bool",
    "bytes",
    "dict",
    "float",
    "int",
    "json",
    "jsonarg",
    "list",
    "path",
    "raw",
    "str",
}
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "defaults" / "main.yml").is_file())


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def defaults_file(role: str) -> Path:
    return ROLES_DIR / role / "defaults" / "main.yml"


def specs_file(role: str) -> Path:
    return ROLES_DIR / role / "meta" / "argument_specs.yml"


def is_private(name: str) -> bool:
    return "__" in name


def has_jinja(value) -> bool:
    """True when value is (or holds) a string with a Jinja expression or statement."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(has_jinja(v) for v in value)
    if isinstance(value, dict):
        return any(has_jinja(k) or has_jinja(v) for k, v in value.items())
    return False


def same_literal(a, b) -> bool:
    """Equal, and of the same types all the way down (so that true != 1 and 600 != "600")."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_literal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_literal(a[k], b[k]) for k in a)
    return a == b


def load_defaults(role: str) -> dict:
    path = defaults_file(role)
    data = yaml.safe_load(path.read_text()) or {}
    assert isinstance(data, dict), f"role {role}: {rel(path)} is not a mapping of variables"
    return {name: value for name, value in data.items() if not is_private(name)}


def load_options(role: str) -> dict:
    path = specs_file(role)
    assert path.is_file(), (
        f"role {role}: {rel(path)} is missing; it must document the role's variables "
        f"(entry point {ENTRY_POINT!r})"
    )
    data = yaml.safe_load(path.read_text()) or {}
    entry_points = (data.get("argument_specs") or {}) if isinstance(data, dict) else {}
    assert ENTRY_POINT in entry_points, (
        f"role {role}: {rel(path)} has no argument_specs.{ENTRY_POINT} entry point"
    )
    options = entry_points[ENTRY_POINT].get("options") or {}
    return {name: spec for name, spec in options.items() if not is_private(name)}


def fail_if(problems: list[str], role: str, path: Path, what: str) -> None:
    if problems:
        pytest.fail(
            f"role {role}: {what} - fix {rel(path)}:\n  " + "\n  ".join(problems),
            pytrace=False,
        )


def test_roles_found():
    missing = EXPECTED_ROLES - set(ROLES)
    assert not missing, f"roles without defaults/main.yml under {rel(ROLES_DIR)}: {sorted(missing)}"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_documented_in_argument_specs(role):
    options = load_options(role)
    problems = [
        f"{name}: in {rel(defaults_file(role))} but not an option of argument_specs.{ENTRY_POINT}"
        for name in load_defaults(role)
        if name not in options
    ]
    fail_if(problems, role, specs_file(role), "undocumented variables")


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_options_are_in_defaults(role):
    defaults = load_defaults(role)
    problems = [
        f"{name}: documented in argument_specs.{ENTRY_POINT} but not set in "
        f"{rel(defaults_file(role))} (remove the stale option, or add the variable to the "
        f"defaults)"
        for name in load_options(role)
        if name not in defaults
    ]
    fail_if(problems, role, specs_file(role), "stale documentation")


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_options_have_description_and_type(role):
    problems = []
    for name, spec in load_options(role).items():
        if not isinstance(spec, dict):
            problems.append(f"{name}: its option is not a mapping")
            continue
        description = spec.get("description")
        lines = description if isinstance(description, list) else [description]
        if not lines or not all(isinstance(line, str) and line.strip() for line in lines):
            problems.append(f"{name}: no (or an empty) description")
        kind = spec.get("type")
        if kind is None:
            problems.append(f"{name}: no type")
        elif kind not in ARGSPEC_TYPES:
            problems.append(f"{name}: type {kind!r} is not one of {sorted(ARGSPEC_TYPES)}")
    fail_if(problems, role, specs_file(role), f"incomplete options of argument_specs.{ENTRY_POINT}")


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_defaults_equal_role_defaults(role):
    defaults = load_defaults(role)
    problems = []
    for name, spec in load_options(role).items():
        if not isinstance(spec, dict) or "default" not in spec or name not in defaults:
            continue  # reported by the other tests
        documented, actual = spec["default"], defaults[name]
        if has_jinja(documented) or has_jinja(actual):
            continue  # a template or lookup: argument_specs shows a human-readable form
        if not same_literal(documented, actual):
            problems.append(
                f"{name}: argument_specs.{ENTRY_POINT} says default {documented!r}, "
                f"{rel(defaults_file(role))} has {actual!r}"
            )
    fail_if(problems, role, specs_file(role), "documented defaults differ from the role's")


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_in_example_group_vars(role):
    text = EXAMPLE_GROUP_VARS.read_text()
    problems = [
        f"{name}: no '# {name}: ...' example line (or '{name}: ...' setting)"
        for name in load_defaults(role)
        if not re.search(rf"^[ \t]*(?:#[ \t]*)?{re.escape(name)}[ \t]*:", text, re.MULTILINE)
    ]
    fail_if(problems, role, EXAMPLE_GROUP_VARS, "variables missing from the example inventory")
