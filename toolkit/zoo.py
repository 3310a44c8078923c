"""The model zoo: PaddleClas's 37 mobile models with their published SD855 numbers."""
from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, asdict
from functools import lru_cache
from importlib import resources

from .errors import InvalidName, UnknownModel

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

# Family prefix -> paddleclas backbone module that defines the architecture.
FAMILIES = {
    "MobileNetV1": "paddleclas.ppcls.arch.backbone.legendary_models.mobilenet_v1",
    "MobileNetV2": "paddleclas.ppcls.arch.backbone.model_zoo.mobilenet_v2",
    "MobileNetV3": "paddleclas.ppcls.arch.backbone.legendary_models.mobilenet_v3",
    "ShuffleNetV2": "paddleclas.ppcls.arch.backbone.model_zoo.shufflenet_v2",
    "GhostNet": "paddleclas.ppcls.arch.backbone.model_zoo.ghostnet",
}

# Zoo names whose architecture function in paddleclas has another name.
_ARCH_ALIASES = {"ShuffleNetV2": "ShuffleNetV2_x1_0"}


@dataclass(frozen=True)
class Reference:
    """PaddleClas's published numbers (None where the seed table is empty)."""

    top1: float | None
    top5: float | None
    flops_g: float | None
    params_m: float | None
    sd855_ms_bs1: float | None
    sd855_ms_t1: float | None
    sd855_ms_t2: float | None
    sd855_ms_t4: float | None
    storage_mb: float | None


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry: which architecture, which weights, which precision."""

    name: str
    family: str
    arch: str          # paddleclas architecture function
    ssld: bool         # PaddleClas SSLD-distilled weights
    int8: bool         # the published row is an INT8 model
    module: str        # paddleclas module that defines ``arch``
    reference: Reference

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, 224, 224)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def _num(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _spec_from_row(row: dict) -> ModelSpec:
    name = row["model"]
    base = name
    int8 = base.endswith("_int8")
    base = base.removesuffix("_int8")
    ssld = base.endswith("_ssld")
    base = base.removesuffix("_ssld")
    family = next(f for f in FAMILIES if base.startswith(f))
    ref = Reference(**{k: _num(v) for k, v in row.items() if k != "model"})
    return ModelSpec(name=name, family=family, arch=_ARCH_ALIASES.get(base, base), ssld=ssld,
                     int8=int8, module=FAMILIES[family], reference=ref)


@lru_cache(maxsize=1)
def registry() -> dict[str, ModelSpec]:
    """All zoo entries by name, in the seed table's order."""
    text = resources.files("toolkit").joinpath("data/paddleclas_mobile_sd855.csv").read_text()
    return {row["model"]: _spec_from_row(row) for row in csv.DictReader(text.splitlines())}


def validate_name(name: str) -> str:
    """Reject names that could escape a directory or a shell word."""
    if not _NAME_RE.match(name or ""):
        raise InvalidName(
            f"invalid model name {name!r}: names are letters, digits and '_' only "
            "(no '/', '..', spaces or quotes); run 'mlite models' for the list")
    return name


def get(name: str) -> ModelSpec:
    """The spec for ``name``, or UnknownModel with the closest names."""
    validate_name(name)
    reg = registry()
    if name in reg:
        return reg[name]
    by_lower = {k.lower(): k for k in reg}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    hint = ("did you mean " + ", ".join(by_lower[c] for c in close) + "?") if close \
        else "run 'mlite models' for the list"
    raise UnknownModel(f"unknown model {name!r}: not one of the {len(reg)} PaddleClas mobile models; {hint}")
