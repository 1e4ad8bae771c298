#!/usr/bin/env bash
# `make demo`: a disaster and its recovery on a lab of real masters, start to finish.
#   lab up with seeded data -> backup, encrypted off the masters with age -> disaster
#   (every master's etcd data destroyed) -> restore-ha -> every key and value checked
#   against the backup -> report.
# MASTERS (default 3) and ETCD_VERSION (default 3.4) choose the lab; SEED_SIZE the data;
# KEEP_LAB=1 leaves the lab up afterwards (remove it with `make lab-down`).
set -euo pipefail
cd "$(dirname "$0")/../.."
LAB=(.venv/bin/python -m tests.lab)
INVENTORY=inventories/lab/hosts.yml
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
WORK=$(mktemp -d /var/tmp/kubedr-demo.XXXXXX)

step() { printf '\n=== %s\n' "$*"; }
cleanup() {
    if [ "${KEEP_LAB:-0}" != 1 ]; then step "lab down"; "${LAB[@]}" down; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step "lab up: ${MASTERS:-3} masters, etcd ${ETCD_VERSION:-3.4}"
"${LAB[@]}" up --masters "${MASTERS:-3}" --etcd "${ETCD_VERSION:-3.4}"

step "seed realistic /registry keys, and take their digest"
"${LAB[@]}" seed --size "${SEED_SIZE:-16MiB}"
"${LAB[@]}" digest | tee "$WORK/before.json"

step "an age key pair for the backups: the public key encrypts, the identity file decrypts"
age-keygen -o "$WORK/backup-identity.txt"

step "backup: verified snapshot + control-plane archives, copied to the controller and backup1, encrypted there"
.venv/bin/ansible-playbook -i "$INVENTORY" playbooks/backup.yml \
    -e etcd_backup_controller_dir="$WORK/backups" -e etcd_backup_remote_group=backup_hosts \
    -e "{\"etcd_backup_age_recipients\": [\"$(age-keygen -y "$WORK/backup-identity.txt")\"]}"
ls -l "$WORK/backups/kubernetes"

step "disaster: the etcd data of every master is destroyed"
for host in $(.venv/bin/python -c 'from tests.lab import lab; print(" ".join(lab.Lab.load().names))'); do
    # $(hostname) is expanded by the master's shell, not this one.
    # shellcheck disable=SC2016
    "${LAB[@]}" exec "$host" sh -c 'rm -rf /var/lib/etcd/member && echo "$(hostname): /var/lib/etcd/member removed"'
done
sleep 3
"${LAB[@]}" etcdctl endpoint health --cluster || echo "(the cluster is gone, as expected)"

step "restore-ha: plan only first (no confirmation: nothing changes)"
.venv/bin/ansible-playbook -i "$INVENTORY" playbooks/restore-ha.yml \
    -e etcd_restore_backup_dir="$WORK/backups" -e etcd_restore_snapshot=latest \
    -e etcd_restore_age_identity="$WORK/backup-identity.txt"

step "restore-ha: for real"
.venv/bin/ansible-playbook -i "$INVENTORY" playbooks/restore-ha.yml \
    -e etcd_restore_backup_dir="$WORK/backups" -e etcd_restore_snapshot=latest \
    -e etcd_restore_age_identity="$WORK/backup-identity.txt" \
    -e etcd_restore_confirm=true -e etcd_restore_report_dir="$WORK/reports"

step "every key and value back?"
"${LAB[@]}" digest | tee "$WORK/after.json"
.venv/bin/python - "$WORK/before.json" "$WORK/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
same = all(before[k] == after[k] for k in ("keys", "registry_keys", "bytes", "sha256"))
print(f"keys {before['keys']} -> {after['keys']}, sha256 {'EQUAL' if same else 'DIFFERENT'}"
      f"; revision {before['revision']} -> {after['revision']}")
sys.exit(0 if same else 1)
PY
"${LAB[@]}" etcdctl member list -w table
step "report"
cat "$WORK"/reports/restore-*.json
