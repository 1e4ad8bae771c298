# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+.
"""Encryption at rest with the ``age`` command-line tool.

Backups are encrypted to one or more age *recipients* (public keys: ``age1...``
or an SSH public key); only someone holding a matching *identity* (the private
key file) can decrypt them. The controller that encrypts needs the public keys
only.

Every function streams: the file passes through ``age`` in chunks while it is
hashed, so memory does not grow with the snapshot. Each returns the size and
sha256 of what went in and of what came out, so the caller can compare them
with the metadata record. ``age`` authenticates every 64 KiB chunk and the end
of the stream, so a ciphertext with a flipped byte, or cut short, fails to
decrypt instead of giving wrong data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

from ansible_collections.kubedr.etcd.plugins.module_utils._files import remove as _remove

CHUNK = 1 << 20
INSTALL_HINT = "install it (Debian/Ubuntu: apt install age; https://age-encryption.org)"


class AgeError(Exception):
    """age is missing, refused its input, or failed; the message says which and why."""


def find_age(command="age"):
    """The path of the age binary named by ``command`` (a name looked up in PATH, or a
    path), or AgeError naming what was looked for."""
    command = str(command or "age")
    if os.sep in command:
        if os.path.isfile(command) and os.access(command, os.X_OK):
            return command
        raise AgeError(f"age command {command} does not exist or is not executable; {INSTALL_HINT}")
    found = shutil.which(command)
    if not found:
        raise AgeError(
            f"'{command}' was not found in PATH ({os.environ.get('PATH', '')}): age is needed"
            f" to encrypt or decrypt backups; {INSTALL_HINT}"
        )
    return found


def read_recipients_file(path):
    """The recipients listed in an age recipients file (one per line; '#' comments)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise AgeError(f"cannot read recipients file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AgeError(f"recipients file {path} is not text: give a file of public keys") from None
    recipients = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not recipients:
        raise AgeError(f"recipients file {path} lists no recipient")
    return recipients


def recipient_list(recipients=(), recipients_files=()):
    """Every recipient, given directly or in files, in order and without repeats."""
    found = [str(r).strip() for r in recipients or () if str(r).strip()]
    for path in recipients_files or ():
        found.extend(read_recipients_file(path))
    if not found:
        raise AgeError("no age recipient given: name at least one public key (age1...)")
    for recipient in found:
        if recipient.startswith("AGE-SECRET-KEY-"):
            raise AgeError(
                "a recipient is an age secret key (AGE-SECRET-KEY-...): give the public key"
                " (age-keygen -y <identity file> prints it) and keep the secret key off this host"
            )
    return list(dict.fromkeys(found))


def _recipient_argv(recipients):
    argv = []
    for recipient in recipients:
        argv += ["-r", recipient]
    return argv


def _identity_argv(identity_files):
    files = [str(path) for path in identity_files or () if str(path)]
    if not files:
        raise AgeError("no age identity file given: decryption needs the private key file")
    argv = []
    for path in files:
        if not os.path.isfile(path):
            raise AgeError(f"age identity file {path} does not exist (or is not a file)")
        if not os.access(path, os.R_OK):
            raise AgeError(f"cannot read age identity file {path}: permission denied")
        argv += ["-i", path]
    return argv


def age_message(stderr):
    """The useful part of age's stderr: its 'age: error:' lines, printable and short."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else str(stderr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("age: error:")] or lines[:1]
    message = "; ".join(line[5:] if line.startswith("age: ") else line for line in errors)
    message = "".join(ch if ch.isprintable() else "?" for ch in message)
    if len(message) > 300:
        message = message[:300] + "..."
    return message or "no message"


def explain(message):
    """A hint for the age errors users meet."""
    if "no identity matched" in message:
        return (
            "the identity file does not hold the private key of any recipient this file was"
            " encrypted to (the metadata record lists the recipients)"
        )
    if "authenticate payload" in message or "unexpected EOF" in message:
        return "the encrypted file is damaged or cut short"
    if "failed to read header" in message:
        return "the file is not age-encrypted, or its header is damaged"
    if "recipient" in message:
        return "a recipient is not a valid age or SSH public key"
    return ""


def _fail(what, returncode, stderr):
    message = age_message(stderr)
    hint = explain(message)
    raise AgeError(f"{what}: age exited {returncode}: {message}" + (f" ({hint})" if hint else ""))


class _Digest:
    def __init__(self):
        self.sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk):
        self.sha256.update(chunk)
        self.size += len(chunk)

    def result(self):
        return {"size": self.size, "sha256": self.sha256.hexdigest()}


def _drain(stream, digest, sink):
    """Read ``stream`` to its end, hashing, writing to ``sink`` (a file or None)."""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)


def check_recipients(age, recipients):
    """Refuse recipients age does not accept, by encrypting nothing to them."""
    proc = subprocess.run(
        [age, *_recipient_argv(recipients)],
        input=b"",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        _fail("checking the recipients", proc.returncode, proc.stderr)


def encrypt_file(age, src, dest, recipients):
    """Encrypt ``src`` into ``dest`` (created, mode 0600; must not exist).

    Returns {'plain': {size, sha256}, 'encrypted': {size, sha256}}. On failure
    ``dest`` is removed and AgeError raised."""
    went_in, came_out = _stream([age, *_recipient_argv(recipients)], src, dest, "encrypting")
    return {"plain": went_in, "encrypted": came_out}


def decrypt_file(age, src, identity_files, dest=None):
    """Decrypt ``src`` with the identity files, into ``dest`` (created, mode 0600; must
    not exist) or, when ``dest`` is None, only to hash the plaintext.

    Returns {'plain': {size, sha256}, 'encrypted': {size, sha256}}. On failure
    ``dest`` is removed and AgeError raised."""
    argv = [age, "-d", *_identity_argv(identity_files)]
    went_in, came_out = _stream(argv, src, dest, "decrypting")
    return {"plain": came_out, "encrypted": went_in}


def _stream(argv, src, dest, doing):
    """Pipe ``src`` through the command ``argv`` into ``dest`` (or nowhere), hashing what
    goes in and what comes out: ({size, sha256} in, {size, sha256} out). A thread feeds the
    command while this one drains it, so neither side waits on a full pipe."""
    went_in, came_out = _Digest(), _Digest()
    try:
        source = open(src, "rb")
    except OSError as exc:
        raise AgeError(f"cannot read {src}: {exc.strerror or exc}") from None
    sink = None
    if dest is not None:
        try:
            sink = os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        except OSError as exc:
            source.close()
            raise AgeError(f"cannot create {dest}: {exc.strerror or exc}") from None
    errors = []
    with source, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

        def feed():
            try:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    went_in.update(chunk)
                    proc.stdin.write(chunk)
            except (OSError, ValueError) as exc:  # age stopped reading (it says why), or src
                errors.append(exc)
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            _drain(proc.stdout, came_out, sink)
            if sink is not None:
                sink.flush()
                os.fsync(sink.fileno())
        except OSError as exc:
            proc.kill()
            feeder.join()
            proc.wait()
            _close_and_remove(sink, dest)
            raise AgeError(f"writing {dest} failed: {exc.strerror or exc}") from None
        finally:
            proc.stdout.close()
        feeder.join()
        returncode = proc.wait()
        if returncode != 0:
            _close_and_remove(sink, dest)
            stderr.seek(0)
            _fail(f"{doing} {src}", returncode, stderr.read())
        if errors:
            _close_and_remove(sink, dest)
            raise AgeError(f"{doing} {src} failed while reading it: {errors[0]}")
    if sink is not None:
        sink.close()
    return went_in.result(), came_out.result()


def _close_and_remove(sink, path):
    if sink is not None:
        sink.close()
        _remove(path)
