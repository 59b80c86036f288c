"""Writing files so that a reader, or a job killed midway, never sees half of one."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Reading files that anyone could have put there (issue 19): one home for the checks.
READ_LIMIT = 64 << 20  # bytes; no file slmbench reads back by this path is anywhere near this


class UnsafeFile(OSError):
    """A file that is not a regular file, too large, or a link where none belongs."""


def read_regular(path: str | os.PathLike, limit: int = READ_LIMIT, follow: bool = False) -> bytes:
    """The bytes of a regular file, never blocking (FIFO, device) and never more than `limit`.

    Without `follow`, a symlink is refused (O_NOFOLLOW): use that for files slmbench itself writes.
    Raises FileNotFoundError, UnsafeFile (an OSError naming the file) or another OSError.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} is a symbolic link, not a file slmbench wrote") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{path} is not a regular file")
        if info.st_size > limit:
            raise UnsafeFile(f"{path} is larger than {limit} bytes")
        data = b"".join(_chunks(fd, limit))  # st_size may lie (procfs, a growing file)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafeFile(f"{path} is larger than {limit} bytes")
    return data


def _chunks(fd: int, limit: int) -> Iterator[bytes]:
    total = 0
    while total <= limit and (block := os.read(fd, 1 << 20)):
        total += len(block)
        yield block


def read_text(path: str | os.PathLike, limit: int = READ_LIMIT, follow: bool = False) -> str:
    """read_regular decoded as UTF-8; a UnicodeDecodeError is a ValueError, as for a bad JSON file."""
    return read_regular(path, limit, follow).decode("utf-8")


def private_dir(path: str | os.PathLike, what: str) -> Path:
    """`path` as a folder only this user can change: created 0700, else checked for owner and mode,
    and so is every folder above it that is not root's or a sticky one such as /tmp.

    Another user who made the folder first (a predictable name in /tmp) could swap the files in it.
    """
    try:
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)
        path = Path(path).absolute().parent.resolve() / Path(path).name  # links above it are the system's
        infos = [(p, os.lstat(p)) for p in [path, *path.parents]]
    except OSError as e:
        raise UnsafeFile(f"{what} {path} cannot be created: {e}") from None
    if not stat.S_ISDIR(infos[0][1].st_mode):
        raise UnsafeFile(f"{what} {path} is not a folder (a link or a file); remove it or choose another folder")
    info = infos[0][1]
    if info.st_uid != os.getuid():
        raise UnsafeFile(f"{what} {path} belongs to another user (uid {info.st_uid}); remove it, or choose a folder of your own")
    if info.st_mode & 0o022:
        raise UnsafeFile(f"{what} {path} can be written by other users (mode {stat.S_IMODE(info.st_mode):o}); "
                         f"run chmod go-w {path}, or choose a folder of your own")
    for folder, info in infos[1:]:
        if info.st_uid not in (os.getuid(), 0) or (info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX):
            raise UnsafeFile(f"{what} {path}: the folder {folder} above it can be changed by another user; "
                             f"choose a folder of your own")
    return path
