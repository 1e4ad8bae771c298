"""Stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into each of its virtual environments with a
get-pip script fetched from a host outside the Python package index. Where
only the package registries are reachable that download fails, so
.ci/sanity copies this file into ansible-test's cache in its place. It
installs pip from the interpreter's own ensurepip, then asks that pip for
the packages ansible-test requested (from the package index).
"""

import subprocess
import sys

# get-pip options that pip install does not know.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main():
    """Install pip with ensurepip, then the requested packages with pip."""
    python = sys.executable
    subprocess.run([python, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.run([python, "-m", "pip", "install", *args], check=True)


if __name__ == "__main__":
    main()
