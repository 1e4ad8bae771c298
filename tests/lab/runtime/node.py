"""PID 1 of a lab master.

Started by the lab inside fresh mount, UTS and PID namespaces, itself inside
the master's network namespace. It makes the master look like a real one:

- its own hostname;
- its own /etc/kubernetes, /var/lib/etcd, /tmp, /var/tmp, /var/backups and
  /var/log (bind mounts of per-host directories under the lab's state
  directory) and a private /run;
- the etcd tools of this lab's etcd version in /usr/local/bin;
- a real sshd on the master's address;
- the lab kubelet, which runs /etc/kubernetes/manifests.

On SIGTERM it stops every pod (gracefully, as a kubelet shutting down would),
then sshd, and exits; the kernel then ends anything left in the PID namespace.

Usage: python3 node.py <host-config.json>
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from kubelet import Kubelet  # noqa: E402

SHUTDOWN_LIMIT = 40.0


def log(msg):
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
    sys.stdout.flush()


def bind(src, dst):
    subprocess.run(["mount", "--bind", src, dst], check=True)


def setup_mounts(cfg):
    # Nothing we mount here may show up on the host.
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for src, dst in cfg["binds"]:
        bind(src, dst)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "tmpfs", "/run"], check=True
    )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    os.makedirs("/var/log/pods", exist_ok=True)


def start_sshd(cfg):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }
    out = open("/var/log/sshd.log", "ab")
    return subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", cfg["sshd_config"]],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


class Timings:
    """The lab's kubelet timings file (JSON, written by ``lab kubelet``), read again when it
    changes; missing or unreadable, the kubelet keeps what it has."""

    def __init__(self, path, log):
        self.path, self.log, self.seen = path, log, None

    def reload(self, kubelet):
        """True when the timings changed."""
        if not self.path:
            return False
        try:
            st = os.stat(self.path)
            key = (st.st_mtime_ns, st.st_size)
            if key == self.seen:
                return False
            with open(self.path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return False
        self.seen = key
        new = {k: float(data[k]) for k in kubelet.timings if k in data}
        if new == {k: kubelet.timings[k] for k in new}:
            return False
        kubelet.timings.update(new)
        self.log(f"kubelet: timings {kubelet.timings}")
        return True


def main():
    with open(sys.argv[1]) as fh:
        cfg = json.load(fh)
    socket.sethostname(cfg["hostname"])
    setup_mounts(cfg)
    with open(cfg["images"]) as fh:
        images = json.load(fh)

    stop = {"requested": False}

    def on_term(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    sshd = start_sshd(cfg)
    log(f"node {cfg['hostname']}: sshd pid {sshd.pid}")
    kubelet = Kubelet("/etc/kubernetes/manifests", images, "/var/log/pods", cfg["status_file"], log)
    timings = Timings(cfg.get("kubelet_timings"), log)
    shutdown_started = None
    next_look = 0.0  # the first look at once
    while True:
        # Reap every child: pods, sshd, and orphans re-parented to PID 1.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == sshd.pid:
                sshd.returncode = os.waitstatus_to_exitcode(status)
                if not stop["requested"]:
                    log(f"node: sshd exited ({sshd.returncode}); restarting")
                    sshd = start_sshd(cfg)
            else:
                kubelet.reaped(pid, status)
        if stop["requested"]:
            if shutdown_started is None:
                log("node: shutting down: stopping pods")
                shutdown_started = time.monotonic()
                kubelet.stop_all()
            kubelet.advance_stops(time.monotonic())
            kubelet.write_status()
            if not kubelet.busy() or time.monotonic() - shutdown_started > SHUTDOWN_LIMIT:
                break
        else:
            now = time.monotonic()
            if timings.reload(kubelet):  # another period: this master's own moment in it
                next_look = now + random.uniform(0, kubelet.timings["file_check_period"])
            look = now >= next_look
            if look:
                next_look = now + kubelet.timings["file_check_period"]
            try:
                kubelet.sync(look)
            except Exception as exc:  # keep the master alive; say what went wrong
                log(f"kubelet: sync failed: {exc!r}")
        time.sleep(0.25)
    if sshd.returncode is None:
        os.killpg(sshd.pid, signal.SIGTERM)
    log("node: stopped")


if __name__ == "__main__":
    main()
