"""Weights: PaddleClas pretrained (download + cache), a local ``.pdparams``, or explicit random."""
from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .artifacts import sha256_file
from .errors import WeightsError, WeightsUnavailable
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
    urls = importlib.import_module(spec.module).MODEL_URLS
    url = urls[spec.arch]
    if spec.ssld and "_ssld" not in url:
        url = url.replace("_pretrained", "_ssld_pretrained")
    mirror = os.environ.get("MLITE_WEIGHTS_MIRROR")
    if mirror:
        url = mirror.rstrip("/") + url[len(_ORIGIN):] if url.startswith(_ORIGIN) else url
    return url


def _download(url: str, dest: Path, progress=None, timeout: float = 30) -> None:
    """Stream ``url`` to ``dest`` through a temp file (never leaves a partial file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0) or None
            task = progress.add_task(f"download {dest.name}", total=total) if progress else None
            while block := r.read(1 << 16):
                f.write(block)
                if progress:
                    progress.advance(task, len(block))
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise WeightsUnavailable(
            f"cannot download pretrained weights from {url} ({reason}); offline? "
            "pass --weights PATH to a local .pdparams, or --weights random for latency/size only") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def resolve(spec: ModelSpec, choice: str, seed: int = 0, progress=None) -> Weights:
    """Turn the user's ``--weights`` value into a local, checked source (downloading if needed)."""
    if choice == RANDOM:
        return Weights(RANDOM, seed=seed)
    if choice == PRETRAINED:
        url = pretrained_url(spec)
        cached = mlite_home() / "weights" / url.rsplit("/", 1)[-1]
        if not cached.is_file():
            _download(url, cached, progress)
        return Weights(PRETRAINED, seed=seed, path=cached, url=url, sha256=sha256_file(cached))
    path = Path(choice).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist; pass an existing .pdparams, "
                           "'pretrained' or 'random' to --weights")
    if path.suffix != ".pdparams":
        raise WeightsError(f"weights file {str(path)!r} is not a .pdparams file; export Paddle weights "
                           "with paddle.save(model.state_dict(), 'x.pdparams')")
    return Weights(FILE, seed=seed, path=path.resolve(), sha256=sha256_file(path))


def read_state(weights: Weights) -> dict | None:
    """The weights' state dict (None for random weights)."""
    if weights.kind == RANDOM:
        return None
    import paddle
    try:
        state = paddle.load(str(weights.path))
    except Exception as e:  # paddle.load raises assorted errors on non-pickle data
        if weights.kind == PRETRAINED:
            with contextlib.suppress(OSError):
                weights.path.unlink()  # a corrupt cache entry must not stick
        raise WeightsError(f"cannot read weights {str(weights.path)!r} ({type(e).__name__}); "
                           "it is not a valid .pdparams file") from None
    if not isinstance(state, dict):
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


def check_and_set(model, state: dict | None, weights: Weights, model_name: str) -> None:
    """Every parameter must exist with the same shape; then load it into ``model``."""
    if state is None:
        return
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    got = {k: list(getattr(v, "shape", [])) for k, v in state.items()}
    problems = [f"{k} missing" for k in expected if k not in got]
    problems += [f"{k} {got[k]} != {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
    problems += [f"{k} unexpected" for k in got if k not in expected]
    if problems:
        raise WeightsError(f"weights {str(weights.path)!r} do not match {model_name}: "
                           f"{len(problems)} mismatched keys, first: {'; '.join(problems[:3])}; "
                           "pass weights trained for this architecture")
    model.set_state_dict(state)


def load_into(model, weights: Weights, model_name: str) -> None:
    """Load ``weights`` into a Paddle layer, checking every parameter's shape."""
    check_and_set(model, read_state(weights), weights, model_name)
