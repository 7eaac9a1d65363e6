#!/usr/bin/env bash
# Runs inside `portproof_lab.py run`: PORTPROOF_LAB_INVENTORY names the lab's inventory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
echo "Lab inventory: $PORTPROOF_LAB_INVENTORY"
ansible-playbook -i "$PORTPROOF_LAB_INVENTORY" "$here/lab-overview.yml"
