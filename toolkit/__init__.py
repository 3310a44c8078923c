"""mlite: PaddleClas mobile models to Paddle Lite / ONNX, INT8, and on-device benchmarks."""

__version__ = "0.1.0"
