"""What the timing benchmarks share: device sync, a square-matmul rate, the CPU flash-attention FLOP formulas,
the decoding chunk that ``"auto"`` stands for.

The scripts load this file (and each other) by file path (``importlib``), without touching ``sys.path``.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

from ginr_apps.evaluation import CPU_CHUNK_ROWS, resolve_chunk_size

__all__ = ["CPU_ATTENTION_FLOPS", "CPU_CHUNK_ROWS", "chunk_size_of", "matmul_flops_per_second", "sync"]


def chunk_size_of(name: str | int | None, batch: int, device: torch.device) -> int | None:
    """A decoding chunk (coordinates) from a flag: ``"none"`` / ``None`` (one go), a number, or ``"auto"`` (the
    apps' rule, ``ginr_apps.evaluation.resolve_chunk_size``: cache-sized chunks on CPU, one go elsewhere)."""
    if name is None or (isinstance(name, str) and name.lower() == "none"):
        return None
    if isinstance(name, str) and name.lower() == "auto":
        return resolve_chunk_size("auto", batch, device)
    return int(name)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU), so that wall-clock times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops_per_second(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the fastest of ``repeats`` plain square ``size`` x ``size`` matmuls in ``dtype``."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _cpu_flash(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# A ``custom_mapping`` for ``torch.utils.flop_counter.FlopCounterMode``: torch's counter knows the CUDA attention
# kernels but not the CPU flash kernel; count it the same way (the backward with its recomputed scores).
_ATEN = torch.ops.aten
CPU_ATTENTION_FLOPS = {
    _ATEN._scaled_dot_product_flash_attention_for_cpu: _cpu_flash,
    _ATEN._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward,
}
