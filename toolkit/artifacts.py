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

from .errors import CorruptFile, MliteError, OutputError
from .signals import held

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
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "directory": str(self.directory), "cached": self.cached,
                "manifest": self.manifest, "warnings": self.warnings}


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


def companions(model_file: Path) -> list[Path]:
    """The files a model needs: an ncnn ``.param`` also its ``.bin``."""
    model_file = Path(model_file)
    if model_file.suffix == ".param":
        return [model_file, model_file.with_suffix(".bin")]
    return [model_file]


def model_sha(model_file: Path) -> str:
    """sha256 of the model (of its files' hashes for several files)."""
    shas = [sha256_file(f) for f in companions(model_file)]
    return shas[0] if len(shas) == 1 else hashlib.sha256("".join(shas).encode()).hexdigest()


def precision_label(md: dict, fallback: str = "fp32") -> str:
    """fp32 / fp16 / int8 from a manifest's dict, or int8-mixed when it keeps some layers in FP32."""
    p = md.get("precision") or fallback
    return "int8-mixed" if p == "int8" and md.get("fp32_layers") else p


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest, or None when there is none; CorruptFile when it cannot be read."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        m = Manifest.from_dict(json.loads(path.read_text()))
        if not (isinstance(m.key, str) and isinstance(m.settings, dict) and isinstance(m.model, str)):
            raise TypeError("wrong field types")
        return m
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise CorruptFile(f"{str(path)!r} is corrupt or unreadable ({why}); rerun the command that wrote it "
                          "(e.g. 'mlite export') or move the directory away") from None


def _damaged(directory: Path, a: "Artifact") -> str | None:
    """Why the artifact's file is not the one the manifest records, or None when it is."""
    p = Path(directory) / a.path
    if not p.is_file():
        return "is missing"
    size = p.stat().st_size
    if size != a.bytes:
        return f"has {size} bytes, the manifest records {a.bytes}"
    if a.sha256 and sha256_file(p) != a.sha256:
        return "does not have the sha256 the manifest records"
    return None


def read_verified(directory: Path) -> Manifest | None:
    """The manifest of a model directory every command reads from, after checking that each file it lists is
    the one it recorded (size and sha256); None when there is no manifest. A mismatch is CorruptFile: a
    damaged or replaced file is never measured, evaluated, quantized, packaged or pushed."""
    m = read_manifest(directory)
    if m is None:
        return None
    for a in m.artifacts:
        why = _damaged(directory, a)
        if why:
            again = {"export": f"mlite export --model {m.model}", "fp16": "mlite export --precision fp16",
                     "quantize": "mlite quantize"}.get(m.stage, f"mlite {m.stage}")
            raise CorruptFile(f"{str(Path(directory) / a.path)!r} {why}: it was damaged or replaced after mlite "
                              f"wrote it; re-export it ('{again} ...' into a fresh --out)")
    return m


def refuse_artifact_target(path: Path, flag: str) -> None:
    """A file a command writes on request (``report -o``, ``--plot``) never replaces what mlite wrote in a model
    directory: its manifest, an artifact it lists, a stored result under ``bench/``."""
    p = Path(os.path.abspath(path))
    name = "report.png" if flag == "--plot" else "report.md"
    if p.is_dir():
        raise MliteError(f"{flag} {str(path)!r} is a directory: give a file name, e.g. {str(Path(path) / name)!r}")
    for d in (p.parent, p.parent.parent):
        if not (d / MANIFEST).is_file():
            continue
        rel = p.relative_to(d)
        try:
            m = read_manifest(d)
            owned = {a.path for a in m.artifacts} if m else set()
        except CorruptFile:
            owned = {rel.as_posix()} if p.exists() else set()
        if rel.as_posix() in owned | {MANIFEST} or rel.parts[0] in ("bench", SUPERSEDED):
            raise MliteError(f"{flag} {str(path)!r} would overwrite {rel.as_posix()!r} of the model directory "
                             f"{str(d)!r}, which mlite wrote and reads back; write the report elsewhere, e.g. "
                             f"{flag} {str(d / name)!r}")


def is_complete(directory: Path, key: str) -> Manifest | None:
    """The manifest if the directory was produced with ``key`` and every artifact is intact."""
    try:
        m = read_manifest(directory)
    except CorruptFile:
        return None
    if m is None or m.key != key:
        return None
    if any(_damaged(directory, a) for a in m.artifacts):
        return None
    return m


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name ``path`` in OSErrors raised while writing it (a failed ``write`` says ENOSPC but not where)."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with writing(path), os.fdopen(fd, "w") as f:
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:                                   # a killed child not yet reaped (a zombie) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _pid_after(name: str, marker: str) -> int | None:
    """The PID in ``...{marker}PID-XXXX`` (None when there is none, e.g. a name from an older version)."""
    rest = name.split(marker, 1)[1] if marker in name else ""
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() and "-" in rest else None


def remove_stale(parent: Path, pattern: str, marker: str, without_pid: bool = False) -> list[Path]:
    """Remove leftovers (``pattern`` in ``parent``) whose creating process is gone: what a SIGKILL, a power
    cut or an older version left behind. Directories of live processes are kept; names without a PID are
    removed only when ``without_pid``."""
    removed = []
    try:
        candidates = list(Path(parent).glob(pattern))
    except OSError:
        return removed
    for p in candidates:
        pid = _pid_after(p.name, marker)
        if (pid is None and not without_pid) or pid == os.getpid() or (pid is not None and _pid_alive(pid)):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed


def sweep_staging(parent: Path) -> list[Path]:
    """Remove every artifact staging leftover in ``parent`` whose process is gone (e.g. worker processes
    killed by a stop before they could clean up)."""
    return remove_stale(parent, ".*.partial-*", ".partial-") + remove_stale(parent, ".*.old-*", ".old-")


def temp_dir(kind: str) -> tempfile.TemporaryDirectory:
    """A scratch directory ``$TMPDIR/mlite-KIND-PID-XXXX``, removed on exit (Ctrl-C and SIGTERM included);
    scratch directories of dead mlite processes (same kind) are swept first."""
    if not kind.isalnum():
        raise ValueError(f"temp_dir kind must be alphanumeric: {kind!r}")
    remove_stale(Path(tempfile.gettempdir()), f"mlite-{kind}-*", f"mlite-{kind}-")
    return _ScratchDir(prefix=f"mlite-{kind}-{os.getpid()}-")


class _ScratchDir(tempfile.TemporaryDirectory):
    """A TemporaryDirectory whose removal a signal cannot cut short (it would leave the rest behind)."""

    def cleanup(self) -> None:
        with held():
            super().cleanup()


SUPERSEDED = "superseded"     # earlier results of a replaced artifact: OUT/NAME/superseded/KEY/


def check_replace(final: Path, stage: str, owner: dict | None = None) -> str | None:
    """May ``stage`` publish to ``final``? Never over another kind of artifact, a foreign folder or the result
    of another source (``owner``: manifest keys that must match); returns a note when an earlier result of the
    same kind is replaced."""
    if not final.exists() and not final.is_symlink():
        return None
    if not final.is_dir():
        raise OutputError(f"{str(final)!r} exists and is not a directory; mlite {stage} does not replace it: "
                          "move it away or pass another --out")
    try:
        m = read_manifest(final)
    except CorruptFile:
        raise OutputError(f"{str(final)!r} has a corrupt manifest.json, so what it holds is unknown; it is not "
                          "replaced: move it away or pass another --out") from None
    if m is None:
        if not any(final.iterdir()):
            return None
        raise OutputError(f"{str(final)!r} is not an mlite {stage} result (no readable manifest.json); it is not "
                          "replaced: move it away or pass another --out")
    if m.stage != stage:
        raise OutputError(f"{str(final)!r} holds the {m.stage} result of {m.model}; mlite {stage} does not replace "
                          "another kind of artifact: pass another --out or move it away")
    d = m.to_dict()
    for key, want in (owner or {}).items():
        have = _dig(d, key)
        if have is not None and have != want:
            raise OutputError(f"{str(final)!r} holds the {stage} result of another source ({key} {have!r}, this "
                              f"run: {want!r}); it is not replaced: pass another --out")
    return f"replaced the earlier {stage} result in {str(final)!r} (other settings)"


def _dig(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def _carry_results(final: Path, tmp: Path) -> None:
    """Results stored beside a replaced artifact (bench/) move to tmp/superseded/OLDKEY/ with its manifest."""
    bench = final / "bench"
    try:
        m = read_manifest(final)
    except CorruptFile:
        return
    if m is None or not bench.is_dir() or not any(bench.iterdir()):
        return
    dest = tmp / SUPERSEDED / m.key[:12]
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(final / MANIFEST, dest / MANIFEST)
    shutil.copytree(bench, dest / "bench", dirs_exist_ok=True)
    old = final / SUPERSEDED
    if old.is_dir():
        shutil.copytree(old, tmp / SUPERSEDED, dirs_exist_ok=True)


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temp dir beside ``final``; on success it replaces ``final`` atomically.

    On any exception (Ctrl-C and SIGTERM included) the temp dir is removed and ``final`` is untouched;
    leftovers of killed runs (``.NAME.partial-PID-*``, ``.NAME.old-PID-*``) are removed first. Results
    stored in the replaced directory are kept under ``superseded/``.
    """
    remove_stale(final.parent, f".{final.name}.partial-*", ".partial-", without_pid=True)
    remove_stale(final.parent, f".{final.name}.old-*", ".old-", without_pid=True)
    tmp = None
    try:
        with held():                          # a signal is raised after, never between, these steps
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-{os.getpid()}-"))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        yield tmp
        with held():                          # all or nothing: the renames of publish_dir are not split
            if final.is_dir():
                _carry_results(final, tmp)
            publish_dir(tmp, final)
    finally:
        if tmp is not None:
            with held():
                shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``, replacing an older ``final`` only after the new one is in place."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-{os.getpid()}-"))
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
