# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Two network namespaces joined by a veth pair, for the port_probe lab tests and benchmark:
# a source host (where the module runs) and a target host (services and firewall rules). Both
# are created here with the prefix "ppprb-" and removed on close(), processes included; the root
# namespace's addresses, routes and firewall are never touched. Until the project's lab tool
# (tests/lab/) exists, this is the port_probe tests' own small lab.

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PYTHON = os.path.join(REPO, '.venv', 'bin', 'python')
HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = 'ppprb-'
SRC_ADDR = '10.250.0.1'
DST_ADDR = '10.250.0.2'


def lab_usable():
    return os.geteuid() == 0 and shutil.which('ip') is not None and shutil.which('nft') is not None


def _run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


class ProbeLab(object):
    """``with ProbeLab() as lab:`` builds ppprb-<id>-src and ppprb-<id>-dst."""

    def __init__(self, tag=None, hosts=None):
        tag = tag or uuid.uuid4().hex[:6]
        self.src = '%s%s-src' % (PREFIX, tag)
        self.dst = '%s%s-dst' % (PREFIX, tag)
        self.hosts = hosts or {}
        self.procs = []
        self.etc_dirs = []
        self.made_etc_netns = False

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _build(self):
        for name in (self.src, self.dst):
            _run(['ip', 'netns', 'add', name])
            _run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
        # Created inside the source namespace, the peer moved straight into the target one:
        # the pair never appears in the root namespace.
        _run(['ip', '-n', self.src, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', self.dst])
        _run(['ip', '-n', self.src, 'addr', 'add', SRC_ADDR + '/24', 'dev', 'veth0'])
        _run(['ip', '-n', self.dst, 'addr', 'add', DST_ADDR + '/24', 'dev', 'veth1'])
        _run(['ip', '-n', self.src, 'link', 'set', 'veth0', 'up'])
        _run(['ip', '-n', self.dst, 'link', 'set', 'veth1', 'up'])
        # The source host's own name service: a hosts file and a resolver on its loopback that
        # answers nothing, so that unknown names fail here without any query leaving the lab.
        if not os.path.isdir('/etc/netns'):
            os.makedirs('/etc/netns')
            self.made_etc_netns = True
        etc = os.path.join('/etc/netns', self.src)
        os.makedirs(etc)
        self.etc_dirs.append(etc)
        with open(os.path.join(etc, 'hosts'), 'w') as handle:
            handle.write('127.0.0.1 localhost\n')
            for name, address in sorted(self.hosts.items()):
                handle.write('%s %s\n' % (address, name))
        with open(os.path.join(etc, 'resolv.conf'), 'w') as handle:
            handle.write('nameserver 127.0.0.1\noptions timeout:1 attempts:1\n')
        self._wait_link()

    def _wait_link(self):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            states = [json.loads(_run(['ip', '-n', name, '-j', 'link', 'show', dev]).stdout)[0].get('operstate')
                      for name, dev in ((self.src, 'veth0'), (self.dst, 'veth1'))]
            if states == ['UP', 'UP']:
                return
            time.sleep(0.05)
        raise RuntimeError('the lab link %s <-> %s did not come up' % (self.src, self.dst))

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name in (self.src, self.dst):
            # Anything still running inside a namespace of ours was started by this lab.
            out = subprocess.run(['ip', 'netns', 'pids', name], capture_output=True, text=True, check=False).stdout
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(['ip', 'netns', 'del', name], capture_output=True, check=False)
        for etc in self.etc_dirs:
            shutil.rmtree(etc, ignore_errors=True)
        if self.made_etc_netns:
            try:
                os.rmdir('/etc/netns')
            except OSError:
                pass  # someone else put a namespace configuration there meanwhile

    # -- inside the namespaces --------------------------------------------------------------------

    def run_src(self, argv, **kwargs):
        return subprocess.run(['ip', 'netns', 'exec', self.src] + list(argv), capture_output=True, text=True, check=False, **kwargs)

    def run_dst(self, argv, **kwargs):
        return subprocess.run(['ip', 'netns', 'exec', self.dst] + list(argv), capture_output=True, text=True, check=False, **kwargs)

    def firewall(self, rules):
        """Load an nft ruleset (text) into the target namespace."""
        proc = subprocess.run(['ip', 'netns', 'exec', self.dst, 'nft', '-f', '-'], input=rules, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError('nft -f failed in %s: %s' % (self.dst, proc.stderr))

    def services(self, config):
        """Start probe_services.py in the target namespace and wait until it listens."""
        proc = subprocess.Popen(['ip', 'netns', 'exec', self.dst, PYTHON, os.path.join(HERE, 'probe_services.py'), json.dumps(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        line = proc.stdout.readline()
        if line.strip() != 'ready':
            raise RuntimeError('probe_services did not start: %s %s' % (line, proc.stderr.read() if proc.poll() is not None else ''))
        return proc

    def spawn_dst(self, argv):
        proc = subprocess.Popen(['ip', 'netns', 'exec', self.dst] + list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def probe(self, params, python=PYTHON, timeout=120):
        """Run the module's layer in the source namespace; returns (result, wall seconds)."""
        began = time.monotonic()
        proc = self.run_src([python, os.path.join(HERE, 'probe_runner.py')], input=json.dumps(params), timeout=timeout)
        wall = time.monotonic() - began
        if proc.returncode != 0:
            raise RuntimeError('probe_runner failed (%d): %s' % (proc.returncode, proc.stderr))
        return json.loads(proc.stdout), wall


if __name__ == '__main__':
    sys.exit('import this module')
