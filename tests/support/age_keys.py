"""Real age key pairs for the tests, made with age-keygen (Debian package age)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class AgeKey:
    identity: Path  # the private key file
    recipient: str  # its public key, age1...


def make_age_key(directory, name="identity"):
    """A new key pair; the identity file is written in ``directory``."""
    if not shutil.which("age-keygen"):
        raise RuntimeError("age-keygen is missing: run tests/lab/install-deps.sh (apt install age)")
    identity = Path(directory) / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return AgeKey(identity, recipient)
