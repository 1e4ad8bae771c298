# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""What a restore must know of one master before it changes anything (read-only).

``gather`` returns the fact ``kubedr_etcd_preflight``: addresses, certificate IPs, free
space, whether etcd runs and leads, its member and cluster ids, the members the live
cluster lists (learners included), and the restore journal that holds the master.
The checks themselves are made once for all masters by the restore plan.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl

from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J
from ansible_collections.kubedr.etcd.plugins.module_utils._client_tls import client_tls
from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    free_space,
    one_file_system,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    client_env,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_status,
    parse_member_list,
    run,
)


def local_addresses(candidates):
    """The candidates that are addresses of this host (a socket can bind to them)."""
    found = []
    for text in candidates:
        try:
            ip = ipaddress.ip_address(str(text).strip("[]"))
        except ValueError:
            continue  # a name, not an address
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((str(ip), 0))
            except OSError:
                continue
        if str(ip) not in found:
            found.append(str(ip))
    return found


def certificate_ips(path):
    """IP addresses in a PEM certificate's subjectAltName ([] when it cannot be read)."""
    if not path or not os.path.isfile(path):
        return []
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # stdlib, no third-party X.509 parser
    except (AttributeError, ssl.SSLError, OSError):
        return []
    ips = []
    for kind, value in decoded.get("subjectAltName", ()):
        if kind == "IP Address":
            try:
                ips.append(str(ipaddress.ip_address(value.strip())))
            except ValueError:
                continue
    return ips


def is_mount_point(path):
    """Whether path is a mount point, bind mounts included (os.path.ismount misses those)."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                point = line.split()[4]
                point = point.encode().decode("unicode_escape")  # \040 for a space, ...
                if point == target:
                    return True
    except OSError:
        return os.path.ismount(path)
    return False


def last_restore(data_dir):
    """The newest restore marker in the data dir ({stamp, sha256, snapshot}), or None."""
    try:
        names = sorted(n for n in os.listdir(data_dir) if n.startswith(".kubedr-restored-"))
    except OSError:
        return None
    for name in reversed(names):
        if name.endswith(".rolled-back"):
            continue
        try:
            with open(os.path.join(data_dir, name)) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            return {k: record.get(k) for k in ("stamp", "sha256", "snapshot", "time")}
    return None


def local_status(member, tools, timeout):
    """This master's own etcd: {'running', 'is_leader', 'revision', 'member_id',
    'cluster_id', 'members'} ('members': the live cluster's member list - name, id,
    peer_urls, is_learner, started - or None when it did not answer)."""
    status = {
        "running": False,
        "is_leader": None,
        "revision": None,
        "member_id": None,
        "cluster_id": None,
        "members": None,
    }
    etcdctl = (tools or {}).get("etcdctl")
    tls = member.get("tls") or {}
    urls = member.get("advertise_client_urls") or []
    if not etcdctl or not urls:
        return status
    env = client_env(urls[:1], *client_tls(tls), command_timeout=f"{timeout}s")
    try:
        rc, out, _err = run(endpoint_status_argv(etcdctl), env=env, timeout=timeout + 5)
        answer = parse_endpoint_status(out)[0] if rc == 0 else None
    except (EtcdctlError, IndexError):
        answer = None
    if not answer:
        return status
    status.update(
        running=True,
        is_leader=bool(answer["is_leader"]),
        revision=answer["revision"],
        member_id=answer["member_id"],
        cluster_id=answer["cluster_id"],
    )
    try:
        rc, out, _err = run(member_list_argv(etcdctl), env=env, timeout=timeout + 5)
        if rc == 0:
            status["members"] = [
                {k: m[k] for k in ("name", "id", "peer_urls", "is_learner", "started")}
                for m in parse_member_list(out)["members"]
            ]
    except EtcdctlError:
        pass
    return status


def read_journal(state_dir):
    """The restore journal on this master, or {'error': why} when it cannot be read."""
    try:
        return J.read(state_dir)
    except J.JournalError as exc:
        return {"error": exc.msg}


def journal_and_manifests(state_dir, manifest_path, attempts=5):
    """(journal, manifests moved aside) as they were at one moment.

    A restore run that goes on elsewhere moves the manifests aside and back and writes its
    journal in between: read apart, the two can disagree (manifests aside, journal already
    'done') and a master held by a run would look held by nobody. The journal is read
    before and after the manifest, until both reads agree; when they never do, the
    journal is {'error': why}, which the pre-flight refuses.
    """
    journal = read_journal(state_dir)
    for _attempt in range(attempts):
        moved_aside = not os.path.isfile(manifest_path)
        again = read_journal(state_dir)
        if again == journal:
            return journal, moved_aside
        journal = again
    return {
        "error": f"the restore journal in {state_dir} changed {attempts} times while it was"
        " read: a restore run is working on this master now; wait for it to end"
    }, moved_aside


def gather(member, tools, addresses, snapshot_dir, state_dir, status_timeout, manifest_path):
    """The fact kubedr_etcd_preflight of this master."""
    tls = member.get("tls") or {}
    journal, moved_aside = journal_and_manifests(state_dir, manifest_path)
    data_dir = member.get("data_dir") or "/var/lib/etcd"
    status = local_status(member, tools, status_timeout)
    return {
        "hostname": socket.gethostname(),
        "addresses": local_addresses(addresses),
        "peer_cert_ips": certificate_ips(tls.get("peer_cert_file")),
        "server_cert_ips": certificate_ips(tls.get("cert_file")),
        "data_dir": data_dir,
        "data_dir_free": free_space(data_dir),
        "data_dir_is_mount": is_mount_point(data_dir),
        "etcd_running": status["running"],
        "is_leader": status["is_leader"],
        "revision": status["revision"],
        "member_id": status["member_id"],
        "cluster_id": status["cluster_id"],
        "members": status["members"],
        "last_restore": last_restore(data_dir),
        "snapshot_dir": snapshot_dir,
        "snapshot_dir_free": free_space(snapshot_dir),
        "snapshot_dir_on_data_dir_fs": one_file_system(snapshot_dir, data_dir),
        "journal": journal,
        "state_dir": state_dir,
        "state_dir_identity": J.dir_identity(state_dir),
        "machine_id": J.machine_id(),
        "manifests_moved_aside": moved_aside,
    }
