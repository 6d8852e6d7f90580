"""The training autocast's dtype: a module of its own because the device decides it, not the recipe alone."""

from __future__ import annotations

import torch


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The training autocast's dtype: fp16 on a GPU (the paper's mixed precision, with a GradScaler), bf16 on a
    CPU whose oneDNN has bf16 kernels (AMX or AVX512-BF16: measured ~1.6x the images/s of fp32 here,
    BENCHMARKS.md), None (fp32) when ``precision`` is ``fp32`` or the CPU lacks them."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"training precision {precision!r}: want auto, bf16 or fp32")
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
