# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plant a change on a running lab host through the lab's API (for the demo and the molecule scenarios).

Usage (as root; DIR is the lab's directory, PORTPROOF_LAB_DIR inside ``portproof_lab.py run``)::

    python3 tests/lab/lab_plant.py --dir DIR start-service HOST '{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}'
    python3 tests/lab/lab_plant.py --dir DIR stop-service HOST postgres
    python3 tests/lab/lab_plant.py --dir DIR ns HOST -- iptables -I INPUT -s {address:app1} -p tcp --dport 5432 -j DROP
    python3 tests/lab/lab_plant.py --dir DIR podman HOST -- rm --force --time 0 web
    python3 tests/lab/lab_plant.py --dir DIR apply STEPS.yml

``{address:HOST}`` and ``{address6:HOST}`` name lab hosts' addresses in every argument. A steps
file is a list of changes applied in order, each naming its host and one action::

    - {host: db1, stop_service: postgres}
    - {host: db1, start_service: {name: postgres, user: nobody, listen: ["tcp:0.0.0.0:5432"]}}
    - {host: db1, ns: [iptables, -I, INPUT, -s, "{address:app1}", -p, tcp, --dport, "5432", -j, DROP]}
    - {host: web1, podman: [rm, --force, --time, "0", static]}
    - {host: web1, start_container: {name: static, publish: ["8081:80/tcp"]}}

What a planted service or container leaves behind is removed by the lab's tear-down like the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from portproof_lab import Lab, LabError  # noqa: E402  pylint: disable=wrong-import-position


def attach(workdir):
    lab = Lab.attach(workdir)
    lab.planned = dict((name, (entry["address"], entry["address6"])) for name, entry in lab.state["hosts"].items())
    if not lab.state["hosts"]:
        raise LabError("%s: the lab has no hosts (torn down?)" % workdir)
    return lab


ACTIONS = ("stop_service", "start_service", "ns", "podman", "start_container")


def apply(lab, steps, log=None):
    """Apply a list of steps (see the module's documentation) to a lab; LOG(text) hears about each."""
    if not isinstance(steps, list):
        raise LabError("steps: a list of changes is needed")
    for index, step in enumerate(steps):
        actions = [key for key in step if key in ACTIONS] if isinstance(step, dict) else []
        if len(actions) != 1 or set(step) - set(ACTIONS) - {"host", "why"} or step.get("host") not in lab.state["hosts"]:
            raise LabError("steps[%d]: needs a lab host and exactly one of %s, got %r" % (index, ", ".join(ACTIONS), step))
        host, action = step["host"], actions[0]
        value = step[action]
        if log:
            log("%s: %s %s" % (host, action.replace("_", " "), step.get("why") or json.dumps(value)))
        if action == "stop_service":
            if value not in lab.host(host)["services"]:
                raise LabError("steps[%d]: lab host %s runs no service %s" % (index, host, value))
            lab.stop_service(host, value)
        elif action == "start_service":
            lab.start_service(host, value)
        elif action == "start_container":
            lab.start_container(host, value)
        else:
            argv = [lab.render(str(item)) for item in value]
            (lab.ns if action == "ns" else lab.podman)(host, argv)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plant a change on a running lab host.")
    parser.add_argument("--dir", required=True, help="the lab's directory")
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start-service", help="start a service (lab description form, as JSON)")
    start.add_argument("host")
    start.add_argument("service")
    stop = sub.add_parser("stop-service", help="stop a service the lab started")
    stop.add_argument("host")
    stop.add_argument("name")
    for name, text in (("ns", "run a command in the host's network namespace"), ("podman", "run podman as the host's engine")):
        command = sub.add_parser(name, help=text)
        command.add_argument("host")
    steps = sub.add_parser("apply", help="apply the steps of a YAML file in order")
    steps.add_argument("steps")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        lab = attach(args.dir)
        if args.action == "apply":
            with open(args.steps) as handle:
                apply(lab, yaml.safe_load(handle), log=print)
            return 0
        if args.host not in lab.state["hosts"]:
            raise LabError("no lab host %s (hosts: %s)" % (args.host, ", ".join(sorted(lab.state["hosts"]))))
        if args.action == "start-service":
            service = json.loads(args.service)
            print(lab.start_service(args.host, service))
        elif args.action == "stop-service":
            if args.name not in lab.host(args.host)["services"]:
                raise LabError("lab host %s runs no service %s" % (args.host, args.name))
            lab.stop_service(args.host, args.name)
        else:
            if not rest:
                parser.error("%s needs a command after --" % args.action)
            rendered = [lab.render(item) for item in rest]
            proc = lab.ns(args.host, rendered) if args.action == "ns" else lab.podman(args.host, rendered)
            sys.stdout.write(proc.stdout)
    except (LabError, ValueError, OSError, yaml.YAMLError) as exc:
        print("lab_plant: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
