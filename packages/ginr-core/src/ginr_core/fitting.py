"""Fitting INRs to single instances: test-time optimisation and per-sample Fourier-feature MLPs (Sec. 4.5, Fig. 7).

A generalizable INR encodes an unseen image in one forward pass; test-time optimisation (TTO)
refines that INR on the image itself, to any fidelity, in seconds:

* ``refine_latents``: gradient steps on the latent tokens only, the decoder fixed: the refined
  latents keep their structure (they can still be decoded at any resolution or fed to the prior);
* ``refine_decoder``: gradient steps on every decoder parameter, starting from the predicted INR
  (each instance gets its own copy of the decoder).

``FFNet`` (Tancik et al., 2020) is what the paper compares with: a Fourier-feature MLP fitted
from random initialisation to one image (``fit_ffnet``). All three return a ``FitResult``: the
state with the best PSNR of its history (the zero-shot INR is step 0, so TTO never ends below it)
and the history of PSNR against optimisation seconds (evaluation time excluded).
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .coords import pixel_targets
from .metrics import psnr

__all__ = ["FFNet", "FitResult", "fit_ffnet", "refine_decoder", "refine_latents"]


@dataclass
class FitResult:
    """What a fit returns.

    ``history``: ``[{"step", "seconds", "psnr", "psnr_per_instance"}]``, step 0 being the start
    (the zero-shot INR, or the random FFNet); ``seconds`` counts optimisation time only.
    ``best_step``: the step whose state is returned (``latents``, ``models`` or ``ffnet``).
    """

    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    latents: torch.Tensor | None = None  # refine_latents: (B, R, D)
    models: list[nn.Module] | None = None  # refine_decoder: one refined model per instance
    ffnet: FFNet | None = None  # fit_ffnet: the batched FFNet

    @property
    def best_psnr(self) -> float:
        return next(h["psnr"] for h in self.history if h["step"] == self.best_step)


class FFNet(nn.Module):
    """Fourier-feature MLPs, one per instance, evaluated as one batch (Tancik et al., 2020).

    ``gamma(v) = [cos(2 pi B v), sin(2 pi B v)]`` with a fixed Gaussian ``B ~ N(0, sigma^2)``
    (``fourier_dim / 2`` rows), then ``num_layers`` ReLU layers of ``hidden_dim`` and a linear
    layer through a sigmoid, as Tancik et al.'s image regression network (4 layers of 256, sigmoid
    output). Coordinates are ginr's pixel centres in ``[-1, 1]``, so ``sigma`` is half of the
    paper's value for coordinates in ``[0, 1]`` (theirs: 10).

    Args:
        num_instances: B, independent networks (each its own ``B`` matrix and weights).
        d_in, d_out: coordinate and output dimensionality.
        fourier_dim, sigma, hidden_dim, num_layers: the network's size.
        sigmoid: the output through a sigmoid (Tancik et al.); False: linear ``+ output_bias``
            instead (the generalizable INRs' output).
        output_bias: added to the linear output when ``sigmoid`` is False.
        generator: draws the initialisation (reproducible fits).
    """

    def __init__(
        self,
        num_instances: int = 1,
        *,
        d_in: int = 2,
        d_out: int = 3,
        fourier_dim: int = 256,
        sigma: float = 5.0,
        hidden_dim: int = 256,
        num_layers: int = 4,
        sigmoid: bool = True,
        output_bias: float = 0.5,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if num_instances < 1 or num_layers < 1 or fourier_dim < 2 or fourier_dim % 2:
            raise ValueError("FFNet needs num_instances >= 1, num_layers >= 1 and an even fourier_dim >= 2")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"FFNet: sigma must be a positive number, got {sigma!r}")
        gen = generator
        self.register_buffer("frequencies", torch.randn(num_instances, d_in, fourier_dim // 2, generator=gen) * sigma)
        dims = [fourier_dim] + [hidden_dim] * num_layers + [d_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()

        def uniform(*shape: int, bound: float) -> nn.Parameter:
            return nn.Parameter(torch.empty(num_instances, *shape).uniform_(-bound, bound, generator=gen))

        for fan_in, fan_out in itertools.pairwise(dims):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default draw, per instance
            self.weights.append(uniform(fan_in, fan_out, bound=bound))
            self.biases.append(uniform(1, fan_out, bound=bound))
        self.sigmoid, self.output_bias = bool(sigmoid), float(output_bias)

    @property
    def num_instances(self) -> int:
        return self.frequencies.shape[0]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(B or 1, N, d_in)`` -> ``(B, N, d_out)``."""
        angles = 2 * math.pi * coords.to(self.frequencies.dtype) @ self.frequencies  # (B, N, d_f / 2)
        h = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h.expand(w.shape[0], -1, -1), w)
            if i < last:
                h = F.relu(h)
        return torch.sigmoid(h) if self.sigmoid else h + self.output_bias


def _optimise(
    parameters: list[torch.Tensor],
    loss_fn: Callable[[], torch.Tensor],
    evaluate: Callable[[], torch.Tensor],
    snapshot: Callable[[], object],
    *,
    steps: int | None,
    seconds: float | None,
    lr: float,
    optimizer: str,
    eval_every: int,
    progress: bool,
    desc: str,
) -> tuple[list[dict], int, object]:
    """The loop every fit shares: optimise, evaluate every ``eval_every`` steps, keep the best state."""
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds (or both): when to stop")
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    optimisers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimisers:
        raise ValueError(f"optimizer must be one of {sorted(optimisers)}, got {optimizer!r}")
    opt = optimisers[optimizer](parameters, lr=lr)

    def record(step: int, elapsed: float) -> dict:
        per = evaluate()
        return {"step": step, "seconds": elapsed, "psnr": float(per.mean()), "psnr_per_instance": per.tolist()}

    history = [record(0, 0.0)]
    best, best_state = history[0], snapshot()
    elapsed, step = 0.0, 0
    bar = None
    if progress:
        from huggingface_hub.utils import tqdm  # ginr-core's dependencies bring tqdm through huggingface-hub

        bar = tqdm(total=steps, desc=desc, leave=False)
    while (steps is None or step < steps) and (seconds is None or elapsed < seconds):
        start = time.perf_counter()
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        elapsed += time.perf_counter() - start
        step += 1
        if bar is not None:
            bar.update(1)
        last = (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds)
        if step % eval_every == 0 or last:
            history.append(record(step, elapsed))
            if bar is not None:
                bar.set_postfix(psnr=f"{history[-1]['psnr']:.2f}")
            if history[-1]["psnr"] > best["psnr"]:
                best, best_state = history[-1], snapshot()
    if bar is not None:
        bar.close()
    return history, best["step"], best_state


def refine_latents(
    model,
    images: torch.Tensor,
    latents: torch.Tensor | None = None,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float = 3e-2,
    optimizer: str = "adam",
    eval_every: int = 10,
    chunk_size: int | None = 65536,
    progress: bool = True,
) -> FitResult:
    """Test-time optimisation of the latent tokens of ``images`` (the decoder fixed).

    Args:
        model: a ``GeneralizableINR`` of images.
        images: ``(B, C, H, W)`` in [0, 1], at the resolution to fit (any: decoding is continuous).
        latents: where to start; default ``model.encode(images)`` (the zero-shot INR), which needs
            ``images`` at the model's ``image_size``.
        steps, seconds: stop after this many steps and/or this much optimisation time.
        lr, optimizer: ``"adam"`` or ``"sgd"`` on the per-image MSE (summed over instances, so each
            instance's steps do not depend on the others).
        eval_every: PSNR of the full grid every this many steps (and at the end).

    Returns:
        ``FitResult`` with ``latents`` ``(B, R, D)``: the best of the history (never below step 0).
    """
    coords, targets = pixel_targets(images)
    was_training = model.training
    model.eval()
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            start = model.encode(images) if latents is None else latents
        z = start.detach().clone().float().requires_grad_(True)

        def loss_fn() -> torch.Tensor:
            prediction = model.decode(z, coords, chunk_size=chunk_size).float()
            return (prediction - targets).pow(2).mean(dim=(1, 2)).sum()

        @torch.no_grad()
        def evaluate() -> torch.Tensor:
            return psnr(model.decode(z, coords, chunk_size=chunk_size), targets)

        budget = {"steps": steps, "seconds": seconds, "lr": lr, "optimizer": optimizer, "eval_every": eval_every}
        snapshot = lambda: z.detach().clone()  # noqa: E731
        history, best_step, best = _optimise(
            [z], loss_fn, evaluate, snapshot, progress=progress, desc="refining latents", **budget
        )
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)
    return FitResult(history=history, best_step=best_step, latents=best)


def refine_decoder(
    model,
    images: torch.Tensor,
    latents: torch.Tensor | None = None,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float = 1e-3,
    optimizer: str = "adam",
    eval_every: int = 10,
    chunk_size: int | None = 65536,
    progress: bool = True,
) -> FitResult:
    """Test-time optimisation of every decoder parameter, from the predicted INR of each image.

    Each instance gets its own copy of the model; the decoder parameters of every copy (all but
    the encoder's) are optimised together on the sum of the instances' MSEs, each copy seeing only
    its own instance and its own fixed latents. Arguments as ``refine_latents``.

    Returns:
        ``FitResult`` with ``models``: one refined model per instance, at the best step.
    """
    coords, targets = pixel_targets(images)
    with torch.no_grad():
        start = (model.encode(images) if latents is None else latents).detach()
    copies = [copy.deepcopy(model).eval() for _ in range(images.shape[0])]
    params = []
    for replica in copies:
        for name, p in replica.named_parameters():
            trained = not name.startswith("encoder.")
            p.requires_grad_(trained)
            if trained:
                params.append(p)

    def decode(i: int) -> torch.Tensor:
        return copies[i].decode(start[i : i + 1], coords, chunk_size=chunk_size).float()

    def loss_fn() -> torch.Tensor:
        return sum((decode(i) - targets[i : i + 1]).pow(2).mean() for i in range(len(copies)))

    @torch.no_grad()
    def evaluate() -> torch.Tensor:
        return torch.cat([psnr(decode(i), targets[i : i + 1]) for i in range(len(copies))])

    def snapshot() -> list[dict]:
        return [{k: v.detach().clone() for k, v in replica.state_dict().items()} for replica in copies]

    budget = {"steps": steps, "seconds": seconds, "lr": lr, "optimizer": optimizer, "eval_every": eval_every}
    history, best_step, best = _optimise(
        params, loss_fn, evaluate, snapshot, progress=progress, desc="refining the decoder", **budget
    )
    for replica, state in zip(copies, best):
        replica.load_state_dict(state)
        replica.requires_grad_(False)
    return FitResult(history=history, best_step=best_step, models=copies)


def fit_ffnet(
    images: torch.Tensor,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float = 1e-3,
    optimizer: str = "adam",
    eval_every: int = 10,
    seed: int = 0,
    progress: bool = True,
    **ffnet_settings,
) -> FitResult:
    """Fit one ``FFNet`` per image from random initialisation (all images as one batch).

    ``ffnet_settings`` go to ``FFNet`` (``fourier_dim``, ``sigma``, ``hidden_dim``, ``num_layers``).
    Returns ``FitResult`` with ``ffnet``: the networks at their best step.
    """
    coords, targets = pixel_targets(images)
    generator = torch.Generator().manual_seed(seed)
    net = FFNet(images.shape[0], d_out=images.shape[1], generator=generator, **ffnet_settings).to(images.device)

    def loss_fn() -> torch.Tensor:
        return (net(coords) - targets).pow(2).mean(dim=(1, 2)).sum()

    @torch.no_grad()
    def evaluate() -> torch.Tensor:
        return psnr(net(coords), targets)

    budget = {"steps": steps, "seconds": seconds, "lr": lr, "optimizer": optimizer, "eval_every": eval_every}
    snapshot = lambda: copy.deepcopy(net.state_dict())  # noqa: E731
    history, best_step, best = _optimise(
        list(net.parameters()), loss_fn, evaluate, snapshot, progress=progress, desc="fitting FFNet", **budget
    )
    net.load_state_dict(best)
    return FitResult(history=history, best_step=best_step, ffnet=net)
