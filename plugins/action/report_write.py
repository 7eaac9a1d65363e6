# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.report_write: the whole report in one task, in the controller's process.
# Collects the results of the play, renders every file with the report renderers of plugin_utils,
# and writes them to dest (atomically, unchanged files left alone).
# It never connects to the host the task runs for: no module, no remote temporary directory.

from __future__ import annotations

import datetime
import os
import stat
import tempfile

from collections.abc import Mapping
from typing import Any, Dict, Iterator

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.portproof.validate.plugins.plugin_utils._report_console import console
from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import render_html
from ansible_collections.portproof.validate.plugins.plugin_utils._report_json import render_facts, render_json
from ansible_collections.portproof.validate.plugins.plugin_utils._report_junit import render_junit
from ansible_collections.portproof.validate.plugins.plugin_utils._report_markdown import render_markdown
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect
from ansible_collections.portproof.validate.plugins.plugin_utils._report_prometheus import render_prometheus
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

FILE_MODE = 0o644
DIR_MODE = 0o755
GENERATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The files of the report directory, in the order they are written (the facts files follow).
RENDERERS = (
    ("results.json", render_json),
    ("junit.xml", render_junit),
    ("summary.md", render_markdown),
    ("report.html", render_html),
    ("metrics.prom", render_prometheus),
)


class ReportWriteError(Exception):
    """A file or directory of the report that cannot be written: its path and the reason."""

    def __init__(self, path, reason):
        super(ReportWriteError, self).__init__("%s %s" % (path, reason))
        self.path = path
        self.reason = reason
        self.changed = False
        self.swapping = False


class _HostVariables(Mapping):
    """The variables of one host as hostvars[host] gives them (templated on access, Ansible's public interface), each
    templated once however often the report reads it (collect reads some of a host's several times)."""

    def __init__(self, variables: Mapping) -> None:
        self._variables = variables
        self._templated: Dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._templated:
            self._templated[key] = self._variables[key]
        return self._templated[key]

    def __contains__(self, key: object) -> bool:
        return key in self._variables

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)


class _HostVars(object):
    """hostvars for the report: each host's variables looked up once (Ansible computes a host's variables on each
    lookup of hostvars[host])."""

    def __init__(self, hostvars: Mapping) -> None:
        self._hostvars = hostvars
        self._seen: Dict[str, _HostVariables] = {}

    def __contains__(self, host: object) -> bool:
        return host in self._hostvars

    def __getitem__(self, host: str) -> _HostVariables:
        if host not in self._seen:
            self._seen[host] = _HostVariables(self._hostvars[host])
        return self._seen[host]


def report_files(report, hostvars, hosts_all):
    """[(path relative to the report directory, text)]: the five report files, then facts/<host>.json of every host
    of the play (the path of report["summary"]["hosts"][host]["facts"])."""
    summary = report["summary"]
    files = [(name, render(report)) for name, render in RENDERERS]
    for host in hosts_all:
        host = str(host)
        files.append((summary["hosts"][host]["facts"],
                      render_facts(host, hostvars[host] if host in hostvars else {}, generated=summary["generated"])))
    return files


def inside(report_dir, relative):
    """The absolute path of RELATIVE under REPORT_DIR; ReportWriteError if it would be outside of it."""
    path = os.path.normpath(os.path.join(report_dir, relative))
    if os.path.isabs(relative) or os.path.commonpath([report_dir, path]) != report_dir:
        raise ReportWriteError(path, "is outside the report directory (from %r)" % relative)
    return path


def _make_dirs(path, check_mode):
    """Make PATH and its missing parents with mode 0755 (not in check mode); True if any was missing."""
    missing = []
    while not os.path.isdir(path):
        if os.path.lexists(path):
            raise ReportWriteError(path, "is not a directory")
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if check_mode:
        return bool(missing)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            # made meanwhile by another writer: the same step of another host of the play (baseline_save runs for each)
            if os.path.isdir(directory):
                continue
            raise ReportWriteError(directory, "is not a directory")
        except OSError as err:
            raise ReportWriteError(directory, "cannot be made: %s" % (err.strerror or err))
        try:
            os.chmod(directory, DIR_MODE)  # whatever the umask
        except OSError as err:
            raise ReportWriteError(directory, "cannot be made: %s" % (err.strerror or err))
    return bool(missing)


def _same(path, data):
    """None if PATH does not exist, else (content equal to DATA, mode is 0644)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise ReportWriteError(path, "is not a regular file")
    if status.st_size != len(data):
        return False, stat.S_IMODE(status.st_mode) == FILE_MODE
    with open(path, "rb") as handle:
        return handle.read() == data, stat.S_IMODE(status.st_mode) == FILE_MODE


def stage_file(path, data, check_mode=False):
    """None if PATH already holds DATA with mode 0644; else (PATH, temporary): DATA written to a temporary file beside
    PATH (temporary None: only PATH's mode is to be fixed, or check mode). Nothing replaces PATH yet."""
    try:
        same = _same(path, data)
        if same == (True, True):
            return None
        if check_mode or (same is not None and same[0]):
            return path, None
        directory, name = os.path.split(path)
        handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                os.fchmod(out.fileno(), FILE_MODE)
        except BaseException:
            _unlink(temporary)
            raise
    except OSError as err:
        raise ReportWriteError(path, "cannot be written: %s" % (err.strerror or err))
    return path, temporary


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def discard(staged):
    """Remove the temporary files of STAGED ([(path, temporary)])."""
    for _path, temporary in staged:
        if temporary is not None:
            _unlink(temporary)


def swap_in(staged):
    """Put every staged file in place (a rename each, or the mode fixed); ReportWriteError naming the first that fails
    (the temporary files left are removed)."""
    for index, (path, temporary) in enumerate(staged):
        try:
            if temporary is None:
                os.chmod(path, FILE_MODE)
            else:
                os.replace(temporary, path)
        except OSError as err:
            discard(staged[index:])
            raise ReportWriteError(path, "cannot be replaced: %s" % (err.strerror or err))


def write_file(path, data, check_mode=False):
    """Write DATA (bytes) to PATH atomically with mode 0644, unless it already holds them; True if it changed
    (or would, in check mode)."""
    staged = stage_file(path, data, check_mode)
    if staged is None:
        return False
    if not check_mode:
        swap_in([staged])
    return True


def write_report(report_dir, files, check_mode=False):
    """Write FILES ([(relative path, text)]) under REPORT_DIR (an absolute, real path): (changed, absolute paths).

    The new report is written whole beside the old one first (a temporary file beside each file), then swapped in
    (one rename per file, which needs no space): a report that cannot be written whole (a full disk, a permission
    denied) replaces no file of the old one. ReportWriteError.swapping says whether some files were replaced."""
    if os.path.lexists(report_dir) and not os.path.isdir(report_dir):
        raise ReportWriteError(report_dir, "is not a directory (dest is the report directory)")
    paths = []
    for relative, text in files:
        path = inside(report_dir, relative)
        try:
            paths.append((path, to_bytes(text, errors="surrogate_or_strict")))
        except UnicodeError as err:
            raise ReportWriteError(path, "cannot be encoded as UTF-8: %s" % err)
    changed = False
    made = set()
    staged = []
    try:
        for path, data in paths:
            directory = os.path.dirname(path)
            if directory not in made:
                changed = _make_dirs(directory, check_mode) or changed
                made.add(directory)
            found = stage_file(path, data, check_mode)
            if found is not None:
                staged.append(found)
    except ReportWriteError as err:
        discard(staged)
        err.changed = changed  # the directories made before
        raise
    if staged and not check_mode:
        try:
            swap_in(staged)
        except ReportWriteError as err:
            err.changed = err.swapping = True
            raise
    return changed or bool(staged), [path for path, _data in paths]


def withdraw(report_dir, files):
    """Remove the files of the report FILES ([(relative path, text)]) that exist in REPORT_DIR: those of an earlier
    run, which must not pass for this run's. ([removed paths], [(path, reason) of those that could not be removed])."""
    removed, kept = [], []
    for relative, _text in files:
        path = os.path.normpath(os.path.join(report_dir, relative))
        if not os.path.lexists(path) or (os.path.isdir(path) and not os.path.islink(path)) \
                or os.path.commonpath([report_dir, path]) != report_dir:
            continue  # not there, or not a file of a report
        try:
            os.unlink(path)
            removed.append(path)
        except OSError as err:
            kept.append((path, err.strerror or str(err)))
    return removed, kept


def unwritten_message(report_dir, err, removed, kept):
    """What the run says when the report could not be written: why, and what became of the earlier report."""
    message = "cannot write the report to %s: %s" % (report_dir, "it " + err.reason if err.path == report_dir else err)
    if kept:
        message += ("; %d file(s) of an earlier run's report could not be removed and are NOT this run's (%s)"
                    % (len(kept), ", ".join("%s: %s" % pair for pair in kept)))
    elif removed:
        message += "; the earlier run's report there was removed (%d files), so that it cannot pass for this run's" % len(removed)
    return message


def write_or_withdraw(report_dir, files, result, check_mode):
    """Write FILES under REPORT_DIR as write_report does: (changed, absolute paths). When one cannot be written, the
    earlier run's report there is withdrawn (not in check mode), RESULT says why (failed, unwritten) and None is returned."""
    try:
        return write_report(report_dir, files, check_mode=check_mode)
    except ReportWriteError as err:
        removed, kept = ([], []) if check_mode or not os.path.isdir(report_dir) else withdraw(report_dir, files)
        result.update(failed=True, changed=err.changed or bool(removed), path=err.path, unwritten=True, removed=removed,
                      msg=unwritten_message(report_dir, err, removed, kept))
        return None


class ActionModule(StepAction):

    ARGUMENT_SPEC = {"dest": {"type": "path", "required": True}}

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        report_dir = os.path.realpath(args["dest"])
        hostvars = _HostVars(task_vars["hostvars"])
        hosts_all = [str(host) for host in task_vars["ansible_play_hosts_all"]]
        hosts_live = [str(host) for host in task_vars["ansible_play_hosts"]]
        generated = datetime.datetime.now(datetime.timezone.utc).strftime(GENERATED_FORMAT)
        report = collect(hostvars, hosts_all, hosts_live, generated=generated, report_dir=report_dir)
        files = report_files(report, hostvars, hosts_all)
        written = write_or_withdraw(report_dir, files, result, bool(self._task.check_mode))
        if written is None:
            return result
        changed, paths = written
        result.update(changed=changed, summary=report["summary"], files=paths, console=console(report, hosts_live))
        return self.quiet(result)
