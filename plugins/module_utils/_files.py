# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Reading a file on a target that someone else may have planted: never blocks, never follows a
link, never reads more than a bound.

Each file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO does not block the open, a symlink
is refused), must be a regular file (``fstat``; a FIFO, a device or a socket is refused) and is
read up to LIMIT bytes (a larger one is refused, not cut). ``read_beneath`` walks a path below a
directory one component at a time, refusing a symlink at every step, so a link planted inside a
container (``/run -> /``) cannot lead the read out of the container's root.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

LIMIT = 64 * 1024
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_NOCTTY", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(OSError):
    """A path that is not a regular file of at most the allowed size; the message says what it is."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def _read_fd(fd: int, path: str, limit: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(errno.EINVAL, "%s is %s, not a regular file: not read" % (path, _kind(info.st_mode)))
    chunks, size = [], 0
    while True:
        chunk = os.read(fd, min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise UnsafeFile(errno.EFBIG, "%s is larger than %d bytes: not read" % (path, limit))
    return b"".join(chunks)


def read_bytes(path: str, limit: int = LIMIT, dir_fd: Optional[int] = None, shown: Optional[str] = None) -> bytes:
    """The bytes of the regular file PATH (relative to DIR_FD when given; SHOWN names it in errors);
    OSError (UnsafeFile for a FIFO, device, socket or an oversized file; ELOOP for a symlink) when it
    cannot be read safely."""
    fd = os.open(path, _FLAGS, dir_fd=dir_fd)
    try:
        return _read_fd(fd, shown or path, limit)
    finally:
        os.close(fd)


def read_text(path: str, limit: int = LIMIT, dir_fd: Optional[int] = None) -> str:
    """read_bytes decoded as UTF-8 (undecodable bytes replaced)."""
    return read_bytes(path, limit, dir_fd).decode("utf-8", "replace")


def read_beneath(root: str, relative: str, limit: int = LIMIT) -> bytes:
    """The bytes of RELATIVE below the directory ROOT (for example ``/proc/PID/root``), refusing a
    symlink at every component, so nothing planted below ROOT leads the read elsewhere."""
    parts = [part for part in relative.split("/") if part and part != "."]
    if not parts or ".." in parts:
        raise UnsafeFile(errno.EINVAL, "%s: not a plain relative path" % relative)
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return read_bytes(parts[-1], limit, dir_fd=fd, shown=os.path.join(root, *parts))
    finally:
        os.close(fd)
