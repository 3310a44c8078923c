"""The PTQ worker's histogram: the counts np.histogram gives for explicit equal-width edges (Paddle's
hist/KL calibration), without sorting each tensor."""
import numpy as np

from quant.ptq_worker import uniform_histogram


def test_same_counts_as_numpy_with_edges_including_boundaries_and_outliers():
    rng = np.random.default_rng(0)
    edges = np.histogram([], bins=2048, range=(0.0, 3.7))[1]          # how Paddle makes them
    values = np.abs(rng.standard_normal(200_000).astype(np.float32))
    values[:50] = edges[rng.integers(0, len(edges), 50)]              # exactly on bin edges
    values[50:60] = [0.0, 3.7, 3.7000001, 5.0, 1e9, 0, 0, 0, 0, 0]    # right edge and beyond the range
    assert np.array_equal(uniform_histogram(values, edges), np.histogram(values, bins=edges)[0])
    assert uniform_histogram(values, edges).sum() == np.histogram(values, bins=edges)[0].sum()


def test_unequal_edges_fall_back_to_numpy():
    edges = np.array([0.0, 0.1, 0.5, 2.0])
    values = np.linspace(0, 3, 1000)
    assert np.array_equal(uniform_histogram(values, edges), np.histogram(values, bins=edges)[0])
