"""Converters from a Paddle inference model to deployable formats (Paddle Lite .nb, ONNX)."""
