"""A filesystem that can only read: how connections handed to users read the warehouse's files.

DuckDB lets a connection write wherever it may read: with ``allowed_paths`` naming a partition file,
``COPY ... TO '<that file>'`` overwrites it. So the sandbox (store.sandbox) reads the partitions through
this fsspec filesystem, registered on the connection under its own protocol, and allows only those URLs:
the plain paths of the warehouse are not allowed at all, and through this protocol every write is refused.
It wraps the warehouse's own filesystem (local, or the object store's).
"""
from __future__ import annotations

import io
import threading
import time

from fsspec import AbstractFileSystem

from store.paths import Location, filesystem

PROTOCOL = "neuroninfo-readonly"


class ThreadSafeReader(io.RawIOBase):
    """A read-only file that several threads may seek and read at once.

    DuckDB's Python filesystem bridge reads at an offset as two calls, ``seek`` then ``read``, and its Parquet
    reader scans row groups of one file from several threads through one handle: with a plain file object one
    thread's seek moves the other's read (wrong bytes: "ZSTD Decompression failure", "Invalid data"). Here each
    thread has its own position, and the seek-and-read on the shared file happens under a lock.
    """

    def __init__(self, file):
        super().__init__()
        self._file = file
        self._lock = threading.Lock()
        self._position = threading.local()
        self._size = file.seek(0, io.SEEK_END)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return getattr(self._position, "offset", 0)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell(), io.SEEK_END: self._size}[whence]
        self._position.offset = start + offset
        return self._position.offset

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            self._file.seek(self.tell())
            data = self._file.read(size if size is not None and size >= 0 else self._size)
        self._position.offset = self.tell() + len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class ReadOnlyFileSystem(AbstractFileSystem):
    """The reads of ``fs`` (open for reading, info, listings, times); anything else raises PermissionError.

    DuckDB asks for a file's glob, info and time each time a view that reads it is bound (dozens of times while a
    connection's views are created): the answers are kept for ``MEMORY_S`` seconds (a file that changes is replaced
    whole, under a new inode, and then read afresh)."""

    protocol = PROTOCOL
    cachable = False
    MEMORY_S = 10.0

    def __init__(self, fs: AbstractFileSystem, **kwargs):
        super().__init__(**kwargs)
        self.fs = fs
        self._answers: dict[tuple[str, str], tuple[float, object]] = {}
        self._answers_lock = threading.Lock()

    def _remembered(self, kind: str, path: str, ask):
        now = time.monotonic()
        with self._answers_lock:
            found = self._answers.get((kind, path))
        if found is not None and now - found[0] < self.MEMORY_S:
            return found[1]
        answer = ask()
        with self._answers_lock:
            self._answers[(kind, path)] = (now, answer)
        return answer

    def glob(self, path, maxdepth=None, **kwargs):
        stripped = self._strip_protocol(path)
        if any(c in stripped for c in "*?["):
            return super().glob(path, maxdepth=maxdepth, **kwargs)
        return list(self._remembered("glob", stripped, lambda: super(ReadOnlyFileSystem, self).glob(path, **kwargs)))

    @classmethod
    def _strip_protocol(cls, path) -> str:
        path = str(path)
        return path[len(PROTOCOL) + 3:] if path.startswith(PROTOCOL + "://") else path

    def _open(self, path, mode="rb", **kwargs):
        if mode != "rb":
            raise PermissionError(f"{path} is read-only here: neuroninfo connections never write the warehouse")
        return ThreadSafeReader(self.fs.open(self._strip_protocol(path), "rb", **kwargs))

    def info(self, path, **kwargs):
        stripped = self._strip_protocol(path)
        return dict(self._remembered("info", stripped, lambda: self.fs.info(stripped, **kwargs)))

    def ls(self, path, detail=True, **kwargs):
        return self.fs.ls(self._strip_protocol(path), detail=detail, **kwargs)

    def modified(self, path):
        stripped = self._strip_protocol(path)
        return self._remembered("modified", stripped, lambda: self.fs.modified(stripped))

    def created(self, path):
        return self.fs.created(self._strip_protocol(path))

    def _refuse(self, *args, **kwargs):
        raise PermissionError("neuroninfo connections never write the warehouse")

    rm = rm_file = _rm = rmdir = mkdir = makedirs = mv = copy = cp_file = touch = put = put_file = pipe = pipe_file = _refuse


def readonly_url(loc: Location) -> str:
    """``loc`` spelled so that DuckDB reads it through ``ReadOnlyFileSystem``."""
    return f"{PROTOCOL}://{filesystem(loc)[1]}"
