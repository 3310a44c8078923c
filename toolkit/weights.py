"""Weights: PaddleClas pretrained (download + cache), a local ``.pdparams``, or explicit random.

Downloads are verified: a new download must load as a state dict of its architecture, then its size and
sha256 go into a record beside it (``NAME.pdparams.sha256.json``); a cached file that fails a check is
deleted, so a bad download never sticks.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .artifacts import sha256_file, write_text_atomic
from .errors import CacheUnwritable, CorruptDownload, WeightsError, WeightsUnavailable
from .zoo import ModelSpec

RANDOM, PRETRAINED, FILE = "random", "pretrained", "file"
_ORIGIN = "https://paddle-imagenet-models-name.bj.bcebos.com"


def mlite_home() -> Path:
    return Path(os.environ.get("MLITE_HOME") or Path.home() / ".cache" / "mlite")


@dataclass
class Weights:
    """Where a model's parameters come from; ``to_dict`` goes into the manifest."""

    kind: str                  # random | pretrained | file
    seed: int = 0
    path: Path | None = None   # local file (downloaded or given)
    url: str | None = None
    sha256: str | None = None

    @property
    def identity(self) -> str:
        return f"random:{self.seed}" if self.kind == RANDOM else f"sha256:{self.sha256}"

    @property
    def label(self) -> str:
        return "random weights (latency/size only)" if self.kind == RANDOM else f"{self.kind} weights"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seed": self.seed, "path": str(self.path) if self.path else None,
                "url": self.url, "sha256": self.sha256, "label": self.label}


def pretrained_url(spec: ModelSpec) -> str:
    """PaddleClas's URL for the spec's weights (SSLD ones where the name says so)."""
    import importlib
    from .paddle_env import import_paddle
    import_paddle()               # paddleclas imports paddle: quiet settings first
    urls = importlib.import_module(spec.module).MODEL_URLS
    url = urls[spec.arch]
    if spec.ssld and "_ssld" not in url:
        url = url.replace("_pretrained", "_ssld_pretrained")
    mirror = os.environ.get("MLITE_WEIGHTS_MIRROR")
    if mirror:
        url = mirror.rstrip("/") + url[len(_ORIGIN):] if url.startswith(_ORIGIN) else url
    return url


def cache_dir() -> Path:
    """Where pretrained downloads are kept."""
    return mlite_home() / "weights"


def _record_path(cached: Path) -> Path:
    return cached.with_name(cached.name + ".sha256.json")


def _unwritable(where: Path, e: OSError) -> CacheUnwritable:
    return CacheUnwritable(f"cannot write to the weights cache {str(where)!r} ({e.strerror or e}); "
                           "set MLITE_HOME to a writable directory")


class _WriteFailed(Exception):
    """An OSError from writing the cache (not from the network)."""


def _stream(url: str, f, name: str, progress, timeout: float) -> None:
    """Copy ``url``'s body into ``f``; a body shorter than its Content-Length is an error."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        task = progress.add_task(f"download {name}", total=total) if progress else None
        got = 0
        while block := r.read(1 << 16):
            try:
                f.write(block)
            except OSError as e:
                raise _WriteFailed() from e
            got += len(block)
            if progress:
                progress.advance(task, len(block))
    if total is not None and got != total:
        raise WeightsUnavailable(f"download of {url} was cut short ({got} of {total} bytes); rerun to download "
                                 "it again, or pass --weights PATH to a local .pdparams")


def _download(url: str, dest: Path, progress=None, timeout: float = 30) -> None:
    """Stream ``url`` to ``dest`` through a temp file (never leaves a partial file)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise _unwritable(dest.parent, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _stream(url, f, dest.name, progress, timeout)
        try:
            os.replace(tmp, dest)
        except OSError as e:
            raise _WriteFailed() from e
    except _WriteFailed as e:
        raise _unwritable(dest.parent, e.__cause__) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise WeightsUnavailable(
            f"cannot download pretrained weights from {url} ({reason}); offline? "
            "pass --weights PATH to a local .pdparams, or --weights random for latency/size only") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _evict(w: Weights, what: str) -> CorruptDownload:
    """Delete a bad cached download and its record; returns the error that says so."""
    try:
        w.path.unlink(missing_ok=True)
        _record_path(w.path).unlink(missing_ok=True)
    except OSError as e:
        return CorruptDownload(f"cached download of {w.url} {what}, and it cannot be removed from the cache "
                               f"({e.strerror or e}): delete {str(w.path)!r}, or set MLITE_HOME to a writable "
                               "directory, then rerun")
    return CorruptDownload(f"cached download of {w.url} {what}; removed it from the cache ({str(w.path)!r}): "
                           "rerun to download it again")


def _read_record(cached: Path) -> dict | None:
    """The cached file's size/sha256 record (None when absent or unreadable: the file is verified again)."""
    try:
        rec = json.loads(_record_path(cached).read_text())
        return {"bytes": int(rec["bytes"]), "sha256": str(rec["sha256"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(w: Weights) -> None:
    """Record a verified download's size and sha256. Best effort: a read-only cache of good files still works,
    it is just verified again next time."""
    rec = {"url": w.url, "bytes": w.path.stat().st_size, "sha256": w.sha256}
    with contextlib.suppress(OSError):
        write_text_atomic(_record_path(w.path), json.dumps(rec, indent=2) + "\n")


def _verify_download(spec: ModelSpec, w: Weights) -> None:
    """A new (or unrecorded) download must load as a state dict of ``spec``'s architecture; else it is evicted."""
    from .paddle_env import import_arch, import_paddle
    state = read_state(w)
    paddle = import_paddle()
    arch = import_arch(spec.module, spec.arch)
    with paddle.utils.unique_name.guard():
        probe = arch(pretrained=False, class_num=classifier_size(state, arch))
    problems = _mismatches(probe, state)
    if problems:
        raise _evict(w, f"does not match {spec.name} ({_summary(problems)})")


def _pretrained(spec: ModelSpec, seed: int, progress=None) -> Weights:
    """The cached download of ``spec``'s pretrained weights, downloading and verifying it when needed."""
    url = pretrained_url(spec)
    cached = cache_dir() / url.rsplit("/", 1)[-1]
    if not cached.is_file():
        with contextlib.suppress(OSError):
            _record_path(cached).unlink(missing_ok=True)     # a record without its file is stale
        _download(url, cached, progress)
    w = Weights(PRETRAINED, seed=seed, path=cached, url=url, sha256=sha256_file(cached))
    record = _read_record(cached)
    if record is None:
        _verify_download(spec, w)
        _write_record(w)
    elif record != {"bytes": cached.stat().st_size, "sha256": w.sha256}:
        raise _evict(w, "changed on disk since it was verified (size/sha256 differ from its record)")
    return w


def resolve(spec: ModelSpec, choice: str, seed: int = 0, progress=None) -> Weights:
    """Turn the user's ``--weights`` value into a local, checked source (downloading if needed)."""
    if choice == RANDOM:
        return Weights(RANDOM, seed=seed)
    if choice == PRETRAINED:
        return _pretrained(spec, seed, progress)
    path = Path(choice).expanduser()
    if path.is_dir():
        inside = sorted(path.glob("*.pdparams"))
        hint = (f"e.g. --weights {str(inside[0])!r}" if inside else "it holds no .pdparams file")
        raise WeightsError(f"--weights {str(path)!r} is a directory; pass the .pdparams file itself ({hint}), "
                           "'pretrained' or 'random'")
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist; pass an existing .pdparams, "
                           "'pretrained' or 'random' to --weights")
    if path.suffix != ".pdparams":
        raise WeightsError(f"weights file {str(path)!r} is not a .pdparams file; export Paddle weights "
                           "with paddle.save(model.state_dict(), 'x.pdparams')")
    return Weights(FILE, seed=seed, path=path.resolve(), sha256=sha256_file(path))


def read_state(weights: Weights) -> dict | None:
    """The weights' state dict (None for random weights); an unreadable cached download is evicted."""
    if weights.kind == RANDOM:
        return None
    import paddle
    try:
        state = paddle.load(str(weights.path))
    except Exception as e:  # paddle.load raises assorted errors on non-pickle data
        if weights.kind == PRETRAINED:
            raise _evict(weights, f"is corrupt (not a Paddle state dict: {type(e).__name__})") from None
        raise WeightsError(f"cannot read weights {str(weights.path)!r} ({type(e).__name__}); "
                           "it is not a valid .pdparams file") from None
    if not isinstance(state, dict):
        if weights.kind == PRETRAINED:
            raise _evict(weights, f"is corrupt (it holds a {type(state).__name__}, not a state dict)")
        raise WeightsError(f"weights {str(weights.path)!r} hold a {type(state).__name__}, not a state dict")
    return state


def classifier_size(state: dict, arch) -> int:
    """How many classes the weights' classifier has (found via the 1000-class head of ``arch``)."""
    import paddle
    with paddle.utils.unique_name.guard():
        probe = arch(pretrained=False, class_num=1000)
    heads = [k for k, v in probe.state_dict().items() if list(v.shape) == [1000]]
    if heads and heads[-1] in state:
        return int(state[heads[-1]].shape[0])
    return 1000


def _mismatches(model, state: dict) -> list[str]:
    """Keys of ``state`` missing, unexpected, or shaped unlike ``model``'s parameters."""
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    got = {k: list(getattr(v, "shape", [])) for k, v in state.items()}
    problems = [f"{k} missing" for k in expected if k not in got]
    problems += [f"{k} {got[k]} != {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
    return problems + [f"{k} unexpected" for k in got if k not in expected]


def _summary(problems: list[str]) -> str:
    return f"{len(problems)} mismatched keys, first: {'; '.join(problems[:3])}"


def check_and_set(model, state: dict | None, weights: Weights, model_name: str) -> None:
    """Every parameter must exist with the same shape; then load it into ``model``."""
    if state is None:
        return
    problems = _mismatches(model, state)
    if problems:
        raise WeightsError(f"weights {str(weights.path)!r} do not match {model_name}: {_summary(problems)}; "
                           "pass weights trained for this architecture")
    model.set_state_dict(state)


def load_into(model, weights: Weights, model_name: str) -> None:
    """Load ``weights`` into a Paddle layer, checking every parameter's shape."""
    check_and_set(model, read_state(weights), weights, model_name)
