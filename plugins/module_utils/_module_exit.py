# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""How a thin module ends: the work's result becomes exit_json, the work's own error
becomes fail_json with its message and the fields it carries."""

from __future__ import annotations


class TaskFailure(Exception):
    """The task cannot be done; the message says why, ``details`` holds the other fields
    the module returns with its failure."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def exit_from(module, work, *errors, returned=None):
    """Call ``work()`` and exit_json with the dict it returns; when it raises one of
    ``errors`` (TaskFailure when none are named), fail_json with the error's message and
    its ``details``. ``returned`` holds fields returned either way (such as an
    ``invocation`` that stands for the module's arguments), unless the result or the
    error sets them itself."""
    caught = errors or (TaskFailure,)
    extra = returned or {}
    try:
        result = work()
    except caught as exc:
        module.fail_json(msg=str(exc), **{**extra, **getattr(exc, "details", {})})
    module.exit_json(**{**extra, **result})
