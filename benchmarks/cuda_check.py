"""One short script for a GPU machine: the CUDA path, fused attention, bf16, timed steps.

    PYTHONPATH=packages/ginr-core/src python benchmarks/cuda_check.py

1. correctness on CUDA: tiny models of each family agree with the CPU, chunked decoding equals
   unchunked decoding, and a bf16-autocast step gives finite gradients;
2. fused attention: the kernels that ``scaled_dot_product_attention`` launches for the paper's
   178 px LocINR under bf16 autocast, and a forward pass with only the flash backend allowed;
3. timed training steps at the paper's 178 px configuration, batch 16 (the paper's total batch),
   bf16 autocast, with counted FLOPs, the ratio to a bf16 matmul and the share of the chip's dense
   bf16 peak (``train_step.py``), LocINR eager and compiled;
4. peak memory and time of decoding a 1024 x 1024 grid with the FFHQ 1024 preset
   (``decode_memory.py``).

Everything is printed; nothing here is needed by the tests, which run on CPU.
"""

from __future__ import annotations

import decode_memory
import torch
import torch.nn.functional as F
import train_step
from _runs import run_checks

from ginr_core import LocalityAwareINR, get_model_class, image_coords

TINY = {
    "image_size": 32,
    "patch_size": 4,
    "encoder_width": 64,
    "encoder_depth": 2,
    "encoder_heads": 4,
    "hidden_dim": 64,
    "fourier_dim": 64,
    "dropout": 0.0,
}
FAMILY_KWARGS = {"locinr": {"num_latents": 16}, "ipc": {"num_latents": 16}, "transinr": {"tokens_per_layer": 8}}


def correctness(device: torch.device) -> None:
    print("== 1. correctness on", device)
    x_cpu = torch.rand(4, 3, 32, 32)
    coords_cpu = image_coords(40, 40).view(1, -1, 2)
    for family, extra in FAMILY_KWARGS.items():
        torch.manual_seed(0)
        cpu_model = get_model_class(family)(**TINY, **extra).eval()
        gpu_model = get_model_class(family)(**TINY, **extra).to(device).eval()
        gpu_model.load_state_dict(cpu_model.state_dict())
        with torch.no_grad():
            ref = cpu_model(x_cpu, coords_cpu)
            out = gpu_model(x_cpu.to(device), coords_cpu.to(device))
            chunked = gpu_model(x_cpu.to(device), coords_cpu.to(device), chunk_size=333)
        gpu_model.train()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = F.mse_loss(
                gpu_model(x_cpu.to(device), coords_cpu.to(device)).float(), torch.rand(4, 1600, 3, device=device)
            )
        loss.backward()
        grads_finite = all(torch.isfinite(p.grad).all().item() for p in gpu_model.parameters() if p.grad is not None)
        print(
            f"{family:<9} max|cuda-cpu| {(out.cpu() - ref).abs().max().item():.2e}  "
            f"max|chunked-unchunked| {(chunked - out).abs().max().item():.2e}  "
            f"bf16 loss {loss.item():.4f} grads finite {grads_finite}"
        )


def fused_attention(device: torch.device) -> None:
    print("== 2. fused attention")
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = LocalityAwareINR().to(device).train()
    x = torch.rand(2, 3, 178, 178, device=device)
    coords = image_coords(178, 178, device=device).view(1, -1, 2)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        model(x, coords).float().mean().backward()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            model(x, coords).float().mean().backward()
            torch.cuda.synchronize(device)
    names = sorted(
        {e.key for e in prof.key_averages() if any(k in e.key.lower() for k in ("flash", "fmha", "attention", "sdpa"))}
    )
    print("attention kernels:", ("\n  " + "\n  ".join(n[:140] for n in names)) if names else "none found")
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        out = model.eval()(x, coords)
    print("forward with only the flash backend allowed:", tuple(out.shape), out.dtype)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    device = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}")
    bf16 = ["--precision", "bf16", "--steps", "5"]
    fp32 = ["--precision", "fp32", "--steps", "3"]
    compiled = ["--models", "locinr", "--compile", *bf16]
    checks = [
        lambda: correctness(device),
        lambda: fused_attention(device),
        lambda: print("== 3. timed training steps (178 px, batch 16, full grid)"),
        lambda: train_step.main(["--device", "cuda", "--batch-size", "16", "--chunk-sizes", "none", *bf16]),
        lambda: print("   the same, LocINR compiled (issue 16: eager vs compiled, share of the dense bf16 peak)"),
        lambda: train_step.main(["--device", "cuda", "--batch-size", "16", "--chunk-sizes", "none", *compiled]),
        lambda: train_step.main(["--device", "cuda", "--batch-size", "16", "--chunk-sizes", "none", *fp32]),
        lambda: print("== 4. decoding 1024 x 1024"),
        lambda: decode_memory.main(
            ["--device", "cuda", "--models", "locinr", "ipc", "transinr", "--chunk-size", "262144"]
        ),
    ]
    run_checks(checks)


if __name__ == "__main__":
    main()
