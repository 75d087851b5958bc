"""The in-memory file-system stub of SVC module 0x4 (spec §10.4).

One instance per VM (shared by all tasks under a controller). It starts with ``/hello.txt``,
which no guest can reach because absolute paths are refused. File descriptors start at 3 and
are never reused. Pure data structure: the SVC layer (svc.py) moves bytes to and from guest
memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FS_EINVAL", "FS_ERROR", "FsStub"]

FS_ERROR = 0xFFFFFFFF  # -1: unknown fd, missing file, refused rename/delete
FS_EINVAL = 0xFFFFFFEA  # -22: FS_OPEN of a refused path


def _normalise(path: str) -> str | None:
    """Return the stub's key for ``path``, or None if the path is refused (§10.4).

    Refused: empty, contains ':', absolute, or any empty or ``..`` component; backslashes
    count as '/'.
    """
    p = path.replace("\\", "/")
    if not p or ":" in p or p.startswith("/"):
        return None
    if any(part in ("", "..") for part in p.split("/")):
        return None
    return p


@dataclass
class _Open:
    name: str
    pos: int = 0


@dataclass
class FsStub:
    """Files by name, open descriptors by number."""

    files: dict[str, bytearray] = field(default_factory=lambda: {"/hello.txt": bytearray(b"Hi from FS!\n")})
    fds: dict[int, _Open] = field(default_factory=dict)
    next_fd: int = 3

    def open(self, path: str) -> int:
        """FS_OPEN: a new fd (creating an empty file if absent), or FS_EINVAL."""
        name = _normalise(path or "/unnamed")
        if name is None:
            return FS_EINVAL
        self.files.setdefault(name, bytearray())
        fd = self.next_fd
        self.next_fd += 1
        self.fds[fd] = _Open(name)
        return fd

    def read(self, fd: int, n: int) -> bytes:
        """FS_READ: up to ``n`` bytes from the fd's position (empty for unknown fds)."""
        f = self.fds.get(fd)
        data = self.files.get(f.name) if f else None
        if f is None or data is None:
            return b""
        chunk = bytes(data[f.pos : f.pos + n])
        f.pos += len(chunk)
        return chunk

    def write(self, fd: int, payload: bytes) -> bool:
        """FS_WRITE at the fd's position, extending the file; False for unknown fds."""
        f = self.fds.get(fd)
        data = self.files.get(f.name) if f else None
        if f is None or data is None:
            return False
        end = f.pos + len(payload)
        if f.pos > len(data):
            data.extend(b"\0" * (f.pos - len(data)))
        data[f.pos : end] = payload
        f.pos = end
        return True

    def close(self, fd: int) -> int:
        """FS_CLOSE: 0, or FS_ERROR for an unknown fd."""
        return 0 if self.fds.pop(fd, None) is not None else FS_ERROR

    def listdir(self) -> bytes:
        """FS_LISTDIR: every file name, sorted, newline-joined (the path argument is ignored)."""
        return "\n".join(sorted(self.files)).encode()

    def delete(self, path: str) -> int:
        """FS_DELETE: 0 if the file existed, else FS_ERROR."""
        name = _normalise(path)
        if name is None or name not in self.files:
            return FS_ERROR
        del self.files[name]
        return 0

    def rename(self, old: str, new: str) -> int:
        """FS_RENAME: 0 if ``old`` exists and ``new`` does not, else FS_ERROR."""
        a, b = _normalise(old), _normalise(new)
        if a is None or b is None or a not in self.files or b in self.files:
            return FS_ERROR
        self.files[b] = self.files.pop(a)
        for f in self.fds.values():
            if f.name == a:
                f.name = b
        return 0
