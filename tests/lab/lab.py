"""The lab: N kubeadm-style masters on one machine, built from namespaces.

Each master is a network namespace (its own address on a bridge that lives in
the lab's hub namespace) plus mount, UTS and PID namespaces whose PID 1 is
runtime/node.py: per-host /etc/kubernetes, /var/lib/etcd, /tmp, ..., a real
sshd, and the lab kubelet running kubeadm-style static pods with real etcd.

The controller reaches the masters over real SSH: the generated inventory's
ProxyCommand opens the TCP connection from inside the hub namespace, so the
lab's addresses exist only inside namespaces the lab created.

Everything the lab starts is recorded in <state dir>/lab.json and stopped by
`down`, which also clears what a killed run left behind: every process inside
a namespace named kdrlab-*, those namespaces, and the state directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tests.lab import manifests
from tests.lab.pki import ClusterPKI

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("KUBEDR_LAB_DIR", "/var/lib/kubedr-lab"))
DEFAULT_INVENTORY = ROOT / "inventories" / "lab" / "hosts.yml"
# The lab kubelet's timings (tests/lab/runtime/kubelet.py), set with `lab kubelet` while
# the lab runs. fast: what the lab did before it had settings. realistic: kubeadm's kubelet
# (20 s file-check period, 30 s grace) and an etcd that takes 3 s to honour SIGTERM.
KUBELET_PROFILES = {
    "fast": {"file_check_period": 0.25, "grace": 30.0, "sigterm_delay": 0.0},
    "realistic": {"file_check_period": 20.0, "grace": 30.0, "sigterm_delay": 3.0},
}
NS_PREFIX = "kdrlab-"
HUB = NS_PREFIX + "hub"
BRIDGE = "kdrbr0"
SUBNET = "10.77.0"
HUB_IP = f"{SUBNET}.1"
FIRST_HOST = 8  # docker8, docker9, ... as in the classic example
BACKUP_HOST = 5  # backup1 at .5: sshd only, a place to keep backups off the masters
ETCD35_DIR = Path(os.environ.get("KUBEDR_LAB_ETCD35_DIR", "/opt/kubedr-lab/etcd-3.5.16/usr/bin"))
ETCD_BINARIES = {
    "3.4": {
        "dir": Path("/usr/bin"),
        "version": "3.4.23",
        "tools": ["etcdctl"],
        "install": "apt-get install etcd-server etcd-client",
    },
    "3.5": {
        "dir": ETCD35_DIR,
        "version": "3.5.16",
        "tools": ["etcdctl", "etcdutl"],
        "install": "tests/lab/install-deps.sh (unpacks Debian trixie's etcd 3.5 packages)",
    },
}
REQUIRED_COMMANDS = ["ip", "unshare", "nsenter", "mount", "ssh", "ssh-keygen", "nc", "sudo"]
# An ordinary user with passwordless sudo on every lab host, as masters are often reached
# (ansible_user plus become). Known inside the lab hosts only: the lab binds its own
# passwd, group, shadow and sudoers.d over the host's, in each host's mount namespace.
LAB_USER = "kubedr"
LAB_USER_HOME = "/tmp/kubedr-home"  # inside each host's own /tmp
ACCOUNT_FILES = ["passwd", "group", "shadow"]
HOST_BINDS = [  # per-host directory name -> path inside the master
    ("etc-kubernetes", "/etc/kubernetes"),
    ("var-lib-etcd", "/var/lib/etcd"),
    ("var-lib-kubedr-etcd", "/var/lib/kubedr-etcd"),  # restore journals, snapshot copies
    ("tmp", "/tmp"),
    ("var-tmp", "/var/tmp"),
    ("var-backups", "/var/backups"),
    ("var-log", "/var/log"),
    # What a scheduled backup installs: kept per master, never on the host.
    ("etc-cron.d", "/etc/cron.d"),
    ("etc-systemd-system", "/etc/systemd/system"),
    ("etc-kubedr-etcd", "/etc/kubedr-etcd"),
    ("usr-local-sbin", "/usr/local/sbin"),
    ("usr-local-lib", "/usr/local/lib"),
]
STOP_TIMEOUT = 50.0


class LabError(Exception):
    """A lab operation that cannot go on; the message says why and what to do."""


@dataclass
class Master:
    name: str
    ip: str
    pid: int = 0  # host PID of the `unshare` that holds this master's namespaces
    start_time: str = ""

    @property
    def netns(self):
        return NS_PREFIX + self.name


@dataclass
class Lab:
    masters: list[Master]
    etcd_version: str
    state_dir: str
    inventory: str
    created_mountpoints: list[str] = field(default_factory=list)
    # Hosts with sshd only (no etcd, no static pods): off-master backup targets.
    backup_hosts: list[Master] = field(default_factory=list)

    # -- paths ---------------------------------------------------------
    @property
    def state(self):
        return Path(self.state_dir)

    def host_dir(self, name):
        return self.state / "hosts" / name

    @property
    def ssh_key(self):
        return self.state / "ssh" / "id_ed25519"

    @property
    def known_hosts(self):
        return self.state / "ssh" / "known_hosts"

    @property
    def pki_dir(self):
        return self.state / "pki"

    @property
    def etcdctl(self):
        return str(ETCD_BINARIES[self.etcd_version]["dir"] / "etcdctl")

    @property
    def hosts(self):
        return self.masters + self.backup_hosts

    def master(self, name):
        """Any host of the lab by name (a master or a backup host)."""
        for m in self.hosts:
            if m.name == name:
                return m
        names = ", ".join(h.name for h in self.hosts)
        raise LabError(f"no host named {name!r} in the lab ({names})")

    @property
    def names(self):
        return [m.name for m in self.masters]

    def client_urls(self):
        return [f"https://{m.ip}:2379" for m in self.masters]

    # -- persistence ---------------------------------------------------
    def save(self):
        data = asdict(self)
        (self.state / "lab.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir=STATE_DIR):
        path = Path(state_dir) / "lab.json"
        if not path.exists():
            raise LabError(f"no lab is up (no {path}); start one with `make lab-up`")
        data = json.loads(path.read_text())
        data["masters"] = [Master(**m) for m in data["masters"]]
        data["backup_hosts"] = [Master(**m) for m in data.get("backup_hosts", [])]
        return cls(**data)

    # -- running things in the lab --------------------------------------
    def etcdctl_argv(self, *args, endpoints=None):
        return [
            "ip",
            "netns",
            "exec",
            HUB,
            self.etcdctl,
            "--endpoints=" + ",".join(endpoints or self.client_urls()),
            "--cacert=" + str(self.pki_dir / "etcd" / "ca.crt"),
            "--cert=" + str(self.pki_dir / "controller-etcd-client.crt"),
            "--key=" + str(self.pki_dir / "controller-etcd-client.key"),
            "--dial-timeout=3s",
            "--command-timeout=10s",
            *args,
        ]

    def etcdctl_run(self, *args, endpoints=None, check=True):
        env = dict(os.environ, ETCDCTL_API="3")
        proc = subprocess.run(
            self.etcdctl_argv(*args, endpoints=endpoints),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise LabError(f"etcdctl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def node_pid(self, name):
        """Host PID of the master's PID 1 (runtime/node.py), or None."""
        m = self.master(name)
        if not _same_process(m.pid, m.start_time):
            return None
        children = _children(m.pid)
        return children[0] if children else None

    def exec_argv(self, name, *argv):
        pid = self.node_pid(name)
        if pid is None:
            raise LabError(f"master {name} is not running")
        return ["nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--pid", "--", *argv]

    def in_hub(self, *argv):
        return ["ip", "netns", "exec", HUB, *argv]


# -- small process helpers ----------------------------------------------
def run(argv, check=True, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise LabError(
            f"`{' '.join(map(str, argv))}` failed ({proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _same_process(pid, start_time):
    return bool(pid) and bool(start_time) and _start_time(pid) == start_time


def _children(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(p) for p in fh.read().split())
    except OSError:
        pass
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def lab_namespaces():
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


def netns_pids(ns):
    proc = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in proc.stdout.split()]


def wait_for(what, predicate, timeout, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}: {last}")


# -- preconditions -------------------------------------------------------
def check_host(etcd_version):
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (namespaces, mounts, sshd)")
    for cmd in REQUIRED_COMMANDS:
        if shutil.which(cmd) is None:
            problems.append(f"command {cmd!r} not found (see .ci/run for the packages)")
    if not Path("/usr/sbin/sshd").exists():
        problems.append("/usr/sbin/sshd not found: apt-get install openssh-server")
    if not Path("/usr/bin/python3").exists():
        problems.append("/usr/bin/python3 not found (masters run modules with it)")
    if etcd_version not in ETCD_BINARIES:
        problems.append(
            f"etcd version {etcd_version!r} is not one the lab has; "
            f"choose one of {', '.join(ETCD_BINARIES)}"
        )
    else:
        spec = ETCD_BINARIES[etcd_version]
        for tool in ["etcd", *spec["tools"]]:
            path = spec["dir"] / tool
            if not os.access(path, os.X_OK):
                problems.append(
                    f"etcd {etcd_version}: {path} missing; install with {spec['install']}"
                )
                continue
            out = run([str(path), "--version" if tool == "etcd" else "version"], check=False).stdout
            if spec["version"] not in out:
                problems.append(f"{path} is not etcd {spec['version']}: {out.strip()!r}")
    if problems:
        raise LabError("cannot bring the lab up:\n  - " + "\n  - ".join(problems))


# -- bring up ------------------------------------------------------------
def set_kubelet_timings(state_dir=STATE_DIR, profile="fast", **values):
    """Write the lab kubelet's timings: a profile of KUBELET_PROFILES, with ``values``
    (file_check_period, grace, sigterm_delay, seconds) over it. Every master's kubelet
    reads them within a quarter second. Returns the timings."""
    if profile not in KUBELET_PROFILES:
        raise LabError(f"kubelet profile {profile!r}: one of {', '.join(KUBELET_PROFILES)}")
    timings = dict(KUBELET_PROFILES[profile])
    for key, value in values.items():
        if key not in timings:
            raise LabError(f"kubelet timing {key!r}: one of {', '.join(timings)}")
        if value is not None:
            timings[key] = float(value)
    path = Path(state_dir) / "kubelet.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(timings))
    os.replace(tmp, path)
    return timings


def up(
    masters=3,
    etcd_version="3.4",
    inventory=DEFAULT_INVENTORY,
    state_dir=STATE_DIR,
    log=print,
    kubelet="fast",
):
    if masters < 1 or masters > 9:
        raise LabError(f"masters must be between 1 and 9, not {masters}")
    check_host(etcd_version)
    down(state_dir=state_dir, inventory=inventory, log=log)
    t0 = time.monotonic()
    state = Path(state_dir)
    state.mkdir(parents=True, mode=0o700)
    lab = Lab(
        masters=[
            Master(f"docker{FIRST_HOST + i}", f"{SUBNET}.{FIRST_HOST + i}") for i in range(masters)
        ],
        etcd_version=etcd_version,
        state_dir=str(state),
        inventory=str(inventory),
        backup_hosts=[Master("backup1", f"{SUBNET}.{BACKUP_HOST}")],
    )
    lab.save()
    _prepare_files(lab)
    set_kubelet_timings(state, "fast")  # the lab bootstraps fast; then the profile asked
    _create_network(lab)
    for m in lab.hosts:
        _start_master(lab, m)
    lab.save()
    log(f"lab: {masters} master(s) started, bootstrapping etcd {etcd_version}")
    _bootstrap_etcd(lab)
    _wait_ready(lab)
    if kubelet != "fast":
        log(f"lab: kubelet timings {set_kubelet_timings(state, kubelet)}")
    write_inventory(lab)
    log(f"lab: up in {time.monotonic() - t0:.1f}s; inventory {inventory}")
    return lab


def _prepare_files(lab):
    state = lab.state
    # Lab runtime: stdlib scripts run by the masters' /usr/bin/python3, plus a
    # private copy of PyYAML for the lab kubelet only (modules never see it).
    runtime = state / "runtime"
    shutil.copytree(
        Path(__file__).parent / "runtime", runtime, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        Path(yaml.__file__).parent, runtime / "yaml", ignore=shutil.ignore_patterns("__pycache__")
    )

    # Images: what the lab kubelet runs for each image a manifest names.
    spec = ETCD_BINARIES[lab.etcd_version]
    images = {}
    etcd_bin = state / "images" / "etcd"
    etcd_bin.mkdir(parents=True)
    for tool in ["etcd", *spec["tools"]]:
        (etcd_bin / tool).symlink_to(spec["dir"] / tool)
    images[manifests.ETCD_IMAGES[lab.etcd_version]] = str(etcd_bin)
    k8s = manifests.K8S_VERSIONS[lab.etcd_version]
    for name, script in (
        ("kube-apiserver", "apiserver.py"),
        ("kube-controller-manager", "idle.py"),
        ("kube-scheduler", "idle.py"),
    ):
        d = state / "images" / name
        d.mkdir(parents=True)
        shim = d / name
        shim.write_text(f'#!/bin/sh\nexec /usr/bin/python3 {runtime / script} "$@"\n')
        shim.chmod(0o755)
        images[f"registry.k8s.io/{name}:{k8s}"] = str(d)
    (state / "images.json").write_text(json.dumps(images, indent=2))

    # The masters' /usr/local/bin: this etcd version's client tools.
    tools = state / "tools"
    tools.mkdir()
    for tool in spec["tools"]:
        (tools / tool).symlink_to(spec["dir"] / tool)

    # SSH: one controller key, a host key per master, a known_hosts file.
    ssh = state / "ssh"
    ssh.mkdir(mode=0o700)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubedr-lab", "-f", str(lab.ssh_key)])
    known = []
    for m in lab.hosts:
        hd = lab.host_dir(m.name)
        for sub, _unused in HOST_BINDS:
            (hd / sub).mkdir(parents=True)
        (hd / "tmp").chmod(0o1777)
        (hd / "var-tmp").chmod(0o1777)
        (hd / "ssh").mkdir(mode=0o700)
        key = hd / "ssh" / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", m.name, "-f", str(key)])
        known.append(f"{m.ip} " + " ".join(Path(f"{key}.pub").read_text().split()[:2]))
        (hd / "ssh" / "sshd_config").write_text(
            f"ListenAddress {m.ip}\nPort 22\nHostKey {key}\n"
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nPidFile /run/sshd.pid\n"
            "PrintMotd no\nUseDNS no\nMaxSessions 50\nMaxStartups 50:30:100\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
            # the lab's state directory is root's alone: LAB_USER's key is in its home
            f"Match User {LAB_USER}\n    AuthorizedKeysFile .ssh/authorized_keys\n"
        )
        # its own name resolves without DNS (there is none in the lab; sudo looks it up)
        # every master a machine id of its own, as real machines have (the restore refuses
        # two inventory hosts that report one)
        (hd / "machine-id").write_text(os.urandom(16).hex() + "\n")
        (hd / "hosts").write_text(
            Path("/etc/hosts").read_text().rstrip("\n") + f"\n{m.ip} {m.name}\n"
        )
        (hd / "node.json").write_text(
            json.dumps(
                {
                    "hostname": m.name,
                    "binds": [[str(hd / sub), path] for sub, path in HOST_BINDS]
                    + [[str(tools), "/usr/local/bin"]]
                    + [[str(state / "accounts" / n), f"/etc/{n}"] for n in ACCOUNT_FILES]
                    + [[str(state / "accounts" / "sudoers.d"), "/etc/sudoers.d"]]
                    + [[str(hd / "hosts"), "/etc/hosts"]]
                    + (
                        [[str(hd / "machine-id"), "/etc/machine-id"]]
                        if Path("/etc/machine-id").is_file()
                        else []
                    ),
                    "sshd_config": str(hd / "ssh" / "sshd_config"),
                    "images": str(state / "images.json"),
                    "status_file": str(hd / "status.json"),
                    "kubelet_timings": str(state / "kubelet.json"),
                },
                indent=2,
            )
        )
    shutil.copy(f"{lab.ssh_key}.pub", ssh / "authorized_keys")
    lab.known_hosts.write_text("\n".join(known) + "\n")
    _write_lab_user(lab)

    # The mount points the masters bind over must exist on the host.
    for _unused, path in HOST_BINDS:
        if not Path(path).exists():
            Path(path).mkdir(parents=True)
            lab.created_mountpoints.append(path)
    lab.save()

    # PKI and the static pods that do not depend on etcd's bootstrap order.
    pki = ClusterPKI(lab.pki_dir)
    for m in lab.masters:
        etc = lab.host_dir(m.name) / "etc-kubernetes"
        pki.write_master(etc, m.name, m.ip)
        mdir = etc / "manifests"
        mdir.mkdir()
        (mdir / "kube-apiserver.yaml").write_text(manifests.kube_apiserver(m.ip, lab.etcd_version))
        for comp, conf in (
            ("kube-controller-manager", "controller-manager.conf"),
            ("kube-scheduler", "scheduler.conf"),
        ):
            (mdir / f"{comp}.yaml").write_text(
                manifests.component(comp, lab.etcd_version, f"/etc/kubernetes/{conf}")
            )


def _free_id(*tables):
    """A uid/gid number no line of the given passwd/group texts uses."""
    used = {
        int(line.split(":")[2]) for t in tables for line in t.splitlines() if line.count(":") >= 3
    }
    return next(n for n in range(2790, 60000) if n not in used)


def _write_lab_user(lab):
    """LAB_USER on every lab host: account files and a sudoers.d of the lab's own (the
    host's, plus this user), its SSH key (the controller's) and its home."""
    accounts = lab.state / "accounts"
    accounts.mkdir()
    host = {n: Path(f"/etc/{n}").read_text() for n in ACCOUNT_FILES}
    uid = _free_id(host["passwd"], host["group"])
    lines = {
        "passwd": f"{LAB_USER}:x:{uid}:{uid}:kubedr lab user:{LAB_USER_HOME}:/bin/sh",
        "group": f"{LAB_USER}:x:{uid}:",
        "shadow": f"{LAB_USER}:*:20000:0:99999:7:::",  # no password; key login only
    }
    for name in ACCOUNT_FILES:
        path = accounts / name
        path.write_text(host[name].rstrip("\n") + "\n" + lines[name] + "\n")
        st = os.stat(f"/etc/{name}")
        os.chown(path, st.st_uid, st.st_gid)
        path.chmod(st.st_mode & 0o7777)
    sudoers = accounts / "sudoers.d"
    shutil.copytree("/etc/sudoers.d", sudoers)
    rule = sudoers / "kubedr-lab"
    rule.write_text(f"{LAB_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    for m in lab.hosts:
        home = lab.host_dir(m.name) / "tmp" / LAB_USER_HOME.rsplit("/", 1)[1]
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        shutil.copy(f"{lab.ssh_key}.pub", home / ".ssh" / "authorized_keys")
        for path in (home, home / ".ssh", home / ".ssh" / "authorized_keys"):
            os.chown(path, uid, uid)


def _create_network(lab):
    run(["ip", "netns", "add", HUB])
    hub = ["ip", "-n", HUB]
    run([*hub, "link", "set", "lo", "up"])
    run([*hub, "link", "add", BRIDGE, "type", "bridge"])
    run([*hub, "addr", "add", f"{HUB_IP}/24", "dev", BRIDGE])
    run([*hub, "link", "set", BRIDGE, "up"])
    for m in lab.hosts:
        run(["ip", "netns", "add", m.netns])
        veth = f"v-{m.name}"
        run([*hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", m.netns])
        run([*hub, "link", "set", veth, "master", BRIDGE, "up"])
        inner = ["ip", "-n", m.netns]
        run([*inner, "link", "set", "lo", "up"])
        run([*inner, "addr", "add", f"{m.ip}/24", "dev", "eth0"])
        run([*inner, "link", "set", "eth0", "up"])
        run([*inner, "route", "add", "default", "via", HUB_IP])


def _start_master(lab, m):
    hd = lab.host_dir(m.name)
    log = open(hd / "node.log", "ab")
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            m.netns,
            "unshare",
            "--mount",
            "--uts",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "/usr/bin/python3",
            "-u",
            str(lab.state / "runtime" / "node.py"),
            str(hd / "node.json"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    log.close()
    m.pid = proc.pid
    m.start_time = wait_for(
        f"master {m.name} to start", lambda: (bool(_start_time(proc.pid)), _start_time(proc.pid)), 5
    )
    # The Popen object is dropped on purpose: down() stops masters by their
    # recorded PID and start time, whoever started them.
    proc.returncode = 0


def _member_healthy(lab, m):
    proc = lab.etcdctl_run("endpoint", "health", endpoints=[f"https://{m.ip}:2379"], check=False)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


def _member_adder(lab, m, endpoints):
    def add():
        proc = lab.etcdctl_run(
            "member",
            "add",
            m.name,
            f"--peer-urls=https://{m.ip}:2380",
            endpoints=endpoints,
            check=False,
        )
        return proc.returncode == 0, proc.stderr.strip()[-300:]

    return add


def _bootstrap_etcd(lab):
    """Form the cluster the way kubeadm does: the first master alone, then
    each further master added as a member and started with state=existing."""
    joined = []
    for i, m in enumerate(lab.masters):
        if i > 0:
            # etcd refuses to add a member until the newest one has been
            # connected for a few seconds ("unhealthy cluster"); kubeadm retries too.
            add = _member_adder(lab, m, [f"https://{j.ip}:2379" for j in joined])
            wait_for(f"etcd to accept {m.name} as a member", add, 60, interval=1)
        joined.append(m)
        initial = ",".join(f"{j.name}=https://{j.ip}:2380" for j in joined)
        text = manifests.etcd(
            m.name, m.ip, initial, "new" if i == 0 else "existing", lab.etcd_version
        )
        path = lab.host_dir(m.name) / "etc-kubernetes" / "manifests" / "etcd.yaml"
        tmp = path.with_name(".etcd.yaml.tmp")
        tmp.write_text(text)
        tmp.rename(path)
        wait_for(f"etcd on {m.name} to be healthy", lambda m=m: _member_healthy(lab, m), 90)


def _wait_ready(lab):
    for m in lab.backup_hosts:
        wait_for(f"sshd on {m.name}", lambda m=m: _port_open(m.ip, 22), 30)
    for m in lab.masters:
        wait_for(f"sshd on {m.name}", lambda m=m: _port_open(m.ip, 22), 30)
        wait_for(
            f"kube-apiserver on {m.name} to be ready", lambda m=m: _apiserver_ready(lab, m), 60
        )


def _port_open(ip, port):
    proc = run(["ip", "netns", "exec", HUB, "nc", "-z", "-w", "1", ip, str(port)], check=False)
    return proc.returncode == 0, proc.stderr.strip()


def _apiserver_ready(lab, m):
    return apiserver_status(lab, m, "/readyz")


def apiserver_status(lab, m, path="/readyz"):
    """(ok, body) of the lab apiserver's health endpoint, verified against the lab's CA."""
    code = (
        "import ssl,sys,urllib.request\n"
        "ctx=ssl.create_default_context(cafile=sys.argv[2])\n"
        "try:\n"
        "  r=urllib.request.urlopen(sys.argv[1],context=ctx,timeout=3)\n"
        "  print(r.status, r.read().decode())\n"
        "except urllib.error.HTTPError as e: print(e.code, e.read().decode())\n"
        "except Exception as e: print(0, e)\n"
    )
    proc = run(
        [
            "ip",
            "netns",
            "exec",
            HUB,
            "/usr/bin/python3",
            "-c",
            code,
            f"https://{m.ip}:6443{path}",
            str(lab.pki_dir / "ca.crt"),
        ],
        check=False,
    )
    out = proc.stdout.strip()
    return out.startswith("200 "), out


def write_inventory(lab):
    proxy = f"ip netns exec {HUB} nc %h %p"
    doc = {
        "all": {
            "children": {
                "masters": {"hosts": {m.name: {"ansible_host": m.ip} for m in lab.masters}},
                "backup_hosts": {
                    "hosts": {m.name: {"ansible_host": m.ip} for m in lab.backup_hosts}
                },
            },
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.ssh_key),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes "
                    f'-o ProxyCommand="{proxy}"'
                ),
                "ansible_python_interpreter": "/usr/bin/python3",
                "kubedr_lab_etcd_version": lab.etcd_version,
            },
        }
    }
    path = Path(lab.inventory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by the lab (`make lab-up`); removed by `make lab-down`.\n"
        "# Host keys are pinned in the known_hosts file below: checking stays on.\n"
        + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    )


# -- take down -----------------------------------------------------------
def down(state_dir=STATE_DIR, inventory=DEFAULT_INVENTORY, log=print):
    """Stop everything a lab started, also after a killed run. Idempotent."""
    state = Path(state_dir)
    lab = None
    try:
        lab = Lab.load(state)
    except (LabError, ValueError, TypeError, KeyError):
        lab = None
    # 1. Ask each master's PID 1 to stop its pods and itself.
    nodes = []
    if lab is not None:
        for m in lab.hosts:
            pid = lab.node_pid(m.name) if _same_process(m.pid, m.start_time) else None
            if pid:
                os.kill(pid, signal.SIGTERM)
                nodes.append(pid)
    if nodes:
        try:
            wait_for(
                "masters to stop", lambda: (not any(_alive(p) for p in nodes), nodes), STOP_TIMEOUT
            )
        except LabError:
            log("lab: some masters did not stop in time; killing them")
    # 2. Whatever still runs inside a lab namespace is ours: kill it.
    spaces = lab_namespaces()
    for ns in spaces:
        for pid in netns_pids(ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for ns in spaces:
        wait_for(
            f"processes in {ns} to end", lambda ns=ns: (not netns_pids(ns), netns_pids(ns)), 10
        )
        run(["ip", "netns", "del", ns])
    # 3. Files: the mount points we created on the host, the state, the inventory.
    if lab is not None:
        for path in lab.created_mountpoints:
            try:
                os.rmdir(path)
            except OSError as exc:
                log(f"lab: left {path} in place: {exc.strerror}")
        inventory = lab.inventory
    if state.exists():
        shutil.rmtree(state)
    inv = Path(inventory)
    if inv.exists() and inv.read_text().startswith("# Written by the lab"):
        inv.unlink()
    if spaces or lab is not None:
        log(f"lab: down ({len(spaces)} namespace(s) removed)")


# -- status --------------------------------------------------------------
def status(state_dir=STATE_DIR):
    lab = Lab.load(state_dir)
    out = {"etcd_version": lab.etcd_version, "inventory": lab.inventory, "masters": []}
    for m in lab.hosts:
        st = lab.host_dir(m.name) / "status.json"
        pods = json.loads(st.read_text())["pods"] if st.exists() else []
        out["masters"].append(
            {
                "name": m.name,
                "ip": m.ip,
                "node_pid": lab.node_pid(m.name),
                "pods": {p["pod"]: p["state"] for p in pods},
            }
        )
    health = lab.etcdctl_run("endpoint", "health", "-w", "json", check=False)
    out["etcd_health"] = health.stdout.strip() or health.stderr.strip()
    return out


if __name__ == "__main__":
    sys.exit("use: python -m tests.lab")
