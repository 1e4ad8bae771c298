"""The Automation Controller objects under extensions/aap_configuration/ refer only to what
this collection has: playbooks that exist, and variables its roles document (in the entry
point of the role the playbook runs), so a survey answer or an injected credential reaches
a variable the role reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "extensions" / "aap_configuration"
# the entry point of the role each playbook runs
PLAYBOOK_ENTRY = {
    "playbooks/backup.yml": ("etcd_backup", "main"),
    "playbooks/restore_ha.yml": ("etcd_restore", "main"),
    "playbooks/restore_rollback.yml": ("etcd_restore", "rollback"),
}


class Loader(yaml.SafeLoader):
    """YAML as Ansible reads it: ``!unsafe`` marks text that is not templated."""


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(name):
    return yaml.load((HERE / name).read_text(), Loader=Loader)


TEMPLATES = load("controller_templates.yml")["controller_templates"]
WORKFLOWS = load("controller_workflows.yml")["controller_workflows"]
CREDENTIAL_TYPES = load("controller_credential_types.yml")["controller_credential_types"]
CREDENTIALS = {c["name"]: c for c in load("controller_credentials.yml")["controller_credentials"]}
BY_NAME = {t["name"]: t for t in TEMPLATES}


def options(role, entry):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"][entry]["options"]


def survey_variables(obj):
    return [q["variable"] for q in (obj.get("survey_spec") or {}).get("spec", [])]


def test_every_playbook_exists_and_runs_a_known_role():
    for template in TEMPLATES:
        assert (ROOT / template["playbook"]).is_file(), template["name"]
        assert template["playbook"] in PLAYBOOK_ENTRY, template["playbook"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_template_variables_are_role_variables(template):
    documented = options(*PLAYBOOK_ENTRY[template["playbook"]])
    asked = survey_variables(template)
    assert len(asked) == len(set(asked)), "a variable asked twice"
    for name in [*asked, *(template.get("extra_vars") or {})]:
        assert name in documented, f"{template['name']}: {name} is not a variable of the role"
    for question in template.get("survey_spec", {}).get("spec", []):
        option = documented[question["variable"]]
        if question["type"] == "multiplechoice":
            choices = question["choices"].split("\n")
            assert question["default"] in choices
            if option.get("choices"):
                assert set(choices) <= {str(c) for c in option["choices"]}
            if option.get("type") == "bool":
                assert set(choices) == {"false", "true"}


def test_every_credential_of_a_template_is_defined():
    types = {"Machine"} | {t["name"] for t in CREDENTIAL_TYPES}
    for template in TEMPLATES:
        for name in template["credentials"]:
            assert CREDENTIALS[name]["credential_type"] in types, (template["name"], name)


def test_no_template_or_workflow_runs_twice_at_once():
    for obj in [*TEMPLATES, *WORKFLOWS]:
        assert obj["allow_simultaneous"] is False, obj["name"]
        assert obj.get("ask_variables_on_launch") is False, obj["name"]


def test_the_plan_template_cannot_restore():
    plan = BY_NAME["kubedr-etcd restore plan"]
    assert plan["extra_vars"]["etcd_restore_confirm"] is False
    assert "etcd_restore_confirm" not in survey_variables(plan)


def test_snapshot_question_is_latest_or_a_name():
    for obj in [*TEMPLATES, *WORKFLOWS]:
        for q in (obj.get("survey_spec") or {}).get("spec", []):
            if q["variable"] == "etcd_restore_snapshot":
                assert q["type"] == "text" and q["default"] == "latest" and q["required"]


def test_age_identity_credential_injects_a_file_the_restore_reads():
    (age,) = CREDENTIAL_TYPES
    fields = {f["id"]: f for f in age["inputs"]["fields"]}
    assert all(f.get("secret") for f in fields.values())
    assert set(age["inputs"]["required"]) == set(fields)
    assert "{{ age_identity }}" in age["injectors"]["file"]["template"]
    injected = age["injectors"]["extra_vars"]
    assert injected == {"etcd_restore_age_identity": "{{ tower.filename }}"}
    for name in injected:
        assert name in options("etcd_restore", "main")
    (credential,) = [c for c in CREDENTIALS.values() if c["credential_type"] == age["name"]]
    assert set(credential["inputs"]) == set(fields)
    users = [t for t in TEMPLATES if credential["name"] in t.get("credentials", [])]
    assert users and all(t["playbook"] == "playbooks/restore_ha.yml" for t in users)


def test_workflow_plan_approve_restore_report():
    (workflow,) = WORKFLOWS
    nodes = {n["identifier"]: n for n in workflow["simplified_workflow_nodes"]}

    def next_of(node):
        return [*node.get("success_nodes", []), *node.get("always_nodes", [])]

    order, node = [], nodes["plan"]
    while node:
        order.append(node["identifier"])
        following = next_of(node)
        assert len(following) <= 1
        node = nodes[following[0]] if following else None
    assert order == ["plan", "approve", "restore", "report"]
    assert nodes["approve"]["approval_node"]["timeout"] > 0
    assert nodes["plan"]["unified_job_template"] == "kubedr-etcd restore plan"
    assert nodes["restore"]["unified_job_template"] == "kubedr-etcd restore"
    for node in nodes.values():
        if "unified_job_template" not in node:
            continue
        template = BY_NAME[node["unified_job_template"]]
        # AWX accepts a node's variables only when the template's survey asks for them
        for name in node.get("extra_data", {}):
            assert name in survey_variables(template), (node["identifier"], name)
    for name in survey_variables(workflow):
        for node in nodes.values():
            if "unified_job_template" in node:
                assert name in survey_variables(BY_NAME[node["unified_job_template"]])
