"""An action plugin of the collection as the task executor makes it, with mocks for the
task's surroundings, for unit tests that call its run()."""

from __future__ import annotations

from unittest.mock import MagicMock


def make_action(action_class, name, args, check_mode=False, diff=False):
    """An ``action_class`` for a task of ``kubedr.etcd.<name>`` with these ``args``."""
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = diff
    task.action = f"kubedr.etcd.{name}"
    connection = MagicMock()
    connection._shell.tmpdir = None
    plugin = action_class(
        task=task,
        connection=connection,
        play_context=MagicMock(),
        loader=MagicMock(),
        templar=MagicMock(),
        shared_loader_obj=None,
    )
    plugin._load_name = task.action  # as the plugin loader sets it (older ansible-core needs it)
    return plugin
