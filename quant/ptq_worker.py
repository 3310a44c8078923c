"""Subprocess worker: PaddleSlim post-training quantization (static mode, noisy, can abort).

``python -m quant.ptq_worker JOB.json`` — the job names the source model, output dir, algorithm
and calibration batches (image files + preprocessing, or a synthetic spec). Prints a JSON line.
``python -m quant.ptq_worker --serve`` runs one job per stdin line (converters.proc.WorkerServer).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path


def calibration_batches(calib: dict, batch_size: int):
    """The calibration inputs a job names, in batches (also the default sensitivity inputs)."""
    from quant import data
    if calib["kind"] == "synthetic":
        yield from (b[0] for b in data.synthetic_batches(tuple(calib["shape"]), calib["count"], batch_size,
                                                         calib["seed"]))
        return
    pp = data.Preprocess.from_dict(calib["preprocess"])
    files = [Path(f) for f in calib["files"]]
    ds = data.ImageSet(files=files, labels=None, preprocess=pp, root=Path(calib["root"]))
    yield from (b[0] for b in ds.batches(batch_size))


def uniform_histogram(values, edges):
    """``np.histogram(values, bins=edges)[0]``, the same counts, through numpy's equal-width path when
    ``edges`` are the equal-width edges numpy itself makes (bincount instead of sorting every value)."""
    import numpy as np
    n = len(edges) - 1
    if n < 1 or not np.array_equal(edges, np.linspace(edges[0], edges[-1], n + 1)):
        return np.histogram(values, bins=edges)[0]
    # in float64, like the edges: numpy would otherwise make float32 edges for float32 values
    return np.histogram(np.asarray(values, np.float64), bins=n, range=(edges[0], edges[-1]))[0]


def fast_histogram_sampling() -> None:
    """Paddle's hist/KL calibration passes explicit bin edges to np.histogram, which then sorts each
    activation tensor (most of PTQ's time); its edges are equal-width, so count them without the sort."""
    import numpy as np
    from paddle.static.quantization import post_training_quantization as ptq, utils

    def sample_histogram(self):
        for name in self._quantized_act_var_name:
            values = utils.load_variable_data(self._scope, name)
            if values.size == 0 or name not in self._sampling_act_histogram:
                self._zero_size_var_names.add(name)
                continue
            entry = self._sampling_act_histogram[name]
            entry[0] += uniform_histogram(np.abs(values), entry[1])

    ptq.PostTrainingQuantization._sample_histogram = sample_histogram


# PaddleSlim's PTQ methods -> the phase their time counts to (written to the manifest's timings)
PHASES = {"_load_model_data": "load", "_collect_activation_abs_min_max": "min/max", "_sampling": "histograms",
          "_calculate_kl_hist_threshold": "thresholds", "_update_program": "rewrite", "save_quantized_model": "save"}


_SPENT: dict = {}          # the running job's phase seconds (the timers below add to it)


def time_phases() -> None:
    """Add each PTQ phase's seconds to ``_SPENT`` (forward passes are timed at the executor)."""
    from paddle.static.quantization import post_training_quantization as ptq

    def timed(method, label):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                _SPENT[label] = _SPENT.get(label, 0.0) + time.perf_counter() - t0
        return run

    for name, label in PHASES.items():
        method = getattr(ptq.PostTrainingQuantization, name, None)
        if method is not None:
            setattr(ptq.PostTrainingQuantization, name, timed(method, label))


_READY = []


def _prepare():
    """Import Paddle and PaddleSlim once per process, static mode, our patches (idempotent)."""
    from toolkit.paddle_env import import_paddle
    paddle = import_paddle()
    if not _READY:
        paddle.enable_static()
        fast_histogram_sampling()
        time_phases()
        _READY.append(True)
    return paddle


def run_job(job: dict) -> dict:
    """One quant_post_static run (in a fresh process, or a fork of a serving worker that has run no job)."""
    paddle = _prepare()
    from paddleslim.quant import quant_post_static

    class CalibLoader(paddle.io.DataLoader):
        """The io.DataLoader Paddle 2.6's PTQ demands, fed from our own batches (re-iterable)."""

        def __init__(self, feed_name: str, n: int):
            self.feed_name, self.n = feed_name, n

        def __iter__(self):
            for x in calibration_batches(job["calib"], job["batch_size"]):
                yield {self.feed_name: x}

        def __call__(self):
            return iter(self)

        def __len__(self):
            return self.n

    _SPENT.clear()
    n_batches = -(-job["calib"]["count"] // job["batch_size"])
    exe = paddle.static.Executor(paddle.CPUPlace())
    forward = exe.run

    def timed_forward(*args, **kwargs):
        t = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            _SPENT["forward"] = _SPENT.get("forward", 0.0) + time.perf_counter() - t
    exe.run = timed_forward
    t0 = time.perf_counter()
    noise = io.StringIO()
    with contextlib.redirect_stderr(noise), contextlib.redirect_stdout(noise):
        quant_post_static(
            exe, job["model_dir"], job["out_dir"], data_loader=CalibLoader(job["feed_name"], n_batches),
            model_filename=job["model_filename"], params_filename=job["params_filename"],
            save_model_filename="inference.pdmodel", save_params_filename="inference.pdiparams",
            batch_size=job["batch_size"], batch_nums=n_batches, algo=job["algo"],
            weight_quantize_type="channel_wise_abs_max", onnx_format=True, optimize_model=True,
            quantizable_op_type=job["op_types"], skip_tensor_list=job.get("skip_tensors") or None)
    return {"seconds": round(time.perf_counter() - t0, 3), "batches": n_batches,
            "phases_s": {k: round(v, 3) for k, v in _SPENT.items()}}


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        from converters.proc import serve

        def prepare():                  # imported once, before the jobs' forks
            import importlib
            _prepare()
            importlib.import_module("paddleslim.quant")
        return serve(run_job, prepare)
    print(json.dumps(run_job(json.loads(Path(argv[0]).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
