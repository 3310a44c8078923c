import numpy as np
import pytest

from toolkit import parity
from toolkit.errors import ParityError


def test_compare_relative_to_output_scale():
    ref = np.array([[1e-6, -2e-6, 3e-6]])
    c = parity.compare("x", ref, ref + 1e-12)
    assert c.ok and c.top1_match and c.relative == pytest.approx(1e-12 / 3e-6)
    bad = parity.compare("x", ref, ref + np.array([[0, 0, 1e-9]]))
    assert not bad.ok and bad.relative > 1e-4


def test_require_fails_loudly_with_backend_and_numbers():
    ref = np.array([[1.0, 2.0]])
    checks = [parity.compare("onnxruntime", ref, ref), parity.compare("paddle-lite-x86", ref, ref * 1.01)]
    with pytest.raises(ParityError, match=r"paddle-lite-x86 output differs .* tolerance 0.0001"):
        parity.require(checks, "M")
    parity.require(checks[:1], "M")


def test_fixed_input_is_deterministic():
    a, b = parity.fixed_input((1, 3, 8, 8)), parity.fixed_input((1, 3, 8, 8))
    assert a.dtype == np.float32 and np.array_equal(a, b)
