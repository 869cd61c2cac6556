"""A filesystem that can only read: how connections handed to users read the warehouse's files.

DuckDB lets a connection write wherever it may read: with ``allowed_paths`` naming a partition file,
``COPY ... TO '<that file>'`` overwrites it. So the sandbox (store.sandbox) reads the partitions through
this fsspec filesystem, registered on the connection under its own protocol, and allows only those URLs:
the plain paths of the warehouse are not allowed at all, and through this protocol every write is refused.
It wraps the warehouse's own filesystem (local, or the object store's).
"""
from __future__ import annotations

from fsspec import AbstractFileSystem

from store.paths import Location, filesystem

PROTOCOL = "neuroninfo-readonly"


class ReadOnlyFileSystem(AbstractFileSystem):
    """The reads of ``fs`` (open for reading, info, listings, times); anything else raises PermissionError."""

    protocol = PROTOCOL
    cachable = False

    def __init__(self, fs: AbstractFileSystem, **kwargs):
        super().__init__(**kwargs)
        self.fs = fs

    @classmethod
    def _strip_protocol(cls, path) -> str:
        path = str(path)
        return path[len(PROTOCOL) + 3:] if path.startswith(PROTOCOL + "://") else path

    def _open(self, path, mode="rb", **kwargs):
        if mode != "rb":
            raise PermissionError(f"{path} is read-only here: neuroninfo connections never write the warehouse")
        return self.fs.open(self._strip_protocol(path), "rb", **kwargs)

    def info(self, path, **kwargs):
        return self.fs.info(self._strip_protocol(path), **kwargs)

    def ls(self, path, detail=True, **kwargs):
        return self.fs.ls(self._strip_protocol(path), detail=detail, **kwargs)

    def modified(self, path):
        return self.fs.modified(self._strip_protocol(path))

    def created(self, path):
        return self.fs.created(self._strip_protocol(path))

    def _refuse(self, *args, **kwargs):
        raise PermissionError("neuroninfo connections never write the warehouse")

    rm = rm_file = _rm = rmdir = mkdir = makedirs = mv = copy = cp_file = touch = put = put_file = pipe = pipe_file = _refuse


def readonly_url(loc: Location) -> str:
    """``loc`` spelled so that DuckDB reads it through ``ReadOnlyFileSystem``."""
    return f"{PROTOCOL}://{filesystem(loc)[1]}"
