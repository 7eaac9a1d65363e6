# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""persist: is the saved firewall loaded at boot at all? (docs/reboot.md)

sd1 is a lab host running systemd as PID 1 (tests/lab/lab_systemd.py). Its /etc/iptables/rules.v4
accepts 192.0.2.10 on tcp/8080 and drops everyone else there. It has netfilter-persistent.service as
Debian's netfilter-persistent 1.0.20 ships it (tests/unit/plugins/module_utils/fixtures/firewall/loaders/),
disabled; then, inside the container only, it is enabled, then removed: port_facts must report the loader
disabled, enabled, missing (systemctl show). The machine's own ufw and firewalld units are masked there, its
nftables.service disabled (the lab masks what the machine enables). sd1 is an unprivileged container that
cannot read its running firewall, so its verdicts are errors; the loader's fail is given all the same.
fw2 is a lab host whose PID 1 is not systemd (network namespace and sshd): its sessions' /etc holds the same
rules.v4 and unit file, no .wants link (disabled, read from the files); its running rules drop tcp/8080. After
a reboot nothing loads rules.v4: no rules, so the declared deny of 192.0.2.20 fails and the allowed 192.0.2.10
passes. The addresses are TEST-NET-1: no packet is sent, the check is static.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "plugins", "module_utils",
                        "fixtures", "firewall", "loaders")
with open(os.path.join(FIXTURES, "netfilter-persistent.service")) as _handle:
    UNIT = _handle.read()
RULES = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
         "-A INPUT -s 192.0.2.10/32 -p tcp -m tcp --dport 8080 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n")
NOTHING = "nothing loads /etc/iptables/rules.v4: netfilter-persistent.service is disabled"
SHOW = ["systemctl", "show", "-p", "Id,LoadState,UnitFileState", "--", "firewalld.service", "iptables.service",
        "netfilter-persistent.service", "nftables.service", "ufw.service"]
SERVICES = [{"name": "api", "port": 8080, "allow_from": ["192.0.2.10/32"], "deny_from": ["192.0.2.20/32"]}]
# fw2: PID 1 is not systemd (a lab host of network namespace and sshd): the unit files its sessions see decide
SPEC = {"hosts": [{"name": "sd1", "systemd": {"units": {"netfilter-persistent.service": UNIT}},
                   "vars": {"portproof_services": SERVICES}},
                  {"name": "fw2", "iptables": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n",
                   "sshd": {"etc": {"iptables/rules.v4": RULES, "systemd/system/netfilter-persistent.service": UNIT}},
                   "vars": {"portproof_services": SERVICES}}]}


def _facts(lab):
    """port_facts gather_subset saved_firewall on sd1, through Ansible as the role runs it."""
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, "sd1", "-m", "portproof.validate.port_facts",
                           "-a", "gather_subset=saved_firewall"], env=ansible_env(lab), capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("sd1 | SUCCESS => "), (proc.stdout + proc.stderr)[-3000:]
    return json.loads(proc.stdout.split(" => ", 1)[1])["ansible_facts"]["portproof"]["saved_firewall"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loader")
    lab = Lab(SPEC, str(tmp / "lab"), keep_workdir=True)
    lab.up()
    try:
        started = time.monotonic()
        lab.ssh("sd1", "mkdir -p /etc/iptables && printf '%%s' '%s' > /etc/iptables/rules.v4" % RULES)
        out = {"lab": lab, "show": {}, "facts": {}}
        out["show"]["disabled"] = lab.ssh("sd1", " ".join(SHOW)).stdout
        out["facts"]["disabled"] = _facts(lab)
        (tmp / "site.yml").write_text(yaml.safe_dump([{
            "name": "Persist", "hosts": "all", "gather_facts": False,
            "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["persist"]}}]}]))
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"],
                              cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
        out["proc"] = proc
        out["results"] = json.loads((tmp / "portproof-report" / "results.json").read_text())["results"]
        lab.ssh("sd1", "systemctl enable netfilter-persistent.service")  # inside the container: its own /etc
        out["show"]["enabled"] = lab.ssh("sd1", " ".join(SHOW)).stdout
        out["facts"]["enabled"] = _facts(lab)
        lab.ssh("sd1", "systemctl disable netfilter-persistent.service && rm /etc/systemd/system/netfilter-persistent.service"
                       " && systemctl daemon-reload")
        out["facts"]["missing"] = _facts(lab)
        out["seconds"] = time.monotonic() - started
        yield out
    finally:
        lab.down()


def test_the_real_systemctl_gives_the_unit_test_fixtures(checked):
    """The unit tests' fixtures are this host's own output (test_loaders.py reads them; PORTPROOF_CAPTURE=1 writes them)."""
    for state in ("disabled", "enabled"):
        if os.environ.get("PORTPROOF_CAPTURE") == "1":
            with open(os.path.join(FIXTURES, "show-%s.txt" % state), "w") as handle:
                handle.write(checked["show"][state])
        with open(os.path.join(FIXTURES, "show-%s.txt" % state)) as handle:
            assert checked["show"][state] == handle.read(), checked["show"][state]


def test_the_loader_state_is_gathered_read_only(checked):
    assert {state: facts["loaders"] for state, facts in checked["facts"].items()} == {
        "disabled": {"netfilter-persistent.service": {"state": "disabled", "detail": "disabled", "how": "systemctl"}},
        "enabled": {"netfilter-persistent.service": {"state": "enabled", "detail": "enabled", "how": "systemctl"}},
        "missing": {"netfilter-persistent.service": {"state": "missing", "detail": "not installed (no unit file)",
                                                     "how": "systemctl"}},
    }
    assert [s["path"] for s in checked["facts"]["disabled"]["sources"]] == ["/etc/iptables/rules.v4"]


def test_saved_rules_nothing_loads_fail_and_count_as_no_rules(checked):
    proc = checked["proc"]
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-4000:]
    firewall = sorted(((r["host"], r["status"], r["source"], r["message"]) for r in checked["results"]
                      if r["check"] == "persist" and "after a reboot" in r["message"] and "nothing starts" not in r["message"]), key=str)
    lost = "the rules loaded at boot (none: %s)" % NOTHING
    dropped = "the running drop rule ip filter INPUT #1: -A INPUT -p tcp -m tcp --dport 8080 -j DROP is not in " + lost
    unreadable = ("api: the verdict after a reboot cannot be decided statically: the firewall facts are incomplete: "
                  "/usr/sbin/iptables-nft-save exited with 4")
    # sd1, an unprivileged container, cannot read its running firewall: its verdicts are errors, its loader fails
    assert [(h, st, src, m if not m.startswith(unreadable) else unreadable) for h, st, src, m in firewall] == [
        ("fw2", "fail", "192.0.2.20/32 (192.0.2.20)", "api: after a reboot 192.0.2.20/32 (192.0.2.20) would get in on"
                                                      " tcp/8080 (must not get in; now it would be dropped): " + dropped),
        ("fw2", "fail", None, "api: after a reboot " + NOTHING),
        ("fw2", "pass", "192.0.2.10/32 (192.0.2.10)", "api: after a reboot 192.0.2.10/32 (192.0.2.10) would get in on"
                                                      " tcp/8080 (must get in; now it would be dropped): " + dropped),
        ("sd1", "error", "192.0.2.10/32 (192.0.2.10)", unreadable),
        ("sd1", "error", "192.0.2.20/32 (192.0.2.20)", unreadable),
        ("sd1", "fail", None, "api: after a reboot " + NOTHING),
    ]
    print("persist loader lab test: %.1f s (lab up excluded)" % checked["seconds"])
