"""The training autocast's dtype follows the device and the CPU's kernels."""

import pytest
import torch

from fer_platform.models.training.precision import autocast_dtype


def test_precision_is_bf16_only_where_the_cpu_has_bf16_kernels():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "fp32") is None
    expected = torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    assert autocast_dtype(cpu, "auto") == expected
    assert autocast_dtype(torch.device("cuda"), "auto") == torch.float16
    with pytest.raises(ValueError, match="'fp8'"):
        autocast_dtype(cpu, "fp8")
