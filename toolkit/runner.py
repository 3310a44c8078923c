"""`mlite-runner`: benchmark_bin's command line and output, on this host.

Runs a Paddle Lite x86 ``.nb`` (``--backend x86``), an ONNX model (``--backend onnxruntime``) or an
ncnn ``.param`` + ``.bin`` pair (``--backend ncnn``; FP32 arithmetic unless ``--cpu_precision fp16``)
and prints the same ``Perf Info`` block as Paddle Lite's benchmark_bin, plus a ``raw`` line with
every run's time and a ``Memory Usage`` block (peak RSS), so one parser serves phones and hosts.
``--power_mode`` is accepted and ignored (Android big/little core binding has no host equivalent).

This file needs only the standard library, NumPy and the engine's own package: it is also copied to
ARM Linux boards and run there with their ``python3`` (``--backend ncnn`` with the board's ncnn wheel).

``--speed_ref 1`` (mlite-runner only) times a fixed single-threaded GEMM kernel after every timed
run and prints it as a ``ref`` line: a virtual machine's CPU speed can drift by tens of percent
within seconds, and the reference shows by how much (the model/reference ratio stays put).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _args(argv):
    ap = argparse.ArgumentParser(prog="mlite-runner", description=__doc__)
    ap.add_argument("--optimized_model_file", required=True, help=".nb (Paddle Lite) or .onnx model")
    ap.add_argument("--input_shape", default="1,3,224,224")
    ap.add_argument("--backend", default="x86", help="x86 (Paddle Lite) | onnxruntime | ncnn (arm needs a phone)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--power_mode", type=int, default=0)
    ap.add_argument("--cpu_precision", default="fp32")
    ap.add_argument("--speed_ref", type=int, default=0, help="1: time a reference kernel after each run")
    ap.add_argument("--input_file", help="raw float32 inputs (--batch of them) instead of random data")
    ap.add_argument("--output_file", help="write each input's first output here (raw float32, in order)")
    ap.add_argument("--batch", type=int, default=1, help="inputs in --input_file; each is run once (timed)")
    ap.add_argument("--version", action="version", version=f"mlite-runner {_version()}")
    return ap.parse_args(argv)


VERSION = "0.1.0"          # mlite's version (a copy on a board has no package metadata)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("mlite")
    except PackageNotFoundError:
        return VERSION


def _lite(model: str):
    import numpy as np
    import paddlelite.lite as lite
    cfg = lite.MobileConfig()
    cfg.set_model_from_file(model)
    pred = lite.create_paddle_predictor(cfg)

    def run(x):
        pred.get_input(0).from_numpy(x)
        pred.run()
        return np.asarray(pred.get_output(0).numpy())
    return run, f"paddlelite {_dist('paddlelite')}"


def _ort(model: str, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return (lambda x: sess.run(None, {name: x})[0]), f"onnxruntime {_dist('onnxruntime')}"


def ncnn_net(model: str, threads: int, precision: str = "fp32"):
    """(run, engine): an ncnn net from ``X.param`` (and ``X.bin`` beside it) whose ``run`` maps a batch of one
    NCHW float32 image to its first output; FP16 storage/arithmetic only when asked."""
    import numpy as np
    import ncnn
    net = ncnn.Net()
    fp16 = precision == "fp16"
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, flag, fp16 and flag != "use_bf16_storage")
    net.opt.num_threads = threads
    base = model[:-len(".param")] if model.endswith(".param") else model
    if net.load_param(base + ".param") != 0 or net.load_model(base + ".bin") != 0:
        raise RuntimeError(f"ncnn cannot load {os.path.basename(base)}.param / .bin")
    inp, out = net.input_names()[0], net.output_names()[0]

    def run(x):
        ex = net.create_extractor()
        ex.input(inp, ncnn.Mat(np.ascontiguousarray(x[0])).clone())
        _ret, y = ex.extract(out)
        return np.array(y)[None]
    return run, f"ncnn {ncnn.__version__}"


def _peak_rss_mb() -> float | None:
    """VmHWM of this process (Linux), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


REF_SIZE, REF_CHAIN = 64, 8     # ~0.1 ms on a 2.4 GHz core: 8 chained 64x64 float32 products


def _reference_kernel():
    """A fixed, deterministic compute kernel whose time tracks the CPU's current speed."""
    import numpy as np
    a = np.random.RandomState(1).uniform(-1, 1, (REF_SIZE, REF_SIZE)).astype(np.float32) / REF_SIZE

    def kernel():
        y = a
        for _ in range(REF_CHAIN):
            y = a @ y
        return y
    return kernel


def _dist(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def main(argv=None) -> int:
    a = _args(argv)
    if a.backend == "arm":
        print(f"mlite-runner: --backend arm needs an ARM CPU; this host is {platform.machine()}: use Paddle Lite's "
              "ARM benchmark_bin on the phone, or --backend x86 with an x86 .nb", file=sys.stderr)
        return 2
    if a.backend not in ("x86", "onnxruntime", "ncnn"):
        print(f"mlite-runner: unknown --backend {a.backend!r} (x86 | onnxruntime | ncnn)", file=sys.stderr)
        return 2
    if a.threads < 1 or a.repeats < 1 or a.warmup < 0:
        print("mlite-runner: --threads and --repeats must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    if not os.path.isfile(a.optimized_model_file):
        print(f"mlite-runner: model file {a.optimized_model_file!r} not found", file=sys.stderr)
        return 2
    # Lite x86 kernels use OpenMP/MKL: their thread pools read these before the library loads.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"      # NumPy's BLAS (the reference kernel): one core
    import numpy as np
    shape = tuple(int(v) for v in a.input_shape.split(","))
    x = np.random.RandomState(0).uniform(-1, 1, shape).astype(np.float32)
    inputs = None
    if a.input_file:
        data = np.fromfile(a.input_file, dtype="<f4")
        if a.batch < 1 or data.size != a.batch * int(np.prod(shape)):
            print(f"mlite-runner: {a.input_file} holds {data.size} floats, not --batch {a.batch} x {a.input_shape}",
                  file=sys.stderr)
            return 2
        inputs = data.reshape(a.batch, *shape)
        x = inputs[0]
    t0 = time.perf_counter()
    try:
        run, engine = {"x86": lambda: _lite(a.optimized_model_file),
                       "onnxruntime": lambda: _ort(a.optimized_model_file, a.threads),
                       "ncnn": lambda: ncnn_net(a.optimized_model_file, a.threads, a.cpu_precision)}[a.backend]()
    except ImportError as e:
        print(f"mlite-runner: --backend {a.backend} needs its Python package here ({e})", file=sys.stderr)
        return 2
    rss_init = _peak_rss_mb()
    init = (time.perf_counter() - t0) * 1e3
    first = None                  # --batch without warmup (inference): input 0's run is the "first"
    if inputs is None or a.warmup:
        t0 = time.perf_counter()
        run(x)
        first = (time.perf_counter() - t0) * 1e3
    ref = _reference_kernel() if a.speed_ref else None
    for _ in range(a.warmup):
        run(x)
        if ref:
            ref()
    times, ref_times, outputs = [], [], []
    for i in range(len(inputs) if inputs is not None else a.repeats):
        xi = inputs[i] if inputs is not None else x
        t0 = time.perf_counter()
        y = run(xi)
        times.append((time.perf_counter() - t0) * 1e3)
        if a.output_file:
            outputs.append(np.asarray(y, dtype="<f4").reshape(-1))
        if ref:
            t0 = time.perf_counter()
            ref()
            ref_times.append((time.perf_counter() - t0) * 1e3)
    first = times[0] if first is None else first
    if a.output_file:
        np.concatenate(outputs).astype("<f4").tofile(a.output_file)
    print("======= Device Info =======")
    print(f"Runner: mlite-runner {_version()} ({engine})")
    print(f"CPU: {platform.machine()} ({os.cpu_count()} cores), power_mode {a.power_mode} ignored on a host")
    print("======= Model Info =======")
    print(f"optimized_model_file: {a.optimized_model_file}")
    print(f"input_shape: {a.input_shape}\nbackend: {a.backend}\nthreads: {a.threads}")
    print(f"warmup: {a.warmup}\nrepeats: {a.repeats}\ncpu_precision: {a.cpu_precision}")
    print("======= Perf Info =======")
    print("Time(unit: ms):")
    print(f"init  = {init:.3f}\nfirst = {first:.3f}\nmin   = {min(times):.3f}\nmax   = {max(times):.3f}")
    print(f"avg   = {sum(times) / len(times):.3f}")
    print("raw   = " + ",".join(f"{t:.3f}" for t in times))
    if ref_times:
        print("ref   = " + ",".join(f"{t:.4f}" for t in ref_times))
    peak = _peak_rss_mb()
    if peak is not None and rss_init is not None:
        print("Memory Usage(unit: MB):")
        print(f"init  = {rss_init:.3f}\npeak  = {peak:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
