"""The kubedr.etcd code as the etcd_backup_schedule role installs it for its scripts."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PACKAGE = Path("ansible_collections", "kubedr", "etcd", "plugins", "module_utils")
# The masters' interpreter when this machine has it, else the test's.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def populate_install_root(root):
    """What the role's 'Install the kubedr.etcd module_utils' task does, in a tmp dir."""
    package = Path(root) / PACKAGE
    package.mkdir(parents=True)
    for source in sorted(MODULE_UTILS.glob("_*.py")):
        shutil.copy(source, package / source.name)
    return root
