# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside modules and
# in the standalone scheduled backup script.
"""etcd snapshot files: integrity, names and the metadata record kept beside them.

``etcdctl snapshot save`` appends sha256(body) as the last 32 bytes of the file,
and the bbolt body is a whole number of 512-byte blocks, so a saved snapshot has
``size % 512 == 32``. ``verify_trailer`` checks that in one streaming pass; it is
what ``snapshot restore`` checks, without needing etcd. A copy of
``member/snap/db`` has no trailer.

Each snapshot ``etcd-snapshot-20261126T030000Z.db`` gets a metadata file
``etcd-snapshot-20261126T030000Z.db.json`` (``build_metadata``); a backup without
one is incomplete.

The time stamp naming a backup (``20261126T030000Z``: UTC, no colons) has its one
home here: ``STAMP_FORMAT``, ``check_stamp`` (a stamp given by the user) and
``new_stamp`` (now, or a given time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat

from ansible_collections.kubedr.etcd.plugins.module_utils._files import (
    write_text_atomic,
)

TRAILER_SIZE = 32  # sha256 digest
BLOCK_SIZE = 512
METADATA_FORMAT = "kubedr.etcd/snapshot-metadata/v1"
SNAPSHOT_PREFIX = "etcd-snapshot-"
SNAPSHOT_SUFFIX = ".db"
METADATA_SUFFIX = ".json"
ENCRYPTED_SUFFIX = ".age"  # an encrypted file of a backup: <plain name>.age

# a backup's time stamp, e.g. 20261126T030000Z: UTC, no colons (scp/rsync paths stay safe)
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
STAMP_EXAMPLE = "20261126T030000Z"
_STAMP_PATTERN = re.compile(r"\d{8}T\d{6}Z")  # fullmatch; strptime alone also takes 202611T000Z

_UTC = _dt.timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11; masters may have 3.9
# ours: 20261126T030000Z; the classic recipe's: 2026-11-26_03:00:00_UTC
_TIME_FORMATS = (
    (_STAMP_PATTERN, STAMP_FORMAT),
    (re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}_UTC"), "%Y-%m-%d_%H:%M:%S_UTC"),
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_REQUIRED_SNAPSHOT_KEYS = ("file", "size", "sha256", "revision", "total_key")


class SnapshotError(Exception):
    """A snapshot or its metadata cannot be used; the message names the file and why."""


# --------------------------------------------------------------------------
# Integrity
# --------------------------------------------------------------------------


def _open_for_reading(path):
    """Open a regular file for reading, with errors that say what to do."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {path} does not exist") from None
    except PermissionError:
        raise SnapshotError(
            f"cannot read snapshot {path}: permission denied (run as root / with become)"
        ) from None
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SnapshotError(f"snapshot {path} is not a regular file")
    try:
        return open(path, "rb")
    except PermissionError:
        raise SnapshotError(
            f"cannot read snapshot {path}: permission denied (run as root / with become)"
        ) from None
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None


def verify_trailer(path, chunk_size=1 << 20):
    """Check the sha256 trailer of a saved snapshot in ONE streaming pass.

    Returns {'size', 'sha256' (hex, whole file), 'body_sha256' (hex, all but the
    last 32 bytes; equal to the trailer)}. Raises SnapshotError when the file is
    missing, unreadable, empty, has no trailer or does not match it.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    with _open_for_reading(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise SnapshotError(
                f"snapshot {path} is empty (0 bytes): the save was interrupted or the disk is full"
            )
        if size % BLOCK_SIZE != TRAILER_SIZE:
            raise SnapshotError(
                f"snapshot {path} ({size} bytes) has no sha256 trailer: not a file written by"
                " `etcdctl snapshot save` (a copy of member/snap/db has none), or it was"
                " truncated"
            )
        # one hash over the body; the whole file's is that one continued with the trailer
        body = hashlib.sha256()
        tail = b""  # the last TRAILER_SIZE bytes read so far, not yet in the body hash
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        read = 0
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            read += count
            if count >= TRAILER_SIZE:
                body.update(tail)
                body.update(chunk[:-TRAILER_SIZE])
                tail = bytes(chunk[-TRAILER_SIZE:])
            else:
                joined = tail + bytes(chunk)
                body.update(joined[:-TRAILER_SIZE])
                tail = joined[-TRAILER_SIZE:]
    if read != size:
        raise SnapshotError(
            f"snapshot {path} changed while it was read ({size} bytes, then {read}):"
            " is a save still writing it?"
        )
    whole = body.copy()
    whole.update(tail)
    if body.digest() != tail:
        raise SnapshotError(
            f"snapshot {path} is corrupt: the sha256 of its content does not match the"
            " trailer etcd wrote when saving it"
        )
    return {"size": size, "sha256": whole.hexdigest(), "body_sha256": body.hexdigest()}


def sha256_file(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with _open_for_reading(path) as handle:
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def _utc(when):
    if when is None:
        return _dt.datetime.now(_UTC)
    if isinstance(when, (int, float)):
        return _dt.datetime.fromtimestamp(when, _UTC)
    if when.tzinfo is None:
        raise ValueError(
            f"{when!r} has no time zone: pass an aware datetime, e.g. datetime.now(timezone.utc)"
        )
    return when.astimezone(_UTC)


def new_stamp(when=None):
    """The time stamp '20261126T030000Z' (STAMP_FORMAT) of an aware datetime or epoch
    seconds, in UTC. Default: now."""
    return _utc(when).strftime(STAMP_FORMAT)


def check_stamp(stamp):
    """A backup time stamp given by the user, checked: returned as str when it is a real
    UTC time written like 20261126T030000Z, else ValueError saying so."""
    text = "" if stamp is None else str(stamp)
    if not _STAMP_PATTERN.fullmatch(text):
        raise ValueError(f"stamp={stamp!r} is not a UTC time like {STAMP_EXAMPLE}")
    try:
        _dt.datetime.strptime(text, STAMP_FORMAT)
    except ValueError:  # e.g. month 13, 30 February, hour 24
        raise ValueError(
            f"stamp={stamp!r} is not a UTC time like {STAMP_EXAMPLE}: no such date or time"
        ) from None
    return text


def stamp_time(stamp):
    """The aware UTC datetime of a stamp; ValueError as check_stamp."""
    return _dt.datetime.strptime(check_stamp(stamp), STAMP_FORMAT).replace(tzinfo=_UTC)


def snapshot_file_name(when=None):
    """'etcd-snapshot-20261126T030000Z.db' for an aware datetime or epoch seconds (UTC;
    no colons, so scp/rsync paths stay safe). Default: now."""
    return f"{SNAPSHOT_PREFIX}{new_stamp(when)}{SNAPSHOT_SUFFIX}"


def file_name_problem(name, option="snapshot"):
    """Why ``name`` (the ``option`` a user gave) is not a bare file name, like a snapshot's
    in a backup directory, or None. Hidden names (a leading dot) are what interrupted
    writers leave, so they are refused too."""
    if not name or "/" in name or "\0" in name or name.startswith("."):
        return (
            f"{option}={name!r} is not a file name: give the snapshot's name without a"
            f" directory, e.g. {SNAPSHOT_PREFIX}{STAMP_EXAMPLE}{SNAPSHOT_SUFFIX}"
        )
    return None


def parse_snapshot_time(name, prefix=SNAPSHOT_PREFIX, suffix=SNAPSHOT_SUFFIX):
    """The UTC time in a snapshot file name (aware datetime), or None.

    Reads our names and the classic recipe's
    ``etcd-snapshot-2026-11-26_03:00:00_UTC.db``.
    """
    name = os.path.basename(str(name))
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(
        suffix
    ):
        return None
    stamp = name[len(prefix) : len(name) - len(suffix)]
    for pattern, fmt in _TIME_FORMATS:
        if pattern.fullmatch(stamp):
            try:
                return _dt.datetime.strptime(stamp, fmt).replace(tzinfo=_UTC)
            except ValueError:  # e.g. month 13
                return None
    return None


def metadata_path(snapshot_path):
    """'<snapshot>.json': the metadata file beside a snapshot."""
    return f"{snapshot_path}{METADATA_SUFFIX}"


# --------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------


def write_json_atomic(path, data, mode=0o600):
    """Write ``data`` as JSON to ``path`` atomically (``_files.write_text_atomic``)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def load_metadata(path):
    """Read and check a metadata file (the ``<snapshot>.json`` path)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise SnapshotError(
            f"metadata file {path} does not exist: the backup is incomplete (its save was"
            " interrupted) or was not made by kubedr.etcd"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"metadata file {path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read metadata file {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise SnapshotError(f"metadata file {path} does not hold a JSON object")
    if data.get("format") != METADATA_FORMAT:
        raise SnapshotError(
            f"metadata file {path} has format {data.get('format')!r}, expected {METADATA_FORMAT!r}"
        )
    snapshot = data.get("snapshot")
    if not isinstance(snapshot, dict):
        raise SnapshotError(f"metadata file {path} has no 'snapshot' object")
    missing = [key for key in _REQUIRED_SNAPSHOT_KEYS if key not in snapshot]
    if missing:
        raise SnapshotError(f"metadata file {path} lacks snapshot.{', snapshot.'.join(missing)}")
    if not isinstance(snapshot["size"], int) or isinstance(snapshot["size"], bool):
        raise SnapshotError(f"metadata file {path}: snapshot.size is not a number")
    if not isinstance(snapshot["sha256"], str) or not _SHA256_HEX.fullmatch(snapshot["sha256"]):
        raise SnapshotError(f"metadata file {path}: snapshot.sha256 is not a sha256 hex digest")
    if "encryption" in data:
        _check_encryption(path, data["encryption"])
    return data


# --------------------------------------------------------------------------
# Encrypted backups
# --------------------------------------------------------------------------
#
# An encrypted backup keeps its metadata record in the clear, under the same name
# (<snapshot>.json), with an "encryption" object: the method, the recipients (public
# keys) and, per file of the backup, the encrypted file that replaced it:
#
#   "encryption": {"method": "age", "recipients": ["age1..."], "encrypted": "<time>",
#                  "files": {"etcd-snapshot-X.db": {"file": "etcd-snapshot-X.db.age",
#                                                   "size": 123, "sha256": "..."}}}
#
# snapshot.size/sha256 and the archives' size/sha256 stay those of the plain files,
# so a decrypted copy is checked against them.

ENCRYPTION_METHOD = "age"


def _check_encryption(path, encryption):
    where = f"metadata file {path}: encryption"
    if not isinstance(encryption, dict):
        raise SnapshotError(f"{where} is not an object")
    if encryption.get("method") != ENCRYPTION_METHOD:
        raise SnapshotError(
            f"{where}.method is {encryption.get('method')!r}; only {ENCRYPTION_METHOD!r} is known"
        )
    files = encryption.get("files")
    if not isinstance(files, dict) or not files:
        raise SnapshotError(f"{where}.files lists no encrypted file")
    for plain, stored in files.items():
        if not isinstance(stored, dict):
            raise SnapshotError(f"{where}.files[{plain!r}] is not an object")
        name = stored.get("file")
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise SnapshotError(f"{where}.files[{plain!r}].file is not a plain file name")
        size = stored.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise SnapshotError(f"{where}.files[{plain!r}].size is not a number")
        if not isinstance(stored.get("sha256"), str) or not _SHA256_HEX.fullmatch(stored["sha256"]):
            raise SnapshotError(f"{where}.files[{plain!r}].sha256 is not a sha256 hex digest")


def is_encrypted(metadata):
    """Whether the metadata record says the backup's files are stored encrypted."""
    return bool((metadata or {}).get("encryption"))


def backup_files(metadata):
    """Every file of a backup but its metadata record, snapshot last: a list of
    {'kind' ('archive' or 'snapshot'), 'plain' (name, size, sha256 of the plain file),
    'stored' (the same of the file as kept: the encrypted one when the record says so,
    else the plain one), 'encrypted' (bool), 'host' (archives)}.

    Archives whose entry is not a dict with a plain file name are left out; callers that
    must report them check ``control_plane_archives`` themselves."""
    encrypted = ((metadata.get("encryption") or {}).get("files")) or {}
    files = []
    entries = [("archive", a) for a in metadata.get("control_plane_archives") or []]
    entries.append(("snapshot", metadata["snapshot"]))
    for kind, entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            continue
        plain = {"file": name, "size": entry.get("size"), "sha256": entry.get("sha256")}
        stored = encrypted.get(name)
        files.append(
            {
                "kind": kind,
                "plain": plain,
                "stored": dict(stored) if stored else dict(plain),
                "encrypted": bool(stored),
                "host": entry.get("host"),
            }
        )
    return files


def compare_with_metadata(verified, metadata):
    """Problems (list of str, empty when fine) between verify_trailer's result and a
    metadata record."""
    recorded = metadata.get("snapshot") or {}
    problems = []
    if verified.get("size") != recorded.get("size"):
        problems.append(
            f"size is {verified.get('size')} bytes but the metadata records"
            f" {recorded.get('size')} bytes"
        )
    if verified.get("sha256") != recorded.get("sha256"):
        problems.append(
            f"sha256 is {verified.get('sha256')} but the metadata records {recorded.get('sha256')}"
        )
    return problems


def _iso(when):
    if isinstance(when, str):
        return when
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_metadata(
    file,
    verified,
    status,
    *,
    created,
    etcd_version,
    cluster_id,
    members,
    source_host,
    kubernetes_version=None,
    collection_version=None,
    control_plane_archives=(),
    trial_restore=None,
    fingerprint=None,
):
    """The metadata record for one snapshot (write it with write_json_atomic).

    ``file``: the snapshot's file name (the directory is dropped); ``verified``:
    verify_trailer's result; ``status``: parse_snapshot_status's result;
    ``created``: aware datetime, epoch seconds or an ISO string; ``members``:
    parse_member_list's members (name, id, peer_urls are kept); ``source_host``:
    the master the snapshot was taken on; ``control_plane_archives``: list of
    {host, file, size, sha256} of the /etc/kubernetes archives; ``trial_restore``:
    True/False when a trial restore was (un)successful, None when not tried;
    ``fingerprint``: _fingerprint.take's result at the snapshot's revision (or
    {'error': why}), kept under 'fingerprint' when given.

    Returns {'format', 'created', 'collection_version', 'source_host',
    'kubernetes_version', 'snapshot': {'file', 'size', 'sha256', 'revision',
    'total_key', 'total_size', 'hash'}, 'etcd': {'version', 'cluster_id',
    'members'}, 'control_plane_archives', 'trial_restore'[, 'fingerprint']}.
    """
    archives = []
    for archive in control_plane_archives or ():
        missing = [key for key in ("host", "file", "size", "sha256") if key not in archive]
        if missing:
            raise ValueError(f"control plane archive {archive!r} lacks {', '.join(missing)}")
        archives.append({key: archive[key] for key in ("host", "file", "size", "sha256")})
    record = {
        "format": METADATA_FORMAT,
        "created": _iso(created),
        "collection_version": collection_version,
        "source_host": source_host,
        "kubernetes_version": kubernetes_version,
        "snapshot": {
            "file": os.path.basename(str(file)),
            "size": verified["size"],
            "sha256": verified["sha256"],
            "revision": status["revision"],
            "total_key": status["total_key"],
            "total_size": status["total_size"],
            "hash": status["hash"],
        },
        "etcd": {
            "version": etcd_version,
            "cluster_id": cluster_id,
            "members": [
                {
                    "name": member["name"],
                    "id": member["id"],
                    "peer_urls": list(member["peer_urls"]),
                }
                for member in members or ()
            ],
        },
        "control_plane_archives": archives,
        "trial_restore": trial_restore,
    }
    if fingerprint is not None:
        record["fingerprint"] = fingerprint
    return record
