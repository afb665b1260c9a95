"""One short GPU script for ginr-diffusion: the paper-size prior on CUDA, bf16, fused attention, FID.

    PYTHONPATH=packages/ginr-core/src:packages/ginr-diffusion/src python benchmarks/cuda_prior_check.py

1. the paper's ``LatentDenoiser`` (24 blocks, width 1024, 1000 classes; 256 latents of 256
   channels) on CUDA: agreement with the CPU in fp32, the attention kernels that bf16 autocast
   launches, timed training steps (bf16 autocast and fp32) and timed DDIM sampling with
   classifier-free guidance;
2. the FID Inception on CUDA: agreement with the CPU, images per second, and (when torchvision and
   pytorch-fid are importable, e.g. ``PYTHONPATH=...:runs/fidref``) the same features as pytorch-fid's
   network given the same weights (``fid_inception_check.py``).

Everything is printed; nothing here is needed by the tests, which run on CPU.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F
from _runs import run_checks

from ginr_diffusion import LatentDenoiser, sampling_scheduler, training_scheduler
from ginr_diffusion.fid import FIDInception

DEVICE = torch.device("cuda")


def timed(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def denoiser_checks() -> None:
    print("== 1. paper LatentDenoiser on CUDA")
    torch.manual_seed(0)
    cpu = LatentDenoiser.from_preset("paper", num_latents=256, latent_dim=256, num_classes=1000).eval()
    params = sum(p.numel() for p in cpu.parameters())
    gpu = LatentDenoiser.from_preset("paper", num_latents=256, latent_dim=256, num_classes=1000)
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.to(DEVICE).eval()
    x, t, y = torch.randn(2, 256, 256), torch.tensor([10, 900]), torch.tensor([3, 1000])
    with torch.no_grad():
        diff = (gpu(x.to(DEVICE), t.to(DEVICE), y.to(DEVICE)).cpu() - cpu(x, t, y)).abs().max().item()
    print(f"{params / 1e6:.1f} M parameters; fp32 max|cuda - cpu| = {diff:.2e}")
    del cpu

    from torch.profiler import ProfilerActivity, profile

    gpu.train()
    scheduler = training_scheduler()
    optimizer = torch.optim.Adam(gpu.parameters(), lr=1e-4)
    batch = 64
    x0 = torch.randn(batch, 256, 256, device=DEVICE)
    labels = torch.randint(0, 1000, (batch,), device=DEVICE)

    def step(dtype):
        t = torch.randint(0, 1000, (batch,), device=DEVICE)
        noise = torch.randn_like(x0)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            loss = F.mse_loss(gpu(scheduler.add_noise(x0, noise, t), t, labels).float(), x0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step(torch.bfloat16)
        torch.cuda.synchronize()
    names = sorted(
        {e.key for e in prof.key_averages() if any(k in e.key.lower() for k in ("flash", "fmha", "attention", "sdpa"))}
    )
    print("attention kernels (bf16 step):", ("\n  " + "\n  ".join(n[:120] for n in names)) if names else "none")
    for dtype in (torch.bfloat16, torch.float32):
        seconds = timed(lambda dtype=dtype: step(dtype), 5)
        print(f"training step, batch {batch}, {str(dtype)[6:]}: {seconds:.3f} s ({batch / seconds:.0f} samples/s)")
    print(f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")

    gpu.eval()
    sampler = sampling_scheduler(scheduler.config)
    sampler.set_timesteps(250)

    @torch.no_grad()
    def sample():
        z = torch.randn(batch, 256, 256, device=DEVICE)
        y2 = torch.cat([labels, torch.full_like(labels, 1000)])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            for t in sampler.timesteps:
                cond, uncond = gpu(torch.cat([z, z]), t.to(DEVICE), y2).float().chunk(2)
                z = sampler.step(uncond + 2.5 * (cond - uncond), t, z).prev_sample
        return z

    seconds = timed(sample, 1)
    print(f"DDIM 250 steps with guidance 2.5, batch {batch}, bf16: {seconds:.1f} s ({seconds / batch:.2f} s/sample)")


def fid_checks() -> None:
    print("== 2. FID Inception on CUDA")
    torch.manual_seed(0)
    cpu = FIDInception().eval()
    gpu = FIDInception().eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to(DEVICE)
    images = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        diff = (gpu(images.to(DEVICE)).cpu() - cpu(images)).abs().max().item()
    print(f"max|cuda - cpu| of pool features: {diff:.2e}")
    batch = torch.rand(250, 3, 64, 64, device=DEVICE)
    with torch.no_grad():
        seconds = timed(lambda: gpu(batch), 3)
    print(f"{250 / seconds:.0f} images/s (fp32, batch 250)")
    try:
        import pytorch_fid  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as error:
        print(f"pytorch-fid cross-check skipped: {error}")
        return
    import fid_inception_check

    sys.argv = [sys.argv[0]]
    fid_inception_check.main()


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}")
    run_checks([fid_checks, denoiser_checks])


if __name__ == "__main__":
    main()
