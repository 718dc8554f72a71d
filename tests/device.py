"""The device the CUDA tests run on: ``cuda``, or ``GPU_CHECK_DEVICE`` when set
(``GPU_CHECK_DEVICE=cpu benchmarks/gpu_check.sh`` runs them on the CPU, to exercise their
logic where there is no GPU: they then compare the CPU with itself)."""

from __future__ import annotations

import os

import pytest
import torch

DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")

#: Skips a test when ``DEVICE`` is a CUDA device and this machine has none.
needs_device = pytest.mark.skipif(
    DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA"
)
