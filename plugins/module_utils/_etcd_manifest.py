# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only: it runs on the masters, which have no PyYAML.
"""Read an etcd static pod manifest and tell who this etcd member is.

Two parts (the YAML itself is read by ``_manifest_yaml``):

* ``etcd_member_config``: validates a loaded Pod and extracts the member's
  identity, URLs, TLS files and where its data lives on the host.
* ``find_manifest`` / ``read_etcd_member``: locate the manifest, also when the
  manifests directory was moved aside to stop the static pods.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from urllib.parse import urlsplit

from ansible_collections.kubedr.etcd.plugins.module_utils._manifest_yaml import (
    ManifestError,
    decode_manifest,
    load_yaml,
)

DEFAULT_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


# --------------------------------------------------------------------------
# etcd member facts
# --------------------------------------------------------------------------

_URL_FLAGS = (
    "advertise-client-urls",
    "listen-client-urls",
    "initial-advertise-peer-urls",
    "listen-peer-urls",
)
_URL_DEFAULTS = {
    "advertise-client-urls": "http://localhost:2379",
    "listen-client-urls": "http://localhost:2379",
    "initial-advertise-peer-urls": "http://localhost:2380",
    "listen-peer-urls": "http://localhost:2380",
}

# etcd flags that take no value ("--client-cert-auth" alone means true).
_BOOL_FLAGS = frozenset(
    (
        "auto-tls",
        "client-cert-auth",
        "debug",
        "enable-grpc-gateway",
        "enable-log-rotation",
        "enable-pprof",
        "enable-v2",
        "experimental-compact-hash-check-enabled",
        "experimental-enable-distributed-tracing",
        "experimental-enable-lease-checkpoint",
        "experimental-enable-lease-checkpoint-persist",
        "experimental-initial-corrupt-check",
        "experimental-memory-mlock",
        "experimental-peer-skip-client-san-verification",
        "experimental-stop-grpc-service-on-defrag",
        "experimental-txn-mode-write-with-shared-buffer",
        "force-new-cluster",
        "peer-auto-tls",
        "peer-client-cert-auth",
        "peer-skip-client-san-verification",
        "pre-vote",
        "socket-reuse-address",
        "socket-reuse-port",
        "strict-reconfig-check",
        "unsafe-no-fsync",
        "version",
    )
)

_TLS_FLAGS = {
    "cert_file": "cert-file",
    "key_file": "key-file",
    "trusted_ca_file": "trusted-ca-file",
    "peer_cert_file": "peer-cert-file",
    "peer_key_file": "peer-key-file",
    "peer_trusted_ca_file": "peer-trusted-ca-file",
}

_DATA_VOLUME_NAME = re.compile(r"\A(?:etcd[-_]?)?data\Z", re.IGNORECASE)

_FIX_MANIFEST = "restore the manifest from a backup of /etc/kubernetes, or correct it"


def parse_url(url, flag="url"):
    """Validate an etcd URL (http/https, host, port) and return it stripped."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ManifestError(f"--{flag}: '{url}' is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https"):
        raise ManifestError(f"--{flag}: '{url}' must start with http:// or https://")
    if not parts.hostname:
        raise ManifestError(f"--{flag}: '{url}' has no host")
    if port is None:
        raise ManifestError(f"--{flag}: '{url}' has no port (etcd needs host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ManifestError(f"--{flag}: '{url}' must not have a path or query")
    return url


def url_host(url):
    """Host of a URL without IPv6 brackets; IP addresses in their canonical form.

    ``https://[fd00:0::8]:2380`` -> ``fd00::8``, ``https://10.0.0.1:2379`` -> ``10.0.0.1``,
    ``https://Master-1:2380`` -> ``master-1``.
    """
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError as err:
        raise ManifestError(f"'{url}' is not a valid URL ({err})") from None
    if not host:
        raise ManifestError(f"'{url}' has no host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _url_list(value, flag):
    return [parse_url(u, flag) for u in value.split(",") if u.strip()]


def parse_initial_cluster(value):
    """'a=https://ip1:2380,b=https://ip2:2380' -> [{'name': 'a', 'peer_urls': [...]}, ...]."""
    members = []
    by_name = {}
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, url = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ManifestError(
                f"--initial-cluster: '{item}' is not 'name=peer-url'; the flag must read"
                " 'name1=https://ip1:2380,name2=https://ip2:2380'"
            )
        url = parse_url(url, "initial-cluster")
        if name in by_name:
            by_name[name]["peer_urls"].append(url)
        else:
            by_name[name] = {"name": name, "peer_urls": [url]}
            members.append(by_name[name])
    return members


def parse_bool(value, flag):
    """A boolean flag value as Go's strconv.ParseBool reads it."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ManifestError(f"--{flag}={value}: not a boolean (use true or false)")


def image_version(image):
    """etcd version from an image reference, or None.

    registry.k8s.io/etcd:3.5.16-0 -> 3.5.16, quay.io/coreos/etcd:v3.4.3 -> 3.4.3,
    a digest (@sha256:...) is ignored, a reference without tag gives None.
    """
    if not image or not isinstance(image, str):
        return None
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if ":" not in name:
        return None
    match = re.match(r"v?(\d+\.\d+\.\d+)(?:[-+_.].*)?\Z", name.rsplit(":", 1)[1])
    return match.group(1) if match else None


def parse_flags(argv):
    """etcd's command line -> (flags, positional): --k=v, --k v, -k=v; last one wins."""
    flags = {}
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if "=" in name:
            name, value = name.split("=", 1)
        elif name in _BOOL_FLAGS or i == len(argv) or argv[i].startswith("-"):
            value = "true"
        else:
            value = argv[i]
            i += 1
        flags[name] = value
    return flags, positional


def _as_strings(items, where):
    if items is None:
        return []
    if not isinstance(items, list):
        raise ManifestError(f"{where} is not a list")
    result = []
    for item in items:
        if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
            raise ManifestError(f"{where} contains {item!r}, which is not a string")
        result.append(str(item))
    return result


def _is_etcd_command(command):
    return (
        bool(command) and isinstance(command[0], str) and posixpath.basename(command[0]) == "etcd"
    )


def _etcd_container(spec):
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ManifestError(
            f"spec.containers is missing or empty: this is not an etcd pod; {_FIX_MANIFEST}"
        )
    names = []
    for container in containers:
        if not isinstance(container, dict):
            raise ManifestError("spec.containers holds an item that is not a mapping")
        names.append(str(container.get("name")))
    for container in containers:
        if container.get("name") == "etcd":
            return container
    for container in containers:
        if isinstance(container.get("command"), list) and _is_etcd_command(container["command"]):
            return container
    raise ManifestError(
        f"no etcd container (containers: {', '.join(names)}): expected a container named 'etcd'"
        " or one whose command starts with 'etcd'. Is manifest_path the etcd manifest?"
    )


def _is_under(path, directory):
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _resolve_data_dir(spec, container, data_dir_flag, warnings):
    """(data dir on the host, same or None when no hostPath volume holds it)."""
    flag = posixpath.normpath(data_dir_flag)
    if not posixpath.isabs(flag):
        raise ManifestError(
            f"--data-dir={data_dir_flag} is a relative path; use an absolute one"
            " (kubeadm writes --data-dir=/var/lib/etcd)"
        )
    volumes = {}
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict) or not isinstance(volume.get("name"), str):
            raise ManifestError("spec.volumes holds an item without a name")
        volumes[volume["name"]] = volume
    mounts = []
    for mount in container.get("volumeMounts") or []:
        if not isinstance(mount, dict) or not mount.get("name") or not mount.get("mountPath"):
            raise ManifestError("the etcd container has a volumeMount without name or mountPath")
        mounts.append((posixpath.normpath(str(mount["mountPath"])), mount))

    def host_path_of(volume_name):
        volume = volumes.get(volume_name)
        if volume is None:
            raise ManifestError(
                f"the etcd container mounts volume '{volume_name}', which spec.volumes does"
                f" not define; {_FIX_MANIFEST}"
            )
        host = volume.get("hostPath")
        if not isinstance(host, dict) or not host.get("path"):
            kinds = ", ".join(k for k in volume if k != "name") or "no source"
            raise ManifestError(
                f"volume '{volume_name}' holding --data-dir={data_dir_flag} is not a hostPath"
                f" volume ({kinds}): the data is not in a directory of the master. kubedr.etcd"
                " needs etcd's data dir on a hostPath volume, as kubeadm writes it"
            )
        return posixpath.normpath(str(host["path"]))

    def describe(volume_name):
        host = volumes[volume_name].get("hostPath")
        if isinstance(host, dict) and host.get("path"):
            return f"host path {host['path']}"
        return "not a hostPath volume"

    covering = [(path, mount) for path, mount in mounts if _is_under(flag, path)]
    data_volumes = [name for name in volumes if _DATA_VOLUME_NAME.search(name)]
    if covering:
        deepest = max(len(path) for path, _mount in covering)
        resolved = {}
        for path, mount in covering:
            if len(path) != deepest:
                continue
            if mount.get("subPathExpr"):
                raise ManifestError(
                    f"the volumeMount at {path} uses subPathExpr; the host path of --data-dir"
                    " cannot be known without the running pod"
                )
            host = posixpath.join(host_path_of(mount["name"]), str(mount.get("subPath") or ""))
            relative = posixpath.relpath(flag, path)
            host_dir = posixpath.normpath(posixpath.join(host, relative))
            resolved[host_dir] = mount["name"]
        if len(resolved) > 1:
            found = " and ".join(f"{d} (volume '{n}')" for d, n in resolved.items())
            raise ManifestError(
                f"--data-dir={data_dir_flag} is mounted twice, from different host paths: {found}."
                " Keep one volumeMount for the data dir"
            )
        host_dir, volume_name = next(iter(resolved.items()))
        for name in data_volumes:
            # a data volume mounted beside the data dir, not over it or inside it
            other = [
                path
                for path, mount in mounts
                if mount["name"] == name and not _is_under(flag, path) and not _is_under(path, flag)
            ]
            if name != volume_name and other:
                raise ManifestError(
                    f"--data-dir={data_dir_flag} lies on volume '{volume_name}' (host path"
                    f" {host_dir}), but volume '{name}' ({describe(name)}) is"
                    f" mounted at {other[0]}: the flag and the data volume disagree about where"
                    f" etcd's data is. Make --data-dir equal to the mountPath of '{name}'"
                    " (kubeadm uses /var/lib/etcd for both)"
                )
        return host_dir, host_dir
    if data_volumes:
        name = data_volumes[0]
        other = [path for path, mount in mounts if mount["name"] == name]
        where = f"is mounted at {other[0]}" if other else "is not mounted in the etcd container"
        raise ManifestError(
            f"--data-dir={data_dir_flag} is outside every volumeMount of the etcd container,"
            f" while volume '{name}' ({describe(name)}) {where}: the flag and the"
            f" data volume disagree about where etcd's data is. Make --data-dir equal to the"
            f" mountPath of '{name}' (kubeadm uses /var/lib/etcd for both)"
        )
    warnings.append(
        f"--data-dir={data_dir_flag} is on no hostPath volume: etcd keeps its data inside the"
        " container, so the data dir on the host is unknown; data_dir reports the flag as is"
    )
    return flag, None


def etcd_member_config(pod, manifest_path):
    """Validate a loaded etcd static pod manifest and return the member's facts."""
    if pod is None:
        raise ManifestError(f"the manifest is empty; {_FIX_MANIFEST}")
    if isinstance(pod, list):
        raise ManifestError(
            "the manifest is a YAML list, not a Pod; expected 'kind: Pod' at the top level;"
            f" {_FIX_MANIFEST}"
        )
    if not isinstance(pod, dict):
        raise ManifestError(
            f"the manifest is a single {type(pod).__name__} value, not a Pod; is it YAML at all?"
            f" {_FIX_MANIFEST}"
        )
    if pod.get("kind") != "Pod":
        raise ManifestError(
            f"kind is {pod.get('kind')!r}, not 'Pod': etcd runs as a static pod and manifest_path"
            " must be its manifest (kubeadm: /etc/kubernetes/manifests/etcd.yaml)"
        )
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError(f"the Pod has no spec mapping; {_FIX_MANIFEST}")
    container = _etcd_container(spec)
    command = _as_strings(container.get("command"), "the etcd container's command")
    args = _as_strings(container.get("args"), "the etcd container's args")
    if command and not _is_etcd_command(command):
        raise ManifestError(
            f"the etcd container runs '{command[0]}', not etcd: kubedr.etcd reads the member's"
            " flags from a command that starts with etcd, as kubeadm writes it"
        )
    flags, positional = parse_flags(command[1:] + args)
    warnings = []
    if positional:
        warnings.append(
            f"the etcd command has arguments that are not flags ({' '.join(positional)});"
            " etcd refuses to start with them"
        )
    for required in ("name", "data-dir"):
        if not flags.get(required):
            raise ManifestError(
                f"the etcd command has no --{required} flag (kubeadm always sets it): add"
                f" --{required}=<{'member name' if required == 'name' else 'data dir'}> to the etcd"
                " command, or restore the manifest from a backup of /etc/kubernetes"
            )

    data_dir, data_dir_host_path = _resolve_data_dir(spec, container, flags["data-dir"], warnings)

    urls = {}
    for flag in _URL_FLAGS:
        if flag in flags:
            urls[flag] = _url_list(flags[flag], flag)
        else:
            urls[flag] = []
            warnings.append(f"no --{flag} flag: etcd uses its default {_URL_DEFAULTS[flag]}")

    initial_cluster_string = flags.get("initial-cluster")
    initial_cluster = parse_initial_cluster(initial_cluster_string or "")
    if not initial_cluster:
        warnings.append(
            "no --initial-cluster flag: the cluster members cannot be read from the manifest"
        )
    elif flags["name"] not in [m["name"] for m in initial_cluster]:
        warnings.append(
            f"--name={flags['name']} is not listed in --initial-cluster={initial_cluster_string}"
        )

    tls = {key: flags.get(flag) or None for key, flag in _TLS_FLAGS.items()}
    tls["client_cert_auth"] = parse_bool(flags.get("client-cert-auth", "false"), "client-cert-auth")
    tls["peer_client_cert_auth"] = parse_bool(
        flags.get("peer-client-cert-auth", "false"), "peer-client-cert-auth"
    )

    image = container.get("image")
    image = str(image) if image is not None else None
    version = image_version(image)
    if version is None:
        warnings.append(f"cannot tell the etcd version from the image {image!r}")

    return {
        "manifest_path": manifest_path,
        "name": flags["name"],
        "data_dir": data_dir,
        "data_dir_flag": flags["data-dir"],
        "data_dir_host_path": data_dir_host_path,
        "advertise_client_urls": urls["advertise-client-urls"],
        "listen_client_urls": urls["listen-client-urls"],
        "initial_advertise_peer_urls": urls["initial-advertise-peer-urls"],
        "listen_peer_urls": urls["listen-peer-urls"],
        "initial_cluster": initial_cluster,
        "initial_cluster_string": initial_cluster_string,
        "initial_cluster_token": flags.get("initial-cluster-token") or None,
        "initial_cluster_state": flags.get("initial-cluster-state") or None,
        "tls": tls,
        "image": image,
        "version": version,
        "flags": flags,
        "warnings": warnings,
    }


# --------------------------------------------------------------------------
# Finding and reading the manifest
# --------------------------------------------------------------------------


def find_manifest(path, search_moved_aside=True):
    """(path of the manifest, moved_aside).

    When `path` is missing, look for the same file name in the siblings of its
    directory named '<dir>.*' or '<dir>-*' (/etc/kubernetes/manifests.bak,
    /etc/kubernetes/manifests.kubedr-20261126T031500Z) and take the most recent:
    the latest of the file's mtime and the directory's mtime and ctime (a
    rename updates the ctime), then the greatest name.
    """
    if os.path.isfile(path):
        return path, False
    if os.path.exists(path):
        raise ManifestError(
            f"{path} exists but is not a regular file; point manifest_path at etcd.yaml"
        )
    directory = os.path.dirname(os.path.abspath(path))
    parent, base = os.path.split(directory)
    file_name = os.path.basename(path)
    searched = [path]
    if search_moved_aside and base:
        try:
            entries = sorted(os.listdir(parent))
        except OSError:
            entries = []
        candidates = []
        for entry in entries:
            if not entry.startswith((base + ".", base + "-")):
                continue
            sibling = os.path.join(parent, entry)
            candidate = os.path.join(sibling, file_name)
            if not os.path.isdir(sibling):
                continue
            searched.append(candidate)
            if os.path.isfile(candidate):
                file_stat, dir_stat = os.stat(candidate), os.stat(sibling)
                when = max(file_stat.st_mtime, dir_stat.st_mtime, dir_stat.st_ctime)
                candidates.append((when, entry, candidate))
        if candidates:
            return max(candidates)[2], True
        pattern = f" (and no {os.path.join(parent, base)}.*/{file_name} or -*/{file_name})"
    else:
        pattern = ""
    raise ManifestError(
        f"no etcd manifest found: looked at {', '.join(searched)}{pattern}. Pass manifest_path"
        " pointing at the etcd static pod manifest, or restore /etc/kubernetes/manifests from"
        " a backup"
    )


def read_etcd_member(path=DEFAULT_MANIFEST, search_moved_aside=True):
    """Find, read and check the etcd manifest: etcd_member_config() plus moved_aside."""
    found, moved_aside = find_manifest(path, search_moved_aside)
    try:
        with open(found, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ManifestError(f"{found}: cannot read it: {err.strerror or err}") from None
    try:
        text = decode_manifest(data)
    except ManifestError as err:
        raise ManifestError(f"{found}: {err}") from None
    try:
        member = etcd_member_config(load_yaml(text), found)
    except ManifestError as err:
        hint = ""
        if text and not text.endswith("\n"):
            hint = " (the file does not end with a newline: it may be truncated)"
        raise ManifestError(f"{found}: {err}{hint}") from None
    member["moved_aside"] = moved_aside
    member["kubernetes_version"] = kubernetes_version(os.path.dirname(found))
    peer_urls = member["initial_advertise_peer_urls"] or member["listen_peer_urls"]
    member["apiserver"] = apiserver_endpoint(
        os.path.dirname(found), url_host(peer_urls[0]) if peer_urls else "127.0.0.1"
    )
    return member


def _apiserver_container(manifest_dir):
    path = os.path.join(manifest_dir, "kube-apiserver.yaml")
    try:
        with open(path, "rb") as handle:
            pod = load_yaml(decode_manifest(handle.read()))
        containers = pod["spec"]["containers"]
        return next(c for c in containers if c.get("name") == "kube-apiserver")
    except (OSError, ManifestError, KeyError, TypeError, StopIteration):
        return None


def kubernetes_version(manifest_dir):
    """Kubernetes version from kube-apiserver.yaml's image tag in that directory, or None.

    Informational only (recorded with backups): a missing or unreadable
    apiserver manifest is not an error.
    """
    container = _apiserver_container(manifest_dir)
    if not isinstance(container, dict):
        return None
    match = re.search(r":(v\d+\.\d+\.\d+)", str(container.get("image")).split("@", 1)[0])
    return match.group(1) if match else None


CLIENT_PORT = 2379  # etcd's client port when a URL names none
PEER_PORT = 2380  # etcd's peer port when a URL names none
APISERVER_PORT = 6443  # kube-apiserver's --secure-port when the manifest does not set it


def apiserver_endpoint(manifest_dir, fallback_host):
    """Where kube-apiserver.yaml in that directory serves: {'address': its
    --advertise-address or None, 'port': its --secure-port or 6443, 'readyz_url'}. The
    URL names the advertise address, else ``fallback_host`` (the host of etcd's own peer
    URL on this master). A missing or unreadable manifest gives the defaults: the readyz
    wait then names the URL it tried."""
    found = {"address": None, "port": APISERVER_PORT}
    container = _apiserver_container(manifest_dir)
    if isinstance(container, dict):
        found.update(_apiserver_flags(container))
    found["readyz_url"] = (
        f"https://{host_port(found['address'] or fallback_host, found['port'])}/readyz"
    )
    return found


def _apiserver_flags(container):
    found = {}
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    flags, _positional = parse_flags(argv)
    address = flags.get("advertise-address", "").strip()
    if address:
        try:
            found["address"] = str(ipaddress.ip_address(address))
        except ValueError:
            found["address"] = address
    port = flags.get("secure-port", "").strip()
    if port.isdigit() and 0 < int(port) < 65536:
        found["port"] = int(port)
    return found


def url_ports(urls, default):
    """The distinct ports of ``urls`` in order (``default`` for a URL without one):
    ['https://10.0.0.1:2380', 'https://[fd00::1]:12380'] -> [2380, 12380]."""
    ports = []
    for url in urls or []:
        try:
            port = urlsplit(str(url)).port or default
        except ValueError:
            port = default
        if port not in ports:
            ports.append(port)
    return ports


def host_port(host, port):
    """'10.0.0.1:6443', '[fd00::10]:6443', 'master-1:6443': a host and port as a URL
    needs them (IPv6 literals in brackets)."""
    host = str(host).strip("[]")
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{int(port)}"
    except ValueError:
        pass
    return f"{host}:{int(port)}"
