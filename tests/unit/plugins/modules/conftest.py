"""Shared plumbing for module tests: exit_json / fail_json raise, so a test can run a
module's main() and look at what it returned."""

from __future__ import annotations

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    """exit_json was called; args[0] holds what the module returned."""


class FailJson(Exception):
    """fail_json was called; args[0] holds msg and the rest."""


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    def exit_json(_self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(_self, msg, **kwargs):
        raise FailJson({"msg": msg, **kwargs})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run_module(main, arguments):
    """What main() passed to exit_json with these module arguments."""
    with patch_module_args(arguments), pytest.raises(ExitJson) as caught:
        main()
    return caught.value.args[0]


def fail_module(main, arguments):
    """What main() passed to fail_json with these module arguments."""
    with patch_module_args(arguments), pytest.raises(FailJson) as caught:
        main()
    return caught.value.args[0]
