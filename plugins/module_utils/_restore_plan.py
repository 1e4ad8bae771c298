# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, and pure: the etcd_restore_plan action plugin calls it on
# the controller with the facts gathered on the masters.
"""The cluster-wide restore plan: who restores with what, in which order, and why not.

``build_plan`` takes what discovery found on every master (``kubedr_etcd_member``,
``kubedr_etcd_tools``, ``kubedr_etcd_preflight``) and the backup's metadata record,
and returns either the plan every master follows or the problems that forbid the
restore, each one line naming the host and the fix. Nothing is stopped before the
plan is ok: the restore must be right the first time.

The plan follows PROCEDURE.md: one ``--initial-cluster`` and one fresh
``--initial-cluster-token`` for all members, each member restored with its own
name and peer URLs; followers stopped before the leader (stopping all at once
stalls etcd's graceful stop); members started one at a time (kubeadm's
``--experimental-initial-corrupt-check`` makes simultaneous starts wait on each other).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    COPY_MARGIN,
    RESTORE_MARGIN,
    data_dir_need,
    shared_need,
    size_text,
    snapshot_dir_need,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    CLIENT_PORT,
    PEER_PORT,
    url_ports,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_tools import (
    _BUMP_REVISION_SINCE,
    choose_restore_tool,
    supports_bump_revision,
    version_tuple,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore import paths

DEFAULT_BUMP_REVISION = 1000000000

_STAMP = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_TOKEN = re.compile(r"\A[A-Za-z0-9._-]+\Z")
_RESTART_ADVICE = (
    "Kubernetes watch caches and informers may miss changes: after the restore restart every"
    " kube-apiserver, kube-controller-manager, kube-scheduler and kubelet"
)


def _ip(value):
    """Canonical text of an IP address, or None for anything else (a DNS name)."""
    try:
        return str(ipaddress.ip_address(str(value).strip().strip("[]")))
    except ValueError:
        return None


def _url_parts(url):
    """(scheme, host, port) with the host canonical (IP) or lowercased (name).

    Raises ValueError naming the URL when it has no host or port.
    """
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"'{url}' is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError(f"'{url}' is not an etcd URL (http[s]://host:port)")
    host = _ip(parts.hostname) or parts.hostname.lower()
    return parts.scheme, host, port


def _joined(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _minor(version):
    return ".".join(str(part) for part in version_tuple(version)[:2])


def _bump_needs(version):
    since = _BUMP_REVISION_SINCE.get(version_tuple(version)[:2], (3, 4, 27))
    return ".".join(str(part) for part in since)


# --------------------------------------------------------------------------
# The snapshot
# --------------------------------------------------------------------------


def _snapshot_facts(metadata, problems, warnings):
    """{'size', 'revision', 'total_key', 'etcd_version', 'members', 'cluster_id'} from
    the metadata."""
    facts = {
        "size": None,
        "revision": None,
        "total_key": None,
        "etcd_version": None,
        "members": None,
        "cluster_id": None,
    }
    if metadata is None:
        warnings.append(
            "the snapshot has no metadata record: only the sha256 trailer can be checked (not"
            " its size, revision, etcd version or members), and the free space on the masters"
            " is not checked against its size"
        )
        return facts
    if not isinstance(metadata, dict):
        problems.append(
            f"snapshot_metadata is a {type(metadata).__name__}, not the metadata record: pass"
            " the parsed <snapshot>.json (or null when the snapshot has none)"
        )
        return facts
    snapshot = metadata.get("snapshot") if isinstance(metadata.get("snapshot"), dict) else {}
    etcd = metadata.get("etcd") if isinstance(metadata.get("etcd"), dict) else {}
    for key in ("size", "revision", "total_key"):
        value = snapshot.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(
                f"the snapshot metadata has snapshot.{key}={value!r}, not a whole number: the"
                " metadata record is damaged; use the backup's own <snapshot>.json"
            )
            continue
        facts[key] = value
    for key in ("size", "revision"):
        if snapshot.get(key) is None:
            warnings.append(
                f"the snapshot metadata records no snapshot.{key}: what depends on it is not"
                " checked"
            )
    version = etcd.get("version")
    if version:
        try:
            version_tuple(version)
        except ValueError:
            warnings.append(
                f"the snapshot metadata's etcd.version {version!r} is not an etcd version: the"
                " masters' etcd is not checked against it"
            )
        else:
            facts["etcd_version"] = str(version)
    else:
        warnings.append(
            "the snapshot metadata records no etcd.version: the masters' etcd is not checked"
            " against the snapshot's"
        )
    if etcd.get("cluster_id"):
        facts["cluster_id"] = str(etcd["cluster_id"])
    members = etcd.get("members")
    if isinstance(members, list):
        facts["members"] = [
            str(member.get("name") or "") for member in members if isinstance(member, dict)
        ]
    return facts


# --------------------------------------------------------------------------
# One master
# --------------------------------------------------------------------------


def _known(tools, name):
    tool = (tools or {}).get(name)
    return tool if isinstance(tool, dict) and tool.get("path") and tool.get("version") else None


def _choose_tool(host, etcd_version, tools, problems, warnings):
    """{'name', 'path', 'version'} of the restore tool: _etcd_tools.choose_restore_tool's
    choice, which the member restore then carries out."""
    try:
        chosen = choose_restore_tool(etcd_version, tools)
    except ValueError as exc:
        problems.append(f"{host}: {exc}")
        return None
    warnings.extend(f"{host}: {warning}" for warning in chosen.pop("warnings"))
    return chosen


def _etcd_version(host, member, tools, problems, warnings):
    version = member.get("version")
    if version:
        try:
            version_tuple(version)
        except ValueError:
            problems.append(
                f"{host}: the etcd manifest gives etcd version {version!r}, which is not X.Y.Z;"
                " correct the etcd image tag in the manifest"
            )
            return None
        return str(version)
    for name in ("etcdutl", "etcdctl"):
        tool = _known(tools, name)
        if tool:
            warnings.append(
                f"{host}: the etcd image tag does not tell the etcd version; assuming"
                f" {tool['version']} from {name} {tool['path']}"
            )
            return str(tool["version"])
    problems.append(
        f"{host}: neither the etcd image tag nor an etcdutl/etcdctl on the master tells the etcd"
        " version, so no restore tool can be chosen; install etcdutl (etcd 3.5+) or etcdctl"
        " (3.3/3.4) of the cluster's etcd release on it"
    )
    return None


def _check_addresses(host, address, peer_hosts, member, preflight, problems, warnings):
    addresses = [ip for ip in (_ip(a) for a in preflight.get("addresses") or []) if ip]
    has = ", ".join(addresses) if addresses else "none of the addresses tested"
    for peer_host in peer_hosts:
        peer_ip = _ip(peer_host)
        if peer_ip is None:
            hostname = str(preflight.get("hostname") or "").lower()
            if peer_host not in (hostname, hostname.split(".", maxsplit=1)[0]):
                warnings.append(
                    f"{host}: the peer URL names the host {peer_host}, not an IP: check that it"
                    " resolves to this master on every master"
                )
            continue
        if peer_ip not in addresses:
            problems.append(
                f"{host}: the data and certificates were written for {peer_ip}; this master has"
                f" {has}: a restore needs each master back on its old address (give it"
                f" {peer_ip} again, or point the inventory entry at the master that has it)"
            )
    connect_ip = _ip(address) if address else None
    if connect_ip and not ipaddress.ip_address(connect_ip).is_loopback:
        if connect_ip not in addresses:
            problems.append(
                f"{host}: Ansible connects to {connect_ip}, but this master has {has}: the"
                f" inventory entry may point at another machine; set ansible_host of {host} to"
                " this master's own address"
            )

    peer_cert_ips = [ip for ip in (_ip(a) for a in preflight.get("peer_cert_ips") or []) if ip]
    if peer_cert_ips:
        cert = ((member.get("tls") or {}).get("peer_cert_file")) or "the peer certificate"
        for peer_host in peer_hosts:
            peer_ip = _ip(peer_host)
            if peer_ip and peer_ip not in peer_cert_ips:
                problems.append(
                    f"{host}: {cert} is for {', '.join(peer_cert_ips)}, not for {peer_ip} (the"
                    " member's peer URL): the other members would refuse it; restore"
                    " /etc/kubernetes/pki from this master's control-plane archive"
                )
    server_cert_ips = [ip for ip in (_ip(a) for a in preflight.get("server_cert_ips") or []) if ip]
    if server_cert_ips:
        cert = ((member.get("tls") or {}).get("cert_file")) or "the server certificate"
        for url in member.get("advertise_client_urls") or []:
            try:
                client_ip = _ip(_url_parts(url)[1])
            except ValueError:
                continue
            if client_ip and client_ip not in server_cert_ips:
                warnings.append(
                    f"{host}: {cert} is for {', '.join(server_cert_ips)}, not for {client_ip}"
                    f" ({url}): clients dialling that URL, such as the checks after the"
                    " restore, will fail TLS"
                )


def _short_of(free, need):
    shown_free, shown_need = size_text(free), size_text(need)
    if shown_free == shown_need:
        shown_free, shown_need = f"{free} bytes", f"{need} bytes"
    return shown_free, shown_need


def _free_of(preflight, key):
    free = preflight.get(key)
    return free if isinstance(free, int) and not isinstance(free, bool) else None


def _check_space(host, data_dir, preflight, snapshot, problems, warnings):
    size = snapshot["size"]
    if size is None:
        return
    free = _free_of(preflight, "data_dir_free")
    where = preflight.get("snapshot_dir") or "the snapshot directory"
    if free is not None and preflight.get("snapshot_dir_on_data_dir_fs") is True:
        # one file system holds the copy and then the staged restore beside it
        if free < shared_need(size):
            shown_free, shown_need = _short_of(free, shared_need(size))
            problems.append(
                f"{host}: {data_dir}'s file system, which also holds {where}, has {shown_free}"
                f" free but the restore needs {shown_need} there (the copy of the"
                f" {size_text(size)} snapshot, and the snapshot restored beside the current"
                " data, which is moved aside and kept, plus"
                f" {size_text(RESTORE_MARGIN + COPY_MARGIN)} for its WAL and headroom); free"
                " some space there or set etcd_restore_snapshot_dir to another file system"
            )
        return
    if free is None:
        warnings.append(f"{host}: the free space of {data_dir}'s file system is unknown")
    elif free < data_dir_need(size):
        shown_free, shown_need = _short_of(free, data_dir_need(size))
        problems.append(
            f"{host}: {data_dir}'s file system has {shown_free} free but the restore needs"
            f" {shown_need} (the {size_text(size)} snapshot restored beside the current data,"
            f" which is moved aside and kept, plus {size_text(RESTORE_MARGIN)} for its WAL);"
            " free some space there"
        )
    free = _free_of(preflight, "snapshot_dir_free")
    if free is not None and free < snapshot_dir_need(size):
        shown_free, shown_need = _short_of(free, snapshot_dir_need(size))
        problems.append(
            f"{host}: {where} has {shown_free} free but the copy of the {size_text(size)}"
            f" snapshot needs {shown_need}; free some space there or set"
            " etcd_restore_snapshot_dir"
        )


def _plan_member(master, snapshot, problems, warnings):
    """The plan entry of one master and whether it leads, or (None, None) when unusable."""
    host = str(master.get("host") or "")
    address = str(master.get("address") or host)
    member, tools, preflight = master.get("member"), master.get("tools"), master.get("preflight")
    if not isinstance(member, dict) or not member:
        problems.append(
            f"{host}: no etcd member facts (kubedr_etcd_member): no etcd manifest found there"
            " (or the master did not answer); restore /etc/kubernetes from the control-plane"
            " archive first, then run the restore again"
        )
        return None, None
    if not isinstance(tools, dict):
        problems.append(
            f"{host}: no etcd tool facts (kubedr_etcd_tools): run kubedr.etcd.etcd_member_facts"
            " on it first"
        )
    if not isinstance(preflight, dict):
        problems.append(
            f"{host}: no preflight facts (kubedr_etcd_preflight): run"
            " kubedr.etcd.etcd_restore_preflight on it first"
        )
        preflight = None

    name = str(member.get("name") or "")
    if not name or re.search(r"[\s,=]", name):
        problems.append(
            f"{host}: the etcd member name {name!r} cannot go into --initial-cluster (empty, or"
            " with a comma, '=' or space); correct --name in its etcd manifest"
        )
    data_dir = str(member.get("data_dir") or "")
    if not data_dir.startswith("/"):
        problems.append(
            f"{host}: the etcd data dir {data_dir!r} is not an absolute path; correct"
            " --data-dir in its etcd manifest"
        )
    peer_urls = [str(url) for url in member.get("initial_advertise_peer_urls") or []]
    client_urls = [str(url) for url in member.get("advertise_client_urls") or []]
    if not peer_urls:
        problems.append(
            f"{host}: the etcd manifest has no --initial-advertise-peer-urls; restore the"
            " manifest from this master's control-plane archive"
        )
    peer_hosts, peer_keys = [], []
    for url in peer_urls:
        try:
            scheme, peer_host, port = _url_parts(url)
        except ValueError as exc:
            problems.append(f"{host}: peer URL {exc}; correct its etcd manifest")
            continue
        peer_hosts.append(peer_host)
        peer_keys.append(((scheme, peer_host, port), url))

    version = _etcd_version(host, member, tools, problems, warnings)
    tool = None
    if version and isinstance(tools, dict):
        tool = _choose_tool(host, version, tools, problems, warnings)
    if version and snapshot["etcd_version"]:
        if version_tuple(snapshot["etcd_version"])[:2] > version_tuple(version)[:2]:
            problems.append(
                f"{host}: the snapshot comes from etcd {snapshot['etcd_version']} but this master"
                f" runs etcd {version}: etcd cannot restore a newer release's snapshot; upgrade"
                f" etcd on the masters to {_minor(snapshot['etcd_version'])} first (the etcd"
                " image in the manifest), or restore an older snapshot"
            )

    is_leader = None
    if preflight is not None:
        _check_addresses(host, address, peer_hosts, member, preflight, problems, warnings)
        _check_space(host, data_dir, preflight, snapshot, problems, warnings)
        hostname = str(preflight.get("hostname") or "")
        if (
            hostname
            and name
            and name.lower() not in (hostname.lower(), hostname.lower().split(".", maxsplit=1)[0])
        ):
            warnings.append(
                f"{host}: the member is named {name} but the hostname is {hostname}: kubeadm"
                " names the member after the node; check that this is the right master"
            )
        is_leader = preflight.get("is_leader")

    entry = {
        "host": host,
        "name": name,
        "address": address,
        "peer_urls": peer_urls,
        # the ports this member's etcd listens on for its peers: the start waits for them
        "peer_ports": url_ports(member.get("listen_peer_urls") or peer_urls, PEER_PORT),
        "client_urls": client_urls,
        # with the apiserver's port: what a stop waits to see closed on this master
        "client_ports": url_ports(member.get("listen_client_urls") or client_urls, CLIENT_PORT),
        "apiserver_port": (member.get("apiserver") or {}).get("port"),
        "data_dir": data_dir,
        "etcd_version": version,
        "tool": tool,
        # the member's own peer certificate: at the start, it asks the member before it
        # whether that one serves its peers yet (see _cutover.serves)
        "peer_tls": _peer_tls(member),
    }
    return {"entry": entry, "peer_keys": peer_keys}, is_leader


def _peer_tls(member):
    tls = member.get("tls") or {}
    files = {"cert_file": tls.get("peer_cert_file"), "key_file": tls.get("peer_key_file")}
    return files if all(files.values()) else None


# --------------------------------------------------------------------------
# The whole cluster
# --------------------------------------------------------------------------


def _check_duplicates(planned, problems):
    by_name, by_peer = {}, {}
    for item in planned:
        entry = item["entry"]
        if entry["name"]:
            by_name.setdefault(entry["name"], []).append(entry["host"])
        for key, url in item["peer_keys"]:
            by_peer.setdefault(key, []).append((entry["host"], url))
    for name, hosts in by_name.items():
        if len(hosts) > 1:
            problems.append(
                f"{_joined(hosts)}: share the etcd member name {name}; each member needs its"
                " own name (kubeadm uses the node name): restore the etcd manifest of the wrong"
                " one from its control-plane archive"
            )
    for owners in by_peer.values():
        if len(owners) > 1:
            hosts = list(dict.fromkeys(host for host, _unused in owners))
            problems.append(
                f"{_joined(hosts)}: peer URL {owners[0][1]} appears {len(owners)} times; each"
                " member needs its own peer address: restore the etcd manifest of the wrong one"
                " from its control-plane archive"
            )


def _live_members(masters):
    """The member list the live cluster gives (from the first master whose etcd
    answered), and its cluster id: (members or None, cluster_id or None)."""
    for master in masters:
        preflight = (master or {}).get("preflight") or {}
        if isinstance(preflight.get("members"), list):
            return preflight["members"], preflight.get("cluster_id")
    return None, None


def _check_identity(masters, snapshot, names, complete, allow_other, problems, warnings):
    """The snapshot is this cluster's, the inventory names every voting member, and no
    member is still a learner."""
    other = warnings if allow_other else problems
    allow = (
        "" if allow_other else " (set etcd_restore_allow_other_cluster=true to restore it anyway)"
    )
    if snapshot["members"] is not None and complete and names and not problems:
        if sorted(snapshot["members"]) != sorted(names):
            other.append(
                f"the snapshot was taken from members {', '.join(snapshot['members']) or 'none'}"
                f" but the plan restores {', '.join(names)}: check that it is this cluster's"
                f" backup{allow}"
            )
    live, cluster_id = _live_members(masters)
    if live is None:
        return
    # a live cluster made by an earlier restore has a new cluster id: its journal says
    # so, or the restore marker in a member's data dir (kept through later rollbacks)
    restored_by_us = any(
        (((m or {}).get("preflight") or {}).get("journal") or {}).get("phase") == "done"
        or ((m or {}).get("preflight") or {}).get("last_restore")
        for m in masters
    )
    live_names = sorted(m.get("name") for m in live if m.get("name"))
    if snapshot["cluster_id"] and cluster_id and snapshot["cluster_id"] != cluster_id:
        text = (
            f"the snapshot comes from etcd cluster {snapshot['cluster_id']} but the live"
            f" cluster is {cluster_id}"
        )
        if live_names != sorted(names):
            # what answers is not this cluster's full membership (after a disaster a member
            # may have started alone, as a new empty cluster): nothing to compare with
            warnings.append(
                f"{text}, whose members ({', '.join(live_names) or 'none'}) are not the"
                " planned ones: the live cluster is not whole, its id is not compared"
            )
        elif restored_by_us:
            warnings.append(f"{text}: the live cluster was made by an earlier restore")
        else:
            other.append(f"{text}: check that it is this cluster's backup{allow}")
    learners = [m.get("name") or m.get("id") for m in live if m.get("is_learner")]
    if learners:
        problems.append(
            f"{_joined(learners)}: still a learner in the live cluster (a member kubeadm is"
            " still joining); a learner does not vote and must not be restored as a voting"
            " member. Promote it (etcdctl member promote <id>) or remove it (etcdctl member"
            " remove <id>) first, then plan again"
        )
    voting = [m.get("name") for m in live if not m.get("is_learner") and m.get("name")]
    left_out = [name for name in voting if name not in names]
    if left_out:
        problems.append(
            f"the live cluster has voting member{'s' if len(left_out) > 1 else ''}"
            f" {_joined(left_out)}, which the inventory leaves out: a restore without"
            " it would drop it from the cluster. Add its master to the masters group (or remove"
            " the member from the cluster first)"
        )


def _stop_order(hosts, leaders):
    """Followers in inventory order, then the leader; inventory order when unknown."""
    leading = [host for host, leads in zip(hosts, leaders, strict=True) if leads is True]
    if len(leading) != 1:
        return list(hosts)
    return [host for host in hosts if host != leading[0]] + leading


def _check_bump(bump_revision, members, warnings):
    if not bump_revision:
        warnings.append(f"bump_revision is 0: the revision is not bumped; {_RESTART_ADVICE}")
        return None
    cannot = [
        f"{m['host']}'s {m['tool']['name']} {m['tool']['version']}"
        f" (needs {_bump_needs(m['tool']['version'])}+)"
        for m in members
        if not supports_bump_revision(m["tool"]["version"])
    ]
    if cannot:
        warnings.append(
            f"restoring without --bump-revision: {_joined(cannot)} cannot bump the revision;"
            f" {_RESTART_ADVICE} (or install a newer restore tool on those masters)"
        )
        return None
    return bump_revision


def _token(stamp, token, random_hex, problems):
    if token is not None:
        token = str(token)
        if not _TOKEN.match(token):
            problems.append(
                f"token {token!r} is not usable as --initial-cluster-token: use letters, digits,"
                " '.', '_' and '-' only"
            )
        return token
    if random_hex is None:
        suffix = secrets.token_hex(3)
    elif callable(random_hex):
        suffix = random_hex()
    else:
        suffix = random_hex
    return f"kubedr-restore-{stamp}-{suffix}"


def build_plan(
    masters,
    snapshot_metadata,
    *,
    stamp,
    token=None,
    bump_revision=DEFAULT_BUMP_REVISION,
    random_hex=None,
    allow_other_cluster=False,
):
    """The restore plan for all masters, or the problems that forbid the restore.

    ``masters``: in inventory order, dicts {'host', 'address', 'member' (the
    kubedr_etcd_member fact), 'tools' (kubedr_etcd_tools), 'preflight'
    (kubedr_etcd_preflight)}; member, tools and preflight may be None.
    ``snapshot_metadata``: the backup's metadata record, or None.
    ``stamp``: names this restore (in the token and the moved-aside paths).
    ``token``: the --initial-cluster-token; default ``kubedr-restore-<stamp>-<6 hex>``.
    ``bump_revision``: N for --bump-revision N --mark-compacted, 0 or None for none.
    ``random_hex``: the token's 6 hex digits, or a function returning them (tests).
    ``allow_other_cluster``: restore a snapshot whose members or cluster id differ from
    the live cluster's (a warning instead of a refusal).

    Returns {'ok', 'problems', 'warnings', 'plan'}: ``plan`` is None unless ok, else
    {'stamp', 'token', 'initial_cluster', 'bump_revision', 'members', 'stop_order',
    'start_order', 'expected_revision_min', 'snapshot'}.
    """
    problems, warnings = [], []
    masters = list(masters or [])

    stamp = str(stamp or "")
    if not _STAMP.match(stamp):
        problems.append(
            f"stamp {stamp!r} is not usable in file names and the cluster token: use letters,"
            " digits, '.', '_' and '-', such as 20261126T031500Z"
        )
    if bump_revision is None:
        bump_revision = 0
    if isinstance(bump_revision, bool) or not isinstance(bump_revision, int) or bump_revision < 0:
        problems.append(
            f"bump_revision={bump_revision!r}: give 0 (no bump) or a whole number above 0"
            f" ({DEFAULT_BUMP_REVISION} is the usual value)"
        )
        bump_revision = 0
    token = _token(stamp, token, random_hex, problems)

    snapshot = _snapshot_facts(snapshot_metadata, problems, warnings)

    if not masters:
        problems.append(
            "no masters given: pass every master of the cluster in hosts, in inventory order"
        )
    hosts = [str((master or {}).get("host") or "") for master in masters]
    if any(not host for host in hosts):
        problems.append("a master without a host name was given: every entry needs its host")
    repeated = [host for host in dict.fromkeys(hosts) if host and hosts.count(host) > 1]
    if repeated:
        problems.append(
            f"{_joined(repeated)}: listed more than once in hosts; list each master once"
        )

    planned, leaders = [], []
    for master in masters:
        item, is_leader = _plan_member(master or {}, snapshot, problems, warnings)
        leaders.append(is_leader)
        if item is not None:
            planned.append(item)
    _check_duplicates(planned, problems)

    count = len(masters)
    if count and count % 2 == 0:
        warnings.append(
            f"{count} members tolerate no more failures than {count - 1}"
            f" ({(count - 1) // 2} of them): an odd number of masters is the usual layout"
        )
    names = [item["entry"]["name"] for item in planned]
    _check_identity(
        masters, snapshot, names, len(planned) == count, allow_other_cluster, problems, warnings
    )
    versions = sorted({e["etcd_version"] for e in (i["entry"] for i in planned)} - {None})
    if len(versions) > 1:
        warnings.append(
            f"the masters run different etcd versions ({', '.join(versions)}): an upgrade was"
            " left half done; finish it after the restore"
        )
    if sum(1 for leads in leaders if leads is True) > 1:
        leading = [host for host, leads in zip(hosts, leaders, strict=True) if leads is True]
        warnings.append(
            f"{_joined(leading)} each report being the etcd leader: stopping in inventory order"
        )

    if problems:
        return {"ok": False, "problems": problems, "warnings": warnings, "plan": None}

    members = [item["entry"] for item in planned]
    bump = _check_bump(bump_revision, members, warnings)
    initial_cluster = ",".join(f"{m['name']}={url}" for m in members for url in m["peer_urls"])
    revision = snapshot["revision"]
    plan = {
        "stamp": stamp,
        "token": token,
        "initial_cluster": initial_cluster,
        "bump_revision": bump,
        "members": members,
        "stop_order": _stop_order(hosts, leaders),
        "start_order": list(hosts),
        "expected_revision_min": None if revision is None else revision + (bump or 0),
        "snapshot": {
            "size": snapshot["size"],
            "revision": revision,
            "total_key": snapshot["total_key"],
            "etcd_version": snapshot["etcd_version"],
        },
    }
    return {"ok": True, "problems": [], "warnings": warnings, "plan": plan}


def plan_diff(masters, plan):
    """The --diff of a plan: ``before`` is every master's member as its facts found it,
    ``after`` what the restore makes of it (name, peer and client URLs, --initial-cluster
    and token, where the old member/ is moved aside) and the stop and start order.
    ``masters`` as for build_plan; ``plan`` is build_plan's (or a journal's) plan."""
    before = {"members": {}, "order": {}}
    running, leaders = [], []
    for master in masters:
        member = master.get("member") or {}
        preflight = master.get("preflight") or {}
        data_dir = member.get("data_dir")
        before["members"][master["host"]] = {
            "name": member.get("name"),
            "peer_urls": member.get("initial_advertise_peer_urls"),
            "client_urls": member.get("advertise_client_urls"),
            "initial_cluster": member.get("initial_cluster_string"),
            "initial_cluster_token": member.get("initial_cluster_token"),
            "data_dir": data_dir,
            "member_dir": paths(data_dir, plan["stamp"])["member"] if data_dir else None,
            "old_member_moved_to": None,
        }
        if preflight.get("etcd_running"):
            running.append(master["host"])
        if preflight.get("is_leader") is True:
            leaders.append(master["host"])
    before["order"] = {"etcd_running_on": running, "leader": leaders[0] if leaders else None}
    after = {"members": {}}
    for entry in plan["members"]:
        names = paths(entry["data_dir"], plan["stamp"])
        after["members"][entry["host"]] = {
            "name": entry["name"],
            "peer_urls": entry["peer_urls"],
            "client_urls": entry["client_urls"],
            "initial_cluster": plan["initial_cluster"],
            "initial_cluster_token": plan["token"],
            "data_dir": entry["data_dir"],
            "member_dir": f"{names['member']} (restored from the snapshot)",
            "old_member_moved_to": names["aside"],
        }
    after["order"] = {"stop_order": plan["stop_order"], "start_order": plan["start_order"]}
    return {
        "before": before,
        "after": after,
        "before_header": "etcd members as found",
        "after_header": f"etcd members after restore {plan['stamp']}",
    }
