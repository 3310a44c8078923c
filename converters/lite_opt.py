"""Subprocess worker around Paddle Lite's opt (its failures abort the process).

``python -m converters.lite_opt MODEL PARAMS TARGETS OUT_PREFIX`` writes ``OUT_PREFIX.nb``.
"""
import sys


def main(argv: list[str]) -> int:
    model, params, targets, out_prefix = argv
    import paddlelite.lite as lite
    opt = lite.Opt()
    opt.set_model_file(model)
    opt.set_param_file(params)
    opt.set_valid_places(targets)
    opt.set_model_type("naive_buffer")
    opt.set_optimize_out(out_prefix)
    opt.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
