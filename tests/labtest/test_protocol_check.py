# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract key ``check.protocol`` end to end: a real redis-server (Debian package, configured by
tests/lab/lab_daemons.py) listens on 5432, the port the contract declares as ``protocol: postgres``.
(protected mode: it answers every request from app1 with ``-DENIED``, which names redis).
``post_deploy`` run from app1 fails exactly on the ``protocol`` check of that service, naming what
answered; the same contract declaring ``protocol: redis`` passes."""

from __future__ import annotations

import os

import pytest
import yaml

from post_deploy_run import explain, post_deploy  # pylint: disable=import-error

pytestmark = pytest.mark.lab

REDIS = 'bind {address}\nport 5432\ndaemonize no\ndir {dir}\nsave ""\nlogfile ""\n'
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"], "ipv6": False},
    {"name": "db1", "groups": ["db"], "ipv6": False, "daemons": [{"kind": "redis", "config": REDIS, "listen": ["tcp:{address}:5432"]}]},
]}


def write_contract(lab, protocol):
    data = {"portproof_probe_timeout": 2, "portproof_services": [
        {"name": "db", "port": 5432, "allow_from": ["app"], "check": {"protocol": protocol}}]}
    os.makedirs(os.path.join(lab.workdir, "host_vars"), exist_ok=True)
    with open(os.path.join(lab.workdir, "host_vars", "db1.yml"), "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False)


def protocol_results(items):
    return [dict((key, item.get(key)) for key in ("host", "service", "check", "status", "source", "message", "expected", "actual"))
            for item in items if item["check"] == "protocol"]


def test_redis_on_the_postgres_port_fails_the_protocol_check_and_passes_when_declared(make_lab, tmp_path):
    lab = make_lab(SPEC)
    where = "%s:5432/tcp" % lab.address("db1")

    write_contract(lab, "postgres")
    proc, items = post_deploy(lab, tmp_path / "postgres")
    failing = [(i["host"], i["service"], i["check"], i["status"], i["source"]) for i in items if i["status"] in ("fail", "error")]
    assert (proc.returncode, failing) == (2, [("db1", "db", "protocol", "fail", "app1")]), explain(proc, items)
    assert protocol_results(items) == [{
        "host": "db1", "service": "db", "check": "protocol", "status": "fail", "source": "app1",
        "message": "db from app1: 5432/tcp answers as redis, not postgres", "expected": "postgres",
        "actual": "redis ('-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
                  "for the default user...')"}], explain(proc, items)

    write_contract(lab, "redis")
    proc, items = post_deploy(lab, tmp_path / "redis")
    assert (proc.returncode, [i for i in items if i["status"] in ("fail", "error")]) == (0, []), explain(proc, items)
    assert protocol_results(items) == [{
        "host": "db1", "service": "db", "check": "protocol", "status": "pass", "source": "app1",
        "message": "db from app1: 5432/tcp answers as redis", "expected": "redis", "actual": "redis"}], explain(proc, items)
