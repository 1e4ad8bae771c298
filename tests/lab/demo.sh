#!/usr/bin/env bash
# `make demo`: the collection against a lab of real masters, start to finish.
# MASTERS (default 3) and ETCD_VERSION (default 3.4) choose the lab;
# KEEP_LAB=1 leaves it up afterwards (remove it with `make lab-down`).
set -euo pipefail
cd "$(dirname "$0")/../.."
LAB=(.venv/bin/python -m tests.lab)
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

step() { printf '\n=== %s\n' "$*"; }
cleanup() {
    if [ "${KEEP_LAB:-0}" != 1 ]; then step "lab down"; "${LAB[@]}" down; fi
}
trap cleanup EXIT

step "lab up: ${MASTERS:-3} masters, etcd ${ETCD_VERSION:-3.4}"
"${LAB[@]}" up --masters "${MASTERS:-3}" --etcd "${ETCD_VERSION:-3.4}"

step "seed realistic /registry keys"
"${LAB[@]}" seed --size "${SEED_SIZE:-8MiB}"
"${LAB[@]}" digest

step "ansible ping over SSH (host keys pinned)"
.venv/bin/ansible -i inventories/lab/hosts.yml masters -m ansible.builtin.ping

step "etcd member facts from every master"
.venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/facts.yml

step "cluster health"
"${LAB[@]}" etcdctl endpoint health --cluster
"${LAB[@]}" etcdctl member list -w table
