"""Unit tests of _module_exit.exit_from, with a stand-in for the module's two exits."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (
    TaskFailure,
    exit_from,
)


class Exited(Exception):
    pass


class Module:
    """Records what exit_json / fail_json were given, and stops there as they do."""

    def exit_json(self, **result):
        raise Exited("exit", result)

    def fail_json(self, **result):
        raise Exited("fail", result)


class OtherError(Exception):
    def __init__(self, msg, **details):
        super().__init__(msg)
        self.details = details


def ending(work, *errors):
    with pytest.raises(Exited) as caught:
        exit_from(Module(), work, *errors)
    return caught.value.args


def test_result_goes_to_exit_json():
    assert ending(lambda: {"changed": True, "msg": "done"}) == (
        "exit",
        {"changed": True, "msg": "done"},
    )


def test_task_failure_goes_to_fail_json_with_its_details():
    def work():
        raise TaskFailure("cannot", problems=["a"])

    assert ending(work) == ("fail", {"msg": "cannot", "problems": ["a"]})


def test_named_errors_are_caught_and_others_are_not():
    def work():
        raise OtherError("nope", removed=[])

    assert ending(work, OtherError) == ("fail", {"msg": "nope", "removed": []})
    with pytest.raises(OtherError):
        exit_from(Module(), work)


def test_returned_fields_go_with_the_result_and_with_the_failure():
    def failing():
        raise TaskFailure("cannot", changed=True)

    returned = {"invocation": {"module_args": {"dest": "/d"}}}
    with pytest.raises(Exited) as caught:
        exit_from(Module(), lambda: {"changed": False}, returned=returned)
    assert caught.value.args == ("exit", {"changed": False, **returned})
    with pytest.raises(Exited) as caught:
        exit_from(Module(), failing, returned=returned)
    assert caught.value.args == ("fail", {"msg": "cannot", "changed": True, **returned})
