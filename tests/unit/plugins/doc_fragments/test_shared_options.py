"""The shared options are documented once (plugins/doc_fragments) and specified once
(plugins/module_utils/_common_args.py); the two must describe the same options."""

import pytest
import yaml

from ansible_collections.kubedr.etcd.plugins.doc_fragments import (
    age,
    control_plane_archive,
    member,
    retention,
    tls,
    tools,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (
    age_argument_spec,
    control_plane_argument_spec,
    member_argument_spec,
    retention_argument_spec,
    tls_argument_spec,
    tools_argument_spec,
)

PAIRS = [
    (tls, tls_argument_spec),
    (tools, tools_argument_spec),
    (age, age_argument_spec),
    (retention, retention_argument_spec),
    (member, member_argument_spec),
    (control_plane_archive, control_plane_argument_spec),
]


@pytest.mark.parametrize(
    ("fragment", "spec"),
    PAIRS,
    ids=["tls", "tools", "age", "retention", "member", "control_plane_archive"],
)
def test_fragment_documents_the_spec(fragment, spec):
    documented = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    specified = spec()
    assert sorted(documented) == sorted(specified)
    for name, option in specified.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("default") == option.get("default"), name


def test_specs_are_fresh_dicts():
    first = tls_argument_spec()
    first["ca_file"]["required"] = False
    assert tls_argument_spec()["ca_file"]["required"] is True
