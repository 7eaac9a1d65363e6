# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover at fleet scale: ansible-playbook portproof.validate.discover on a lab of 50 hosts against
`ansible all -m ping` on the same inventory (target: at most 2x the ping).

The hosts are those of the fleet benchmark (bench/fleet_bench.py: racks of 5, ten services a host,
iptables rules that let the next rack in), without their contract: discover has to find it. In one
run, with the same forks: a warm-up ping (SSH control masters), the ping, discover, the ping again
(the ping figure is the mean of the two). Then the discovered contract must pass the static checks
over the facts it came from (its README says so), and name the ten services of each host.

Usage (root): ./bench/run discover, or .venv/bin/python bench/discover_bench.py
Environment: PORTPROOF_DISCOVER_SIZES (default 50), PORTPROOF_FLEET_FORKS (default 10).
"""

from __future__ import annotations

import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fleet_bench import TARGET_RATIO, measured, neighbour_room, spec  # noqa: E402  pylint: disable=wrong-import-position
from lab_ansible import VENV_BIN, ansible_env  # noqa: E402  pylint: disable=wrong-import-position
from portproof_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

PASSED = "pass on every host over the facts just gathered"


def run_size(count, forks):
    lab_spec = spec(count, 0)
    for host in lab_spec["hosts"]:
        host.pop("vars", None)  # no contract: discover finds it
    with neighbour_room(count), Lab(lab_spec) as lab:
        env = ansible_env(lab, ANSIBLE_FORKS=str(forks), ANSIBLE_HOST_KEY_CHECKING="False")
        out = os.path.join(lab.workdir, "discovered")
        ping = [os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, "all", "-m", "ansible.builtin.ping", "-f", str(forks)]
        discover = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.discover",
                    "-f", str(forks), "-e", "portproof_discover_dir=%s" % out]
        measured(ping, env)  # warm-up: SSH control masters for both
        before = measured(ping, env)
        run = measured(discover, env)
        after = measured(ping, env)
        with open(os.path.join(out, "README.md")) as handle:
            readme = handle.read()
        if PASSED not in readme:
            raise SystemExit("the discovered contract does not pass the static checks:\n%s" % readme[-3000:])
        services = 0
        for host in lab_spec["hosts"]:
            with open(os.path.join(out, "host_vars", "%s.yml" % host["name"])) as handle:
                services += len(yaml.safe_load(handle).get("portproof_services__discovered") or [])
        for name in os.listdir(os.path.join(out, "group_vars")) if os.path.isdir(os.path.join(out, "group_vars")) else []:
            with open(os.path.join(out, "group_vars", name)) as handle:
                data = yaml.safe_load(handle)
            group = name[:-len(".yml")]
            services += sum(len(value) for value in data.values()) * len(
                [h for h in lab_spec["hosts"] if group in h["groups"]])
    ping_wall = (before["wall_s"] + after["wall_s"]) / 2.0
    return {"hosts": count, "forks": forks, "discover_wall_s": run["wall_s"], "peak_pss_mb": run["peak_pss_mb"],
            "ping_wall_s": round(ping_wall, 2), "ratio": round(run["wall_s"] / ping_wall, 2), "services": services}


def main():
    sizes = [int(size) for size in os.environ.get("PORTPROOF_DISCOVER_SIZES", "50").split(",") if size.strip()]
    forks = int(os.environ.get("PORTPROOF_FLEET_FORKS", "10"))
    worst = 0.0
    for count in sizes:
        row = run_size(count, forks)
        worst = max(worst, row["ratio"])
        print("%d hosts: discover %.1f s, ping %.1f s, ratio %.2f (target <= %.1f), peak %.0f MB PSS, %d services found" % (
            count, row["discover_wall_s"], row["ping_wall_s"], row["ratio"], TARGET_RATIO, row["peak_pss_mb"], row["services"]),
            flush=True)
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
