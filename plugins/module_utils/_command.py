# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Every external command of port_facts runs here: with ``LC_ALL=C``, a timeout, and the module's deadline.

A command that has not ended when its limit fires is killed and ``CommandTimeout`` says which
command and which limit (its own timeout, or the deadline of the whole gather). Once the
deadline has passed, no further command starts.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

ENV = {"LC_ALL": "C", "LANG": "C"}
COMMAND_TIMEOUT = 30.0
DEADLINE = 120.0


class Limits(object):
    """The per-command timeout and the deadline of the whole gather (seconds; None: no deadline)."""

    def __init__(self, command_timeout: float = COMMAND_TIMEOUT, deadline: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command_timeout = float(command_timeout)
        self.deadline = None if deadline is None else float(deadline)
        self.clock = clock
        self.end = None if deadline is None else clock() + float(deadline)

    def left(self) -> Optional[float]:
        """Seconds left until the deadline, or None without one."""
        return None if self.end is None else self.end - self.clock()


class CommandTimeout(Exception):
    """A command killed at its limit, or not started because the deadline had passed."""

    def __init__(self, shown: str, limit: float, option: str, started: bool = True, deadline: Optional[float] = None) -> None:
        self.shown = shown
        self.limit = limit
        self.option = option
        self.started = started
        self.deadline = deadline
        super(CommandTimeout, self).__init__(self.describe())

    def describe(self) -> str:
        if self.deadline is not None:
            if not self.started:
                return "%s not run: port_facts' deadline of %g s for the whole gather had passed" % (self.shown, self.deadline)
            return "%s was killed: port_facts' deadline of %g s for the whole gather was reached" % (self.shown, self.deadline)
        return "%s did not answer within %g s (port_facts' %s) and was killed" % (self.shown, self.limit, self.option)


def shown(argv: List[str]) -> str:
    """argv as the user would type it: the command's name, not its path."""
    return " ".join([os.path.basename(argv[0])] + list(argv[1:]))


def run(module: Any, argv: List[str], limits: Optional[Limits] = None, timeout: Optional[float] = None,
        option: str = "command_timeout", show: Optional[str] = None) -> Tuple[int, str, str]:
    """(rc, stdout, stderr) of ARGV, run by MODULE.run_command within TIMEOUT (default: the limits' own)
    and the deadline; raises CommandTimeout when it had to be killed or could not start."""
    limits = limits or Limits()
    limit = limits.command_timeout if timeout is None else float(timeout)
    text = show or shown(argv)
    left = limits.left()
    by_deadline = left is not None and left < limit
    if left is not None and left <= 0:
        raise CommandTimeout(text, 0, option, started=False, deadline=limits.deadline)
    bound = left if left is not None and by_deadline else limit
    fired: List[bool] = []
    timers: List[threading.Timer] = []

    def kill(proc: subprocess.Popen) -> None:
        fired.append(True)
        proc.kill()

    def start(proc: subprocess.Popen) -> None:
        timer = threading.Timer(bound, kill, (proc,))
        timer.daemon = True
        timers.append(timer)
        timer.start()

    try:
        rc, out, err = module.run_command(argv, environ_update=ENV, before_communicate_callback=start)
    finally:
        for timer in timers:
            timer.cancel()
    if fired:
        raise CommandTimeout(text, bound, option, deadline=limits.deadline if by_deadline else None)
    return rc, out, err
