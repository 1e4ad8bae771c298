#!/usr/bin/env bash
# Installs what the lab and the tests need on a Debian machine (run as root).
# Idempotent and quick when everything is there already:
#   - Debian packages: etcd 3.4 (bookworm), openssh, iproute2, netcat, rsync, age
#     (backup encryption on the controller), prometheus (its promtool checks the
#     backup metrics and the example alert rules in the tests; the server is not started),
#     chromium (the tests render the restore report's HTML page in it, headless), ...
#   - etcd 3.5 from Debian trixie's packages, unpacked (not installed) into
#     /opt/kubedr-lab/etcd-3.5.16, with a private apt list so the system's
#     sources stay as they are. That list is this machine's own Debian archive
#     (whatever mirror its apt sources name) with the suite changed to trixie;
#     KUBEDR_LAB_DEBIAN_URI names another archive where apt has none.
set -euo pipefail

ETCD35_VERSION=3.5.16
ETCD35_ROOT=${KUBEDR_LAB_ETCD35_ROOT:-/opt/kubedr-lab/etcd-${ETCD35_VERSION}}
PACKAGES=(etcd-server etcd-client openssh-server openssh-client rsync iproute2
          netcat-openbsd procps util-linux make python3 python3-venv ca-certificates age
          prometheus chromium sudo)

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root (apt-get, /opt)" >&2
    exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    # Installing openssh-server or etcd-server must not start them on the host:
    # the lab starts its own, inside its namespaces.
    policy=/usr/sbin/policy-rc.d
    created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$created_policy" ] && rm -f "$policy"
fi

if ! "$ETCD35_ROOT/usr/bin/etcdutl" version 2>/dev/null | grep -q "$ETCD35_VERSION"; then
    echo "install-deps: unpacking etcd $ETCD35_VERSION from Debian trixie into $ETCD35_ROOT"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
    # The archives apt is configured with for this release's main suite (not its
    # -updates or -security suites), as apt itself reads them: one-line and deb822
    # files alike.
    if [ -n "${KUBEDR_LAB_DEBIAN_URI:-}" ]; then
        uris=$KUBEDR_LAB_DEBIAN_URI
    else
        codename=$(sed -n "s/^VERSION_CODENAME=//p" /etc/os-release)
        # shellcheck disable=SC2016  # $(...) here is apt's format syntax, not the shell's
        uris=$(apt-get indextargets --no-release-info \
                   --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' \
               | awk -v suite="$codename" '$2 == suite && $3 == "main" { print $1 }' \
               | sort -u | tr '\n' ' ')
    fi
    if [ -z "${uris// /}" ]; then
        echo "install-deps: apt has no Debian archive with the main suite of this release;" \
             "set KUBEDR_LAB_DEBIAN_URI to a Debian archive to fetch etcd $ETCD35_VERSION from" >&2
        exit 1
    fi
    cat > "$work/parts/trixie.sources" <<SOURCES
Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
          -o "APT::Sandbox::User=root")
    apt-get "${opts[@]}" update -qq
    (cd "$work/debs" && apt-get "${opts[@]}" download -qq \
        "etcd-server=${ETCD35_VERSION}*" "etcd-client=${ETCD35_VERSION}*")
    rm -rf "$ETCD35_ROOT.new"
    mkdir -p "$ETCD35_ROOT.new"
    for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$ETCD35_ROOT.new"; done
    "$ETCD35_ROOT.new/usr/bin/etcdutl" version | grep -q "$ETCD35_VERSION"
    rm -rf "$ETCD35_ROOT"
    mv "$ETCD35_ROOT.new" "$ETCD35_ROOT"
fi
echo "install-deps: ok (etcd $(etcd --version | head -1 | awk '{print $3}'), etcd $ETCD35_VERSION in $ETCD35_ROOT)"
