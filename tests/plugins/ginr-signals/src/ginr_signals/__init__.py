"""A ginr task from another package: generalizable INRs of 1-D signals (sums of sinusoids), scored by SNR.

Three things ginr does not have, each in its own part:

* a tokenizer (``SignalTokenizer``, the ``ginr.tokenizers`` entry point ``signal-patches``): ``(B, C, L)``
  signals cut into patches of ``patch_size`` samples, so any ginr family encodes them;
* data (``SineSums``): generated, embedded, seeded by split, so that nothing is downloaded;
* a task (``SignalTask``, the ``ginr.tasks`` entry point ``signals``): its settings, its batches
  (coordinates ``t`` in [-1, 1], ``d_in = 1``), its loss (smooth L1), its metric (SNR in dB), its
  figure, its card and its ``apps/evaluate.py``.

    accelerate launch apps/train.py data.task=signals     # the run of signals.yaml
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ginr_apps.schema import setting
from ginr_apps.tasks import CardParts, DataSettings, Metric, Task
from ginr_core import Tokenizer, pixel_centers

__all__ = ["SignalSettings", "SignalTask", "SignalTokenizer", "SineSums", "snr", "snr_per_signal"]


class SignalTokenizer(Tokenizer):
    """``(B, C, L)`` signals -> ``(B, L / p, E)`` tokens: patches of ``p = patch_size`` samples, channel-major,
    embedded by one linear layer plus a learnable positional embedding. A signal of L samples is a model
    with ``image_size = (1, L)``."""

    name = "signal-patches"

    def __init__(self, *, image_size, patch_size, padding, in_channels, num_views, width):
        super().__init__()
        rows, length = image_size
        if rows != 1 or padding or length % patch_size or num_views != 1:
            raise ValueError(
                f"signal-patches: image_size must be (1, L) with L divisible by patch_size, padding 0 and one "
                f"view; got image_size={image_size}, patch_size={patch_size}, padding={padding}, num_views={num_views}"
            )
        self.patch_size, self.num_tokens = patch_size, length // patch_size
        self.proj = nn.Linear(in_channels * patch_size, width)
        self.pos_embed = nn.Parameter(torch.randn(self.num_tokens, width))

    @classmethod
    def check(cls, x, model) -> torch.Tensor:
        name, length = type(model).__name__, model.image_size[1]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{name}.encode expects a floating-point (B, C, L) tensor of signals")
        if x.ndim != 3 or x.shape[1:] != (model.in_channels, length):
            raise ValueError(
                f"{name}.encode expects signals of shape (B, {model.in_channels}, {length}), got {tuple(x.shape)}"
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, _ = x.shape
        patches = x.unflatten(-1, (self.num_tokens, self.patch_size)).transpose(1, 2)  # (B, T, C, p)
        return self.proj(patches.reshape(batch, self.num_tokens, channels * self.patch_size)) + self.pos_embed


class SineSums(torch.utils.data.Dataset):
    """``size`` signals ``sum_k a_k sin(pi f_k t + phi_k)`` at the ``length`` sample centres ``t`` of [-1, 1],
    ``components`` terms each, with integer frequencies in ``[1, max_frequency]``. Item i of a split is
    the same on every machine: its draw is keyed by the split's name and i."""

    SPLIT_KEYS: ClassVar[dict[str, int]] = {"train": 0, "test": 1, "val": 2}

    def __init__(self, split: str, size: int, length: int, components: int, max_frequency: int):
        if split not in self.SPLIT_KEYS:
            raise ValueError(f"SineSums has the splits {sorted(self.SPLIT_KEYS)}, not {split!r}")
        self.split, self.size, self.length = split, size, length
        self.components, self.max_frequency = components, max_frequency
        self.t = pixel_centers(length)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.size:
            raise IndexError(f"SineSums({self.split!r}) has {self.size} items, not {index}")
        g = torch.Generator().manual_seed(self.SPLIT_KEYS[self.split] * 1_000_003 + index)
        k = self.components
        freq = torch.randint(1, self.max_frequency + 1, (k, 1), generator=g).float()
        amp = torch.rand(k, 1, generator=g) / k
        phase = torch.rand(k, 1, generator=g) * 2 * math.pi
        signal = (amp * torch.sin(math.pi * freq * self.t + phase)).sum(0, keepdim=True)  # (1, L)
        return {"signal": signal, "index": index, "skipped": 0}

    def skipped_sources(self, index: int, count: int) -> list:
        return []  # generated: nothing is ever unreadable

    def __repr__(self) -> str:
        return f"SineSums({self.split!r}, {self.size} signals of {self.length} samples, {self.components} terms)"


def snr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B,)`` signal-to-noise ratio in dB of ``(B, ...)`` signals: ``10 log10(sum x^2 / sum (x - x_hat)^2)``."""
    signal = target.float().flatten(1).square().sum(1)
    noise = (prediction.float() - target.float()).flatten(1).square().sum(1)
    return 10 * torch.log10(signal / noise.clamp_min(1e-20))


@torch.no_grad()
def snr_per_signal(model, dataset: SineSums, indices: Sequence[int], device, batch_size: int) -> dict[int, float]:
    """``{index: SNR}`` of the model's decode of each signal at its own samples."""
    was_training = model.training
    model.eval()
    scores: dict[int, float] = {}
    for start in range(0, len(indices), batch_size):
        batch = [dataset[int(i)] for i in indices[start : start + batch_size]]
        signals = torch.stack([item["signal"] for item in batch]).to(device)  # (B, 1, L)
        coords = pixel_centers(signals.shape[-1], device=device).view(1, -1, 1)
        values = snr(model(signals, coords), signals.transpose(1, 2))
        scores.update({int(item["index"]): float(v) for item, v in zip(batch, values.tolist())})
    model.train(was_training)
    return scores


@dataclass
class SignalSettings(DataSettings):
    """Data settings of 1-D signals."""

    task: str = setting("signals", "what the run learns (this plug-in: signals)")
    source: str | None = setting(None, '"sinusoids" (generated, the only source)')
    length: int = setting(128, "samples per signal (the model's image_size is (1, length))")
    components: int = setting(2, "sinusoids summed in each signal")
    max_frequency: int = setting(4, "the highest integer frequency of a sinusoid over [-1, 1]")
    train_size: int = setting(2048, "training signals")
    test_size: int | None = setting(256, "test signals")


class SignalTask(Task):
    """Encode a signal, decode it at its sample positions; scored by SNR."""

    name = "signals"
    settings = SignalSettings
    default_source = "sinusoids"
    default_config = Path(__file__).with_name("signals.yaml")
    metric = Metric("snr", "SNR", "dB")
    clamp = None  # a signal's values are not clamped
    figure_name = "signals.png"
    card_tag = "signal-reconstruction"
    pipeline_tag = "feature-extraction"

    # ---------------------------------------------------------------- data
    @classmethod
    def accepts(cls, model) -> bool:
        return model.tokenizer_class.name == SignalTokenizer.name and model.d_in == 1

    @classmethod
    def check_settings(cls, data: SignalSettings) -> None:
        if data.source not in (None, cls.default_source):
            raise ValueError(f"data.source: signals are generated ({cls.default_source!r}), got {data.source!r}")
        for key in ("length", "components", "max_frequency", "train_size"):
            if getattr(data, key) < 1:
                raise ValueError(f"data.{key} must be at least 1, got {getattr(data, key)}")

    def _split(self, split: str, size: int | None) -> SineSums:
        data = self.data
        return SineSums(split, size or data.train_size, data.length, data.components, data.max_frequency)

    def datasets(self):
        return self._split(self.data.train_split, None), self._split(self.data.test_split, self.data.test_size)

    def extra_test_set(self, split: str):
        return self._split(split, self.data.test_size)

    def resolution(self, train_set) -> int:
        return train_set.length

    def check_model(self, model, train_set) -> str | None:
        if not self.accepts(model) or model.image_size != (1, train_set.length) or model.d_out != 1:
            return (
                f"signals need model.tokenizer={SignalTokenizer.name}, d_in=1, d_out=1 and image_size=[1, "
                f"{train_set.length}]; the model has {model.tokenizer_class.name}, d_in={model.d_in}, "
                f"d_out={model.d_out}, image_size={list(model.image_size)}"
            )
        return None

    def training_batch(self, items: dict, device, generators, batch_generator):
        signals = items["signal"].to(device)  # (B, 1, L)
        coords = pixel_centers(signals.shape[-1], device=device).view(1, -1, 1)  # (1, L, 1): shared
        return signals, coords, signals.transpose(1, 2)  # targets (B, L, 1)

    # ---------------------------------------------------------------- metrics
    def loss(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(prediction.float(), targets, beta=0.05)

    def score(self, model, dataset, indices: Sequence[int], device, extra=None) -> dict[int, dict[int, float]]:
        """``{length: {index: SNR}}``."""
        return {dataset.length: snr_per_signal(model, dataset, indices, device, self.config.train.eval_batch_size)}

    def headline(self, scores: dict[int, dict[int, float]]) -> int:
        return min(scores)

    @classmethod
    def setting_label(cls, setting: int) -> str:
        return f"{setting} samples"

    # ---------------------------------------------------------------- report
    @torch.no_grad()
    def figure(self, model, test_set, shown: Sequence[int], device) -> Image.Image:
        return _plot(model, test_set, list(shown)[:4], device)

    @classmethod
    def card(cls, model, metrics: dict, repo: str) -> CardParts:
        from huggingface_hub import EvalResult

        test, length = metrics["test"], model.image_size[1]
        intro = f"A generalizable INR of 1-D signals ({length} samples, sums of sinusoids), family `{model.family}`."
        results = f"Test SNR: {test['snr']:.2f} dB over {test['images']} held-out signals."
        usage = (
            "import torch\nfrom ginr_core import GeneralizableINR, pixel_centers\n\n"
            f'model = GeneralizableINR.from_pretrained("{repo}")   # needs ginr-signals installed\n'
            f"signals = torch.randn(1, 1, {length}) * 0.3\n"
            f"dense = model(signals, pixel_centers({4 * length}).view(1, -1, 1))   # (1, {4 * length}, 1)"
        )
        result = EvalResult(
            task_type=cls.pipeline_tag,
            task_name="Signal reconstruction",
            dataset_type="sinusoids",
            dataset_name="sums of sinusoids",
            dataset_split=metrics["data"]["test_split"],
            metric_type="snr",
            metric_name="SNR (dB)",
            metric_value=round(test["snr"], 2),
        )
        return CardParts(intro, results, usage, [result], title=" for 1-D signals")

    @classmethod
    def add_evaluate_arguments(cls, parser) -> None:
        group = parser.add_argument_group("signals")
        group.add_argument("--components", type=int, default=2, help="sinusoids per test signal")
        group.add_argument("--max-frequency", type=int, default=4, help="highest frequency of the test signals")

    @classmethod
    def evaluate(cls, model, args, parser) -> dict:
        data = SineSums(args.split, args.size or 256, model.image_size[1], args.components, args.max_frequency)
        scores = snr_per_signal(model, data, range(len(data)), args.device, args.batch_size)
        mean = sum(scores.values()) / len(scores)
        results = {"model": args.model, "class": type(model).__name__, "split": args.split, "signals": len(scores)}
        results.update(snr=mean, per_signal=scores)
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(results, indent=2) + "\n")
        _plot(model, data, [0, 1, 2, 3], args.device).save(out / "eval.png")
        print(f"SNR {mean:.2f} dB over {len(scores)} signals; wrote {out / 'eval.json'} and {out / 'eval.png'}")
        return results


def _plot(model, dataset, shown: list[int], device) -> Image.Image:
    """Each shown signal (grey) and its decode at 4x its samples (blue)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(len(shown), 1, figsize=(6, 1.5 * len(shown)), squeeze=False)
    for axis, i in zip(axes[:, 0], shown):
        signal = dataset[i]["signal"]
        dense = pixel_centers(4 * signal.shape[-1])
        with torch.no_grad():
            decoded = model(signal[None].to(device), dense.view(1, -1, 1).to(device))[0, :, 0].cpu()
        axis.plot(dataset.t, signal[0], color="0.6", lw=3)
        axis.plot(dense, decoded, color="tab:blue", lw=1)
        axis.set_xticks([])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return Image.open(buffer).convert("RGB")
