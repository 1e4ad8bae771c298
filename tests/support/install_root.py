"""The kubedr.etcd code as the etcd_backup_schedule role installs it for its scripts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ansible_collections.kubedr.etcd.plugins.module_utils._code_install import (
    install,
    read_sources,
)

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PACKAGE = Path("ansible_collections", "kubedr", "etcd", "plugins", "module_utils")
# The masters' interpreter when this machine has it, else the test's.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def populate_install_root(root):
    """What the role's module_utils_install task does, in a tmp dir: the same code."""
    install(str(Path(root) / PACKAGE), read_sources(str(MODULE_UTILS)))
    return root
