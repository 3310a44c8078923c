"""The one label rule: which integer label each class folder gets (eval, distill, QAT, study, fine-tuning),
and the class names a model mlite trained carries with it (``NAME.classes.txt`` beside its weights, then
``class_names`` in every manifest made from them)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import MliteError


class LabelError(MliteError):
    """Class folders or a class list that cannot be mapped to labels."""


_CLASS_ID = re.compile(r"[0-9]+")      # ASCII digits only: '²' or '١' pass str.isdigit() but are names here


def _is_id(name: str) -> bool:
    return _CLASS_ID.fullmatch(name) is not None


@dataclass(frozen=True)
class ClassMap:
    """Class folder names -> integer labels, and the rule that assigned them.

    ``recorded``: the model's own class list (mlite trained or fine-tuned it and stored the names);
    ``ids``: every folder is an ASCII number, which is its class id (ImageNet's convention: ``10`` is class 10);
    ``sorted``: other names, labelled in sorted order (ImageNet's synset folders);
    ``dense``: a new head is trained on these folders: labels 0..K-1 in numeric-then-name order."""

    labels: dict[str, int]
    rule: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.labels, key=lambda n: (self.labels[n], n)))


def _natural(name: str) -> tuple:
    return (0, int(name), name) if _is_id(name) else (1, 0, name)


def class_map(folders: set[str], known: Sequence[str] | None = None, dense: bool = False) -> ClassMap:
    """The one label rule (eval, distill, QAT, study and fine-tuning all use it); see ``ClassMap``."""
    if known is not None:
        known = list(known)
        unknown = sorted(folders - set(known), key=_natural)
        if unknown:
            shown = ", ".join(repr(n) for n in known[:6]) + (", ..." if len(known) > 6 else "")
            raise LabelError(f"class folder(s) {', '.join(repr(n) for n in unknown[:3])} are not among the "
                            f"{len(known)} classes the model was trained on ({shown}); rename or remove them")
        return ClassMap({n: known.index(n) for n in folders}, "recorded")
    if dense:
        return ClassMap({n: i for i, n in enumerate(sorted(folders, key=_natural))}, "dense")
    if folders and all(_is_id(n) for n in folders):
        by_id: dict[int, list[str]] = {}
        for n in folders:
            by_id.setdefault(int(n), []).append(n)
        clash = next((sorted(v) for v in by_id.values() if len(v) > 1), None)
        if clash:
            raise LabelError(f"class folders {clash[0]!r} and {clash[1]!r} are both class {int(clash[0])}; "
                            "rename one (folders named by numbers are class ids)")
        return ClassMap({n: int(n) for n in folders}, "ids")
    return ClassMap({n: i for i, n in enumerate(sorted(folders))}, "sorted")


def class_names_file(weights: Path) -> Path:
    """Where a trained model's class names live: ``NAME.classes.txt`` beside ``NAME.pdparams``."""
    weights = Path(weights)
    return weights.with_name(weights.name.removesuffix(".pdparams") + ".classes.txt")


def write_class_names(weights: Path, names: Sequence[str]) -> Path:
    """Record the class names (line i = label i) of the weights mlite trained."""
    from .artifacts import write_text_atomic
    path = class_names_file(weights)
    write_text_atomic(path, "".join(f"{n}\n" for n in names))
    return path


def read_class_names(weights: Path) -> list[str] | None:
    """The class names recorded beside ``weights``, or None."""
    path = class_names_file(weights)
    if not path.is_file():
        return None
    names = path.read_text().splitlines()
    if not names or len(set(names)) != len(names) or any(not n or "/" in n for n in names):
        raise LabelError(f"{str(path)!r} is not a class list (one distinct folder name per line, line i = class i); "
                        "fix or remove it")
    return names
