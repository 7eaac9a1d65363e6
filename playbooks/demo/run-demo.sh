#!/usr/bin/env bash
# The demo, run by scripts/demo inside `portproof_lab.py run tests/lab/specs/demo.yml`, which sets
# PORTPROOF_LAB_INVENTORY and PORTPROOF_LAB_DIR and tears the lab down afterwards.
#   1. save the baseline of the clean stack      (ansible-playbook portproof.validate.baseline)
#   2. validate it: every check passes, exit 0     (ansible-playbook portproof.validate.post_deploy)
#   3. plant two realistic faults through the lab's API (tests/lab/specs/demo-fault.yml): a firewall
#      change that drops app2's connections to postgres, and a deploy that moved redis to 6380 and put
#      an HTTP exporter on 6379, the port the app servers use for redis
#   4. validate again: the faults are caught, exit 2, report in ./portproof-report/; the result lines
#      that name them are printed last
# Exits 0 when the demo went as shown, 1 otherwise.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
inventory=${PORTPROOF_LAB_INVENTORY:?run me through scripts/demo}
labdir=${PORTPROOF_LAB_DIR:?run me through scripts/demo}
report=$PWD/portproof-report
export ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=False
bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)

step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() {  # run LOG ARGS...: ansible-playbook against the lab, its output to LOG; prints the exit status and time
    local log=$1 start=$SECONDS rc
    shift
    ansible-playbook -i "$inventory" "$@" >"$log" 2>&1
    rc=$?
    echo "   exit status $rc after $((SECONDS - start)) s (full output: $log)"
    return $rc
}
fail() { echo "demo: $*" >&2; exit 1; }

rm -rf "$report"
step "The lab: 5 hosts, each its own network namespace with sshd, services and firewall rules"
python3 - "$inventory" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))["all"]
for name, hvars in inv["hosts"].items():
    services = ", ".join("%s %s/%s" % (s["name"], s["port"], s.get("proto", "tcp")) for s in hvars.get("portproof_services", []))
    print("   %-7s %-15s %s" % (name, hvars["ansible_host"], services))
PY

step "1/4 Save the baseline of the clean stack (ansible-playbook portproof.validate.baseline)"
run "$labdir/baseline.log" portproof.validate.baseline -e "portproof_baseline_dir=$labdir/baseline" || fail "the baseline could not be saved"

step "2/4 Validate the clean stack (ansible-playbook portproof.validate.post_deploy)"
run "$labdir/clean.log" portproof.validate.post_deploy -e "portproof_baseline_dir=$labdir/baseline" -e "portproof_report_dir=$labdir/clean-report"
clean=$?
echo "   $(head -n 1 "$labdir/clean-report/summary.md" | sed 's/^## //')"
[ "$clean" -eq 0 ] || { tail -n 40 "$labdir/clean.log"; fail "the clean stack should pass (exit 0), got $clean"; }

step "3/4 Plant two faults through the lab's API"
python3 "$top/tests/lab/lab_plant.py" --dir "$labdir" apply "$top/tests/lab/specs/demo-fault.yml" | sed 's/^/   /' \
    || fail "the fault could not be planted"

step "4/4 Validate again (ansible-playbook portproof.validate.post_deploy)"
mkdir -p "$report"
run "$report/ansible.log" portproof.validate.post_deploy -e "portproof_baseline_dir=$labdir/baseline"
faulty=$?
[ -f "$report/summary.md" ] || { tail -n 40 "$report/ansible.log"; fail "no report was written"; }
echo
sed 's/^/   /' "$report/summary.md"
[ "$faulty" -eq 2 ] || fail "the faults should fail the run (exit 2), got $faulty"
# the result lines that name each fault (summary.md escapes _ as \_)
caught() {  # caught PATTERN WHAT: print the report's line matching PATTERN, or fail naming WHAT
    local line
    line=$(grep -F -- "$1" "$report/summary.md" | head -n 1)
    [ -n "$line" ] || fail "$2 was not named in the report"
    echo "   $line"
}
step "The faults, as the report names them"
caught 'fail | db1 | postgres | firewall\_allow | app2 |' "the firewall fault"
caught 'fail | cache1 | redis | protocol | app1 | redis from app1: 6379/tcp answers as http, not redis |' "the protocol fault"
caught 'listens on 6380/tcp and no service declares it; 6380/tcp answers as redis' "the moved redis"

step "Caught. The report of the last run:"
for f in report.html summary.md results.json junit.xml metrics.prom facts/; do
    echo "   $report/$f"
done
echo "   Open report.html in a browser: the failures with their evidence come first, then the hosts and the"
echo "   reachability matrix (app2 -> db1/postgres is red). The lab is torn down now."
