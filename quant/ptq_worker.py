"""Subprocess worker: PaddleSlim post-training quantization (static mode, noisy, can abort).

``python -m quant.ptq_worker JOB.json`` — the job names the source model, output dir, algorithm
and calibration batches (image files + preprocessing, or a synthetic spec). Prints a JSON line.
``python -m quant.ptq_worker --serve`` runs one job per stdin line (converters.proc.WorkerServer);
``--plain JOB.json`` runs without our speed-ups (SPEEDUPS), to check they change no byte.
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


def fast_graph_links() -> None:
    """PaddleSlim's program rewrite links nodes through IrGraph.link_to / update_input_link, which first
    check that each node is in the graph by building a Python set of all its nodes: per link, so the
    rewrite grows with the square of the graph (40% of its time for MobileNetV2). The same links,
    without the check (the pass only links nodes it just found in or added to that graph)."""
    from paddle.base.framework import IrGraph

    def link_to(self, node_in, node_out):
        node_in.append_output(node_out)
        node_out.append_input(node_in)

    def update_input_link(self, old_input_node, new_input_node, op_node):
        old_input_node.remove_output(op_node)
        op_node.remove_input(old_input_node)
        link_to(self, new_input_node, op_node)
        op_node.rename_input(old_input_node.name(), new_input_node.name())

    IrGraph.link_to, IrGraph.update_input_link = link_to, update_input_link


def fast_persistable_lookup() -> None:
    """The rewrite's quantize/dequantize insertion asks IrGraph.all_persistable_nodes twice per inserted op
    (is there a scale / zero point variable yet?), and each call walks the whole graph. Inside that pass
    the set changes only through create_persistable_node (the new node is added to the kept set) and
    safe_remove_nodes (the set is read again): keep it during the pass."""
    from paddle.base.framework import IrGraph
    from paddle.static.quantization.quantization_pass import AddQuantDequantForInferencePass as Pass
    scan, create, remove, apply = (IrGraph.all_persistable_nodes, IrGraph.create_persistable_node,
                                   IrGraph.safe_remove_nodes, Pass.apply)
    kept: dict = {}                      # id(IrGraph) -> its persistable nodes (None: to be read), during apply

    def all_persistable_nodes(self):
        if id(self) not in kept:
            return scan(self)
        if kept[id(self)] is None:
            kept[id(self)] = scan(self)
        return kept[id(self)]

    def create_persistable_node(self, *args, **kwargs):
        node = create(self, *args, **kwargs)
        if kept.get(id(self)) is not None:
            kept[id(self)].add(node)         # what the next walk would find in addition
        return node

    def safe_remove_nodes(self, remove_nodes):
        if id(self) in kept:
            kept[id(self)] = None
        return remove(self, remove_nodes)

    def apply_keeping(self, graph):
        kept[id(graph)] = None
        try:
            return apply(self, graph)
        finally:
            kept.pop(id(graph), None)

    IrGraph.all_persistable_nodes, IrGraph.create_persistable_node = all_persistable_nodes, create_persistable_node
    IrGraph.safe_remove_nodes, Pass.apply = safe_remove_nodes, apply_keeping


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


SPEEDUPS = (fast_histogram_sampling, fast_graph_links, fast_persistable_lookup)   # same bytes, less time


def _prepare(plain: bool = False):
    """Import Paddle once per process, static mode, our speed-ups (unless ``plain``) and timers (idempotent)."""
    from toolkit.paddle_env import import_paddle
    paddle = import_paddle()
    if not _READY:
        paddle.enable_static()
        for speedup in () if plain else SPEEDUPS:
            speedup()
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
    if argv[:1] == ["--plain"]:          # PaddleSlim's own code paths: to check the speed-ups change no byte
        _prepare(plain=True)
        argv = argv[1:]
    print(json.dumps(run_job(json.loads(Path(argv[0]).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
