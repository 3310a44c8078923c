"""Subprocess worker: run a Paddle Lite ``.nb`` on this host (x86) on one input.

``python -m converters.lite_run MODEL.nb INPUT.npy OUTPUT.npy``. Kept out of the caller's
process because Lite kernels can abort.
"""
import sys


def main(argv: list[str]) -> int:
    model, inp, out = argv
    import numpy as np
    import paddlelite.lite as lite
    cfg = lite.MobileConfig()
    cfg.set_model_from_file(model)
    predictor = lite.create_paddle_predictor(cfg)
    predictor.get_input(0).from_numpy(np.load(inp))
    predictor.run()
    np.save(out, predictor.get_output(0).numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
