"""PaddleSlim quantization and distillation stages (PTQ, QAT, SSLD)."""
