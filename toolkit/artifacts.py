"""Artifact directories: manifest, hashing, atomic writes and publication."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Iterator

from .errors import OutputError

MANIFEST = "manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def settings_key(settings: dict) -> str:
    """A stable hash of a stage's inputs and settings (decides whether a stage can be skipped)."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Artifact:
    path: str          # relative to the artifact directory
    format: str        # paddle-program | paddle-params | paddle-lite-nb | onnx
    target: str        # arm | x86 | any
    bytes: int = 0
    sha256: str = ""

    @classmethod
    def of(cls, root: Path, path: str, format: str, target: str) -> "Artifact":
        p = root / path
        return cls(path=path, format=format, target=target, bytes=p.stat().st_size, sha256=sha256_file(p))


@dataclass
class StageResult:
    """What a stage (export, quantize, distill) returns: its directory and manifest."""

    model: str
    directory: Path
    cached: bool          # an identical earlier result was reused
    manifest: dict

    def to_dict(self) -> dict:
        return {"model": self.model, "directory": str(self.directory), "cached": self.cached,
                "manifest": self.manifest}


@dataclass
class Manifest:
    stage: str
    model: str
    key: str
    settings: dict
    tools: dict
    artifacts: list[Artifact] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        known = {"stage", "model", "key", "settings", "tools", "artifacts"}
        return cls(stage=d["stage"], model=d["model"], key=d["key"], settings=d["settings"],
                   tools=d["tools"], artifacts=[Artifact(**a) for a in d["artifacts"]],
                   extra={k: v for k, v in d.items() if k not in known})

    def write(self, directory: Path) -> None:
        write_text_atomic(directory / MANIFEST, json.dumps(self.to_dict(), indent=2) + "\n")


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest, or None when absent or unreadable."""
    try:
        return Manifest.from_dict(json.loads((directory / MANIFEST).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_complete(directory: Path, key: str) -> Manifest | None:
    """The manifest if the directory was produced with ``key`` and every artifact is intact."""
    m = read_manifest(directory)
    if m is None or m.key != key:
        return None
    for a in m.artifacts:
        p = directory / a.path
        if not p.is_file() or p.stat().st_size != a.bytes or sha256_file(p) != a.sha256:
            return None
    return m


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp creates 0600; published files get normal modes
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ensure_writable_dir(path: Path, flag: str = "--out") -> Path:
    """Create ``path`` if needed and prove a file can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".mlite-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write to {flag} {str(path)!r}: {e.strerror or e}; "
                          f"pass a writable directory with {flag}") from None
    return path


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temp dir beside ``final``; on success it replaces ``final`` atomically.

    On any exception (Ctrl-C included) the temp dir is removed and ``final`` is untouched.
    """
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    os.chmod(tmp, 0o777 & ~_umask())         # mkdtemp creates 0700
    try:
        yield tmp
        publish_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``, replacing an older ``final`` only after the new one is in place."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.rmdir(old)
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
