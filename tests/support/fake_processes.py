"""Fake processes and tools for the code that waits for etcd and kube-apiserver to stop:
a copy of sleep named etcd, a listener on a port, a crictl or docker script on the
search path. Other etcd processes may run on this machine (the lab): match a fake by
its path (``Fakes.pattern``), not by its name.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# /usr/bin and /bin only: no docker / crictl of this machine's, unless a test adds one
PLAIN_PATH = "/usr/bin:/bin"


def wait_for_cmdline(pid, first, seconds=10):
    """Until /proc/<pid>/cmdline shows the exec'd program (argv[0] == first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv[0].decode() == first:
                return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} did not exec {first}")


def fake_tool(directory, name, script):
    """An executable shell script ``directory``/``name`` (a fake crictl or docker)."""
    path = Path(directory) / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


class Fakes:
    """Processes started by a test, all killed by ``cleanup`` (or on leaving ``with``),
    those that timers of ``later`` start too."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.procs = []
        self.timers = []
        self.sleep = self.directory / "etcd"
        shutil.copy("/bin/sleep", self.sleep)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    @property
    def pattern(self):
        return f"^{re.escape(str(self.sleep))}(\\s|$)"

    def etcd(self):
        """A copy of /bin/sleep named etcd, sleeping."""
        proc = subprocess.Popen([str(self.sleep), "300"], start_new_session=True)
        self.procs.append(proc)
        wait_for_cmdline(proc.pid, str(self.sleep))
        return proc

    def listener(self, port):
        """A child process listening on 127.0.0.1:port."""
        code = (
            "import socket, sys, time\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True)\n"
            "time.sleep(300)\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
        )
        self.procs.append(proc)
        assert proc.stdout.readline().strip() == b"ready"
        return proc

    def kill(self, proc):
        """SIGKILL ``proc`` unless it was reaped already (its pid may be another's now)."""
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def later(self, seconds, function, *args):
        """Call ``function(*args)`` in ``seconds`` from a timer thread."""
        timer = threading.Timer(seconds, function, args)
        self.timers.append(timer)
        timer.start()
        return timer

    def kill_later(self, proc, seconds):
        return self.later(seconds, self.kill, proc)

    def cleanup(self):
        """Cancel the timers (waiting for one that runs), then kill every process."""
        for timer in self.timers:
            timer.cancel()
            timer.join()
        for proc in self.procs:
            self.kill(proc)
