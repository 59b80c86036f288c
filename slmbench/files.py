"""Writing files so that a reader, or a job killed midway, never sees half of one."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


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


def open_regular(path: str | os.PathLike, follow: bool = True) -> BinaryIO:
    """A regular file opened for reading in binary, never blocking on a FIFO or a device.

    Without `follow`, a symlink is refused (O_NOFOLLOW): use that for files slmbench itself writes.
    Raises FileNotFoundError, UnsafeFile (an OSError naming the file) or another OSError.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow:
            raise UnsafeFile(f"{path} is a symbolic link, not a file slmbench wrote") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int = READ_LIMIT, follow: bool = False) -> bytes:
    """The bytes of a regular file (as open_regular opens it), never more than `limit`."""
    with open_regular(path, follow) as f:
        if os.fstat(f.fileno()).st_size > limit or len(data := f.read(limit + 1)) > limit:
            raise UnsafeFile(f"{path} is larger than {limit} bytes")
    return data


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
