"""The lab kubelet: runs what a master's static pod directory holds.

Runs inside a lab master (see node.py), with the system Python and a copy of
PyYAML placed beside it by the lab. It does for static pods what the real
kubelet does, as far as the collection can see it:

- a manifest that appears in the directory is started (every container's
  command + args, with PATH pointing at the binaries the lab maps its image to);
- a manifest that leaves (or the whole directory moving aside) is stopped:
  SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds (30 s
  by default, as in Kubernetes);
- a manifest whose content changes is restarted;
- a process that dies is restarted with a growing back-off (1 s .. 10 s).

Its timings are settings (``TIMINGS``, changed while the lab runs by ``lab kubelet``):
how often it looks at the manifest directory (a real kubelet's file-check period is
20 s; each master looks at its own moment), the grace period of a pod that names none,
and how long a process takes to honour SIGTERM (etcd may take seconds).

Pod status is written as JSON to the lab's host directory for `lab status`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import yaml

DEFAULT_GRACE = 30.0
MAX_BACKOFF = 10.0
# file_check_period: seconds between looks at the manifest directory; grace: seconds a pod
# without terminationGracePeriodSeconds gets; sigterm_delay: seconds before a container
# acts on the SIGTERM of a stop (the kubelet delivers it that late).
TIMINGS = {"file_check_period": 0.25, "grace": DEFAULT_GRACE, "sigterm_delay": 0.0}


class Container:
    def __init__(self, pod, spec):
        self.pod = pod
        self.name = spec.get("name", "main")
        self.argv = [str(a) for a in (spec.get("command") or []) + (spec.get("args") or [])]
        self.image = spec.get("image", "")
        self.env = {e["name"]: str(e.get("value", "")) for e in spec.get("env") or []}
        self.proc = None
        self.pid = None
        self.exit_code = None
        self.restarts = 0
        self.started_at = 0.0
        self.next_start = 0.0
        self.backoff = 1.0
        self.stop_deadline = None
        self.term_at = 0.0
        self.term_sent = False


class Pod:
    def __init__(self, path, digest, doc, default_grace=DEFAULT_GRACE):
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        self.path = path
        self.digest = digest
        self.name = meta.get("name", os.path.basename(path))
        self.namespace = meta.get("namespace", "default")
        self.grace = float(spec.get("terminationGracePeriodSeconds", default_grace))
        self.volumes = spec.get("volumes") or []
        self.containers = [Container(self, c) for c in spec.get("containers") or []]
        self.stopping = False


class Kubelet:
    def __init__(self, manifest_dir, images, log_dir, status_file, log):
        self.manifest_dir = manifest_dir
        self.images = images
        self.log_dir = log_dir
        self.status_file = status_file
        self.log = log
        self.pods = {}  # manifest path -> Pod
        self.by_pid = {}  # pid -> Container
        self.stopping = []  # pods being stopped
        self.timings = dict(TIMINGS)

    # -- desired state -------------------------------------------------
    def read_manifests(self):
        wanted = {}
        try:
            names = sorted(os.listdir(self.manifest_dir))
        except OSError:
            return wanted
        for name in names:
            if name.startswith(".") or not name.endswith((".yaml", ".yml", ".json")):
                continue
            path = os.path.join(self.manifest_dir, name)
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
                doc = yaml.safe_load(raw)
            except (OSError, yaml.YAMLError) as exc:
                self.log(f"kubelet: cannot read {path}: {exc}")
                continue
            if not isinstance(doc, dict) or doc.get("kind") != "Pod":
                self.log(f"kubelet: {path} is not a Pod; ignored")
                continue
            wanted[path] = (hashlib.sha256(raw).hexdigest(), doc)
        return wanted

    def sync(self, look=True):
        """``look``: read the manifest directory now (every file-check period); else only
        start what is due and advance the stops."""
        if look:
            self.sync_manifests()
        now = time.monotonic()
        for pod in self.pods.values():
            for c in pod.containers:
                if c.pid is None and now >= c.next_start:
                    self.start(c)
        self.advance_stops(now)
        self.write_status()

    def sync_manifests(self):
        wanted = self.read_manifests()
        for path, pod in list(self.pods.items()):
            if path not in wanted or wanted[path][0] != pod.digest:
                why = "removed" if path not in wanted else "changed"
                self.log(f"kubelet: manifest {path} {why}: stopping pod {pod.name}")
                del self.pods[path]
                self.begin_stop(pod)
        for path, (digest, doc) in wanted.items():
            if path not in self.pods:
                pod = Pod(path, digest, doc, self.timings["grace"])
                if any(p.name == pod.name and p.namespace == pod.namespace for p in self.stopping):
                    continue  # the previous incarnation is still shutting down
                self.log(f"kubelet: manifest {path} found: starting pod {pod.name}")
                self.pods[path] = pod
                self.prepare_volumes(pod)

    # -- processes -----------------------------------------------------
    def prepare_volumes(self, pod):
        for vol in pod.volumes:
            host = vol.get("hostPath") or {}
            if host.get("type") == "DirectoryOrCreate" and host.get("path"):
                os.makedirs(host["path"], exist_ok=True)

    def start(self, c):
        bindir = self.images.get(c.image)
        log_path = os.path.join(self.log_dir, f"{c.pod.namespace}_{c.pod.name}_{c.name}.log")
        with open(log_path, "ab") as out:
            if bindir is None:
                out.write(f"image {c.image!r} is not known to the lab\n".encode())
                self.schedule_restart(c, None)
                return
            path = f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            exe = shutil.which(c.argv[0], path=path) if c.argv else None
            if exe is None:
                out.write(f"executable {c.argv[:1]} not found in image {c.image}\n".encode())
                self.schedule_restart(c, None)
                return
            env = {"PATH": path, "HOME": "/root", "HOSTNAME": os.uname().nodename}
            env.update(c.env)
            out.write(f"--- start {time.strftime('%Y-%m-%dT%H:%M:%S')} {c.argv}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                [exe, *c.argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,
            )
        c.proc, c.pid, c.exit_code = proc, proc.pid, None
        c.started_at = time.monotonic()
        self.by_pid[proc.pid] = c
        self.log(f"kubelet: started {c.pod.name}/{c.name} pid {proc.pid}")

    def schedule_restart(self, c, code):
        now = time.monotonic()
        if c.started_at and now - c.started_at > 60:
            c.backoff = 1.0
        c.next_start = now + c.backoff
        c.backoff = min(c.backoff * 2, MAX_BACKOFF)
        c.exit_code = code
        c.restarts += 1

    def reaped(self, pid, status):
        """Called by the node's reaper for every child that exited."""
        c = self.by_pid.pop(pid, None)
        if c is None:
            return
        if c.proc is not None:
            c.proc.returncode = os.waitstatus_to_exitcode(status)
        code = os.waitstatus_to_exitcode(status)
        c.pid = c.proc = None
        if c.pod.stopping:
            c.exit_code = code
            return
        self.log(f"kubelet: {c.pod.name}/{c.name} exited with {code}; restarting")
        self.schedule_restart(c, code)

    def begin_stop(self, pod):
        pod.stopping = True
        now = time.monotonic()
        deadline = now + pod.grace
        for c in pod.containers:
            c.stop_deadline = deadline
            c.term_at = now + self.timings["sigterm_delay"]
            c.term_sent = False
        self.stopping.append(pod)
        self.advance_stops(now)

    def advance_stops(self, now):
        for pod in list(self.stopping):
            alive = [c for c in pod.containers if c.pid is not None]
            if not alive:
                self.stopping.remove(pod)
                self.log(f"kubelet: pod {pod.name} stopped")
                continue
            for c in alive:
                if not c.term_sent and now >= c.term_at:
                    c.term_sent = True
                    self.signal(c, signal.SIGTERM)
                if now >= c.stop_deadline:
                    self.log(f"kubelet: {pod.name}/{c.name} ignored SIGTERM; killing")
                    self.signal(c, signal.SIGKILL)

    def signal(self, c, sig):
        try:
            os.killpg(c.pid, sig)
        except ProcessLookupError:
            pass

    def stop_all(self):
        for pod in list(self.pods.values()):
            self.begin_stop(pod)
        self.pods.clear()

    def busy(self):
        return bool(self.stopping)

    def write_status(self):
        pods = []
        for pod in list(self.pods.values()) + self.stopping:
            for c in pod.containers:
                pods.append(
                    {
                        "pod": pod.name,
                        "container": c.name,
                        "manifest": pod.path,
                        "image": c.image,
                        "pid": c.pid,
                        "state": "stopping"
                        if pod.stopping
                        else ("running" if c.pid else "waiting"),
                        "restarts": c.restarts,
                        "last_exit_code": c.exit_code,
                    }
                )
        tmp = self.status_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"time": time.time(), "pods": pods}, fh)
        os.replace(tmp, self.status_file)
