#!/usr/bin/env bash
# The bare baseline of bench/restore_bench.py: restore every master of the lab from one
# snapshot with nothing but ssh, scp and etcd's own restore tool, all masters in parallel.
#
#   bench/bare_restore.sh SNAPSHOT [INVENTORY]      (INVENTORY: inventories/lab/hosts.yml)
#
# 1. copy the snapshot to every master (scp, in parallel);
# 2. on every master at once: move /etc/kubernetes/manifests aside, wait until etcd is gone
#    (pgrep), move /var/lib/etcd/member aside (never /var/lib/etcd itself: it is a mount
#    point), restore the snapshot with this master's name and peer URL and the shared
#    initial cluster and token into a staging dir inside /var/lib/etcd, move its member/ in,
#    put the manifests back;
# 3. wait until `etcdctl endpoint health --cluster` passes on the first master.
# No checks, no plan, no ordering, no rollback: the least a person with a shell would do.
# The last line of stdout is a JSON object with the seconds of each step.
#
# SSH settings come from the inventory (ansible_user, ansible_ssh_private_key_file,
# ansible_ssh_common_args with the lab's known_hosts file and its ProxyCommand
# `ip netns exec kdrlab-hub nc %h %p`). Member name = inventory name, peer URL =
# https://<ansible_host>:2380, as in the lab. PYTHON (default python3) must have PyYAML.
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and date, whatever the locale

SNAPSHOT=${1:?usage: bare_restore.sh SNAPSHOT [INVENTORY]}
INVENTORY=${2:-inventories/lab/hosts.yml}
PYTHON=${PYTHON:-python3}
STOP_TIMEOUT=${STOP_TIMEOUT:-120}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-300}
[ -f "$SNAPSHOT" ] || { echo "bare_restore: no snapshot $SNAPSHOT" >&2; exit 2; }
[ -f "$INVENTORY" ] || { echo "bare_restore: no inventory $INVENTORY" >&2; exit 2; }

# SSH_OPTS, SSH_USER, NAMES, ADDRS from the inventory; shlex keeps the ProxyCommand whole.
SETTINGS=$("$PYTHON" - "$INVENTORY" <<'PY'
import shlex
import sys

import yaml

with open(sys.argv[1]) as fh:
    inv = yaml.safe_load(fh)["all"]
common = inv.get("vars") or {}
opts = shlex.split(common.get("ansible_ssh_common_args") or "")
if common.get("ansible_ssh_private_key_file"):
    opts += ["-i", common["ansible_ssh_private_key_file"]]
opts += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
hosts = inv["children"]["masters"]["hosts"]
q = shlex.quote
print("SSH_OPTS=(" + " ".join(q(o) for o in opts) + ")")
print("SSH_USER=" + q(str(common.get("ansible_user") or "root")))
print("NAMES=(" + " ".join(q(n) for n in hosts) + ")")
print("ADDRS=(" + " ".join(q(str((h or {}).get("ansible_host") or n)) for n, h in hosts.items()) + ")")
PY
)
eval "$SETTINGS"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TOKEN="bare-restore-$STAMP"
REMOTE_DIR=/var/tmp/kubedr-bare-restore
REMOTE_SNAPSHOT="$REMOTE_DIR/$(basename "$SNAPSHOT")"
CLUSTER=""
for i in "${!NAMES[@]}"; do
    CLUSTER+="${CLUSTER:+,}${NAMES[$i]}=https://${ADDRS[$i]}:2380"
done
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# The command line is meant to be expanded here and run there as it is.
# shellcheck disable=SC2029
on() { local addr=$1; shift; ssh "${SSH_OPTS[@]}" "$SSH_USER@$addr" "$@"; }
# Runs a bash script on a master with arguments; the script travels base64-encoded, so the
# command line means the same to any POSIX login shell.
run_script() {
    local addr=$1 script=$2
    shift 2
    on "$addr" "bash -c \"\$(echo $(printf '%s' "$script" | base64 -w0) | base64 -d)\" bare-restore $(printf '%q ' "$@")"
}

# Waits for every background job; on a failure, prints the logs and exits.
wait_all() {
    local what=$1 failed=0 pid
    shift
    for pid in "$@"; do
        wait "$pid" || failed=1
    done
    if [ "$failed" = 1 ]; then
        echo "bare_restore: $what failed" >&2
        tail -n 20 "$LOGS"/* >&2 || true
        exit 1
    fi
}

# What runs on each master: $1 name, $2 peer URL, $3 initial cluster, $4 token, $5 stamp,
# $6 snapshot, $7 stop timeout.
# shellcheck disable=SC2016  # expanded on the master
REMOTE='
set -eu
name=$1 peer=$2 cluster=$3 token=$4 stamp=$5 snapshot=$6 stop_timeout=$7
PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin
manifests=/etc/kubernetes/manifests data=/var/lib/etcd
staging=$data/.bare-restore-$stamp
t0=$(date +%s.%N)
mv "$manifests" "$manifests.bare-$stamp"
deadline=$((SECONDS + stop_timeout))
while pgrep -x etcd >/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "$name: etcd still runs" >&2; exit 1; fi
    sleep 0.2
done
t1=$(date +%s.%N)
if [ -e "$data/member" ]; then mv "$data/member" "$data/member.bare-$stamp"; fi
mkdir -p "$staging"
if command -v etcdutl >/dev/null; then
    etcdutl snapshot restore "$snapshot" --name "$name" --initial-cluster "$cluster" \
        --initial-cluster-token "$token" --initial-advertise-peer-urls "$peer" \
        --data-dir "$staging/data"
else
    ETCDCTL_API=3 etcdctl snapshot restore "$snapshot" --name "$name" \
        --initial-cluster "$cluster" --initial-cluster-token "$token" \
        --initial-advertise-peer-urls "$peer" --data-dir "$staging/data"
fi
mv "$staging/data/member" "$data/member"
rm -rf "$staging"
t2=$(date +%s.%N)
mv "$manifests.bare-$stamp" "$manifests"
awk -v n="$name" -v a="$t0" -v b="$t1" -v c="$t2" \
    "BEGIN { printf \"%s: stop %.3f s, restore %.3f s\\n\", n, b - a, c - b }"
'

# Runs on the first master: until every member of the cluster is healthy.
# shellcheck disable=SC2016  # expanded on the master
HEALTH='
set -u
PATH=/usr/local/bin:/usr/bin:/bin
pki=/etc/kubernetes/pki/etcd
deadline=$((SECONDS + $1))
until ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=$pki/ca.crt \
        --cert=$pki/healthcheck-client.crt --key=$pki/healthcheck-client.key \
        --dial-timeout=2s --command-timeout=5s endpoint health --cluster >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "cluster not healthy after $1 s" >&2
        exit 1
    fi
    sleep 0.2
done
'

T0=$(now)

pids=()
for i in "${!NAMES[@]}"; do
    (
        on "${ADDRS[$i]}" mkdir -p "$REMOTE_DIR"
        scp -q "${SSH_OPTS[@]}" "$SNAPSHOT" "$SSH_USER@${ADDRS[$i]}:$REMOTE_SNAPSHOT"
    ) >"$LOGS/copy-${NAMES[$i]}" 2>&1 &
    pids+=($!)
done
wait_all "copy" "${pids[@]}"
T_COPY=$(since "$T0")

T1=$(now)
pids=()
for i in "${!NAMES[@]}"; do
    args=("${NAMES[$i]}" "https://${ADDRS[$i]}:2380" "$CLUSTER" "$TOKEN" "$STAMP"
        "$REMOTE_SNAPSHOT" "$STOP_TIMEOUT")
    run_script "${ADDRS[$i]}" "$REMOTE" "${args[@]}" >"$LOGS/restore-${NAMES[$i]}" 2>&1 &
    pids+=($!)
done
wait_all "restore" "${pids[@]}"
T_RESTORE=$(since "$T1")
cat "$LOGS"/restore-* >&2

T2=$(now)
run_script "${ADDRS[0]}" "$HEALTH" "$HEALTH_TIMEOUT"
T_HEALTH=$(since "$T2")

printf '{"copy": %s, "stop_restore_start": %s, "healthy": %s, "total": %s, "stamp": "%s"}\n' \
    "$T_COPY" "$T_RESTORE" "$T_HEALTH" "$(since "$T0")" "$STAMP"
