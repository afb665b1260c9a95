"""Image generation with a latent prior: denoise latent tokens, then decode them with the INR.

``LatentINRPipeline`` is a ``diffusers.DiffusionPipeline`` of three components: the
``LatentDenoiser``, a scheduler (``DDIMScheduler`` by default; any scheduler compatible with the
training ``DDPMScheduler`` swaps in) and the frozen INR itself, any ``GeneralizableINR``. The whole
pipeline saves and loads with ``save_pretrained`` / ``from_pretrained``; its ``inr/`` folder is a
plain ginr checkpoint (``GeneralizableINR.from_pretrained("<pipeline>/inr")`` loads it), because
ginr models are registered with diffusers as a loadable library (``model_index.json`` names them
``["ginr_core", "GeneralizableINR"]``, which loads whichever family ``inr/config.json`` names).
Images come out at any resolution: the INR is a continuous function.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, ImagePipelineOutput
from diffusers.pipelines import pipeline_loading_utils
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError

from ginr_core import GeneralizableINR, inspect_artifact, render_image
from ginr_core.hub import check_source, not_cached_message, read_json
from ginr_core.memory import check_memory, check_model_memory

from .convert import check_no_pickles, safetensors_only
from .denoiser import LatentDenoiser

__all__ = ["LatentINRPipeline", "sampling_scheduler", "training_scheduler"]

# a scheduler's tables per training timestep: betas, alphas and their product (float32), timesteps (int64), copies
SCHEDULER_BYTES_PER_STEP = 32

# ginr models as a library diffusers saves and loads: every family through the base class
_GINR_LOADABLE = {"GeneralizableINR": ["save_pretrained", "from_pretrained"]}
pipeline_loading_utils.LOADABLE_CLASSES.setdefault("ginr_core", _GINR_LOADABLE)
pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.update(_GINR_LOADABLE)


def training_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The noise schedule of training: linear betas, T = 1000, x0 targets, no clipping of x0.

    ``clip_sample`` defaults to True in diffusers, which clips predictions to [-1, 1]: wrong for
    standardised latents, whose values are not bounded.
    """
    # every value explicit: diffusers' from_config gives another scheduler class its own defaults for the
    # values a config took by default (Heun's betas would become 0.00085 ... 0.012, another schedule)
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=0.0001,
        beta_end=0.02,
        beta_schedule="linear",
        prediction_type="sample",
        clip_sample=False,
    )


def sampling_scheduler(config=None) -> DDIMScheduler:
    """DDIM with the training schedule (the default sampler, 250 steps in the paper)."""
    return DDIMScheduler.from_config(config or training_scheduler().config, clip_sample=False)


class LatentINRPipeline(DiffusionPipeline):
    """Class-conditional image generation from a latent-token prior and an INR decoder.

    The call follows diffusers' ``DiTPipeline``: ``class_labels`` (ids, or names through
    ``id2label`` / ``get_label_ids``), ``guidance_scale``, ``generator``, ``num_inference_steps``,
    ``latents=`` (the initial noise), ``output_type`` (``"pil"``, ``"np"``, ``"pt"`` or
    ``"latent"``) and ``return_dict``.

    Any scheduler in ``pipe.scheduler.compatibles`` samples. The denoiser predicts clean latents
    x0; the pipeline hands each scheduler the prediction type its config asks for (x0, epsilon or
    v), converted from x0 at the current noise level, and uses epsilon for schedulers that take no
    x0 predictions (PNDM). Sigma-based schedulers (Euler, Heun, LMS, KDPM2, EDM, ...) are read
    through their input scaling: the noise level ``sigma`` of their sample gives the denoiser its
    variance-preserving input ``x / sqrt(1 + sigma^2)`` and the training timestep of that
    ``sigma``. Extra step arguments (``generator``, ``eta``) go only to schedulers that take them.
    """

    model_cpu_offload_seq = "denoiser->inr"

    def __init__(
        self,
        denoiser: LatentDenoiser,
        scheduler,
        inr: GeneralizableINR,
        id2label: dict | None = None,
    ):
        super().__init__()
        if scheduler.config.get("clip_sample", False):
            raise ValueError("clip_sample=True would clip standardised latents to [-1, 1]; pass clip_sample=False")
        if scheduler.config.get("prediction_type", "epsilon") not in PREDICTION_TYPES:
            raise ValueError(
                f"the scheduler's prediction_type must be one of {', '.join(PREDICTION_TYPES)}, "
                f"got {scheduler.config.get('prediction_type')!r}"
            )
        if not isinstance(inr, GeneralizableINR):
            raise TypeError(f"inr must be a ginr GeneralizableINR (any family), got {type(inr).__name__}")
        num_classes = denoiser.config.num_classes
        id2label = {int(k): str(v) for k, v in (id2label or {}).items()}
        outside = sorted(k for k in id2label if not 0 <= k < num_classes)
        if outside:
            raise ValueError(f"id2label names class ids {outside} outside the prior's {num_classes} classes")
        self.register_modules(denoiser=denoiser, scheduler=scheduler)
        # recorded as the base class: loading picks the family that inr/config.json names
        self.register_to_config(inr=("ginr_core", "GeneralizableINR"), id2label=id2label or None)
        self.inr = inr.requires_grad_(False).eval()
        # name -> id, each comma-separated synonym of a name on its own (as DiTPipeline)
        self.labels = {}
        for key, value in id2label.items():
            for name in value.split(","):
                self.labels[name.strip()] = key
        self.labels = dict(sorted(self.labels.items()))

    _callback_tensor_inputs = ("latents", "x0")  # what callback_on_step_end may read (diffusers' convention)
    interrupt = False  # set True in callback_on_step_end to stop sampling early

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a saved pipeline from a local folder or a Hub repository (online, or offline from the Hub cache).

        A Hub repository is first fetched into the Hub cache with ``snapshot_download`` and then loaded
        as a local folder: diffusers' own Hub path would look for the code of the ginr components in the
        repository, whereas they come from the installed ``ginr_diffusion``. ``revision``, ``cache_dir``,
        ``token``, ``force_download`` and ``local_files_only`` apply to that download; other arguments
        (``torch_dtype``, ...) go to ``DiffusionPipeline.from_pretrained``. Weights load from safetensors
        only: a pickled component (``diffusion_pytorch_model.bin``) is refused with the command that
        converts it (``ginr_diffusion.convert``), never unpickled.
        """
        name = source = os.fspath(pretrained_model_name_or_path)
        safetensors_only(kwargs)
        check_source(source)  # a mistyped local path is named as such
        if not os.path.isdir(source):
            download = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "force_download") if k in kwargs}
            try:
                source = snapshot_download(source, local_files_only=kwargs.pop("local_files_only", False), **download)
            except LocalEntryNotFoundError as error:
                raise LocalEntryNotFoundError(f"{not_cached_message(name)} (huggingface_hub: {error})") from None
        check_no_pickles(source)
        held = inspect_artifact(source)
        if held is not None and held.kind == "inr":
            raise ValueError(
                f"{name} holds a {held.class_name} checkpoint, not a {cls.__name__}: load it with "
                f"ginr_core.GeneralizableINR.from_pretrained (a prior's pipeline has a model_index.json)"
            )
        _check_component_memory(Path(source))
        return super().from_pretrained(source, **kwargs)

    # ------------------------------------------------------------------ labels
    @property
    def id2label(self) -> dict[int, str]:
        """Class id -> name (empty when the prior was trained without names)."""
        return {int(k): v for k, v in (self.config.get("id2label") or {}).items()}

    def get_label_ids(self, label: str | list[str]) -> list[int]:
        """Class names (any synonym in ``id2label``) -> class ids, as ``DiTPipeline.get_label_ids``."""
        names = [label] if isinstance(label, str) else list(label)
        unknown = [n for n in names if n not in self.labels]
        if unknown:
            known = ", ".join(list(self.labels)[:20]) + (", ..." if len(self.labels) > 20 else "")
            raise ValueError(
                f"unknown class name(s) {unknown}: "
                + (f"this prior knows {known}" if self.labels else "this prior stores no class names (id2label)")
            )
        return [self.labels[n] for n in names]

    def _class_ids(self, class_labels) -> torch.Tensor:
        if isinstance(class_labels, (str, int)):
            class_labels = [class_labels]
        if not torch.is_tensor(class_labels) and any(isinstance(c, str) for c in class_labels):
            class_labels = [self.get_label_ids(c)[0] if isinstance(c, str) else c for c in class_labels]
        return torch.as_tensor(class_labels, dtype=torch.long).reshape(-1)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def render(self, latents: torch.Tensor, resolution: int | None = None, chunk_size: int | None = 65536):
        """``(B, R, D)`` latents -> ``(B, 3, r, r)`` images in [0, 1], decoded by the INR at any resolution."""
        r = resolution or self.inr.image_size[0]
        inr = self.inr
        latents = latents.to(device=next(inr.parameters()).device, dtype=inr.dtype)
        return render_image(inr, latents, r, chunk_size=chunk_size).clamp(0.0, 1.0)

    # ------------------------------------------------------------------ schedulers
    def _working_scheduler(self):
        """The scheduler to step: the pipeline's own, or an epsilon copy where it takes no x0 predictions."""
        scheduler = self.scheduler
        if scheduler.config.get("prediction_type", "epsilon") == "sample" and not _takes_x0(scheduler):
            scheduler = type(scheduler).from_config(scheduler.config, prediction_type="epsilon")
        return scheduler

    def _alphas_cumprod(self, scheduler) -> torch.Tensor:
        table = getattr(scheduler, "alphas_cumprod", None)
        return torch.as_tensor(table if table is not None else training_scheduler().alphas_cumprod).double().cpu()

    @staticmethod
    def _sigma(scheduler, sample: torch.Tensor, model_input: torch.Tensor) -> float | None:
        """The noise level of a sigma-based scheduler's sample (None for variance-preserving schedulers).

        Those schedulers hold ``x = x0 + sigma * noise`` and scale it by ``c = 1 / sqrt(sigma^2 + s^2)``
        before the model (``s = 1``; EDM: its ``sigma_data``): ``sigma`` follows from ``c``.
        """
        if float(scheduler.init_noise_sigma) == 1.0:
            return None
        x, y = sample.double(), model_input.double()
        c = float((x * y).sum() / (x * x).sum().clamp_min(1e-300))
        data = float(scheduler.config.get("sigma_data", 1.0)) if hasattr(scheduler, "precondition_inputs") else 1.0
        return max(1.0 / c**2 - data**2, 1e-12) ** 0.5

    def _model_output(self, scheduler, x0, x, x_vp, alpha_bar: float, sigma: float | None):
        """The denoiser's x0 as the prediction the scheduler's config asks for (at the same noise level)."""
        kind = scheduler.config.get("prediction_type", "epsilon")
        if hasattr(scheduler, "precondition_outputs") and sigma is not None:
            # EDM: x0 = c_skip x + c_out F (affine in F); solve for F
            skip = scheduler.precondition_outputs(x, torch.zeros_like(x), sigma)
            out = scheduler.precondition_outputs(torch.zeros_like(x), torch.ones_like(x), sigma)
            return (x0 - skip) / out
        if kind == "sample":
            return x0
        a, b = alpha_bar**0.5, (1.0 - alpha_bar) ** 0.5
        epsilon = (x_vp - a * x0) / max(b, 1e-12)  # x_vp = sqrt(ab) x0 + sqrt(1 - ab) eps
        return epsilon if kind == "epsilon" else a * epsilon - b * x0  # v = sqrt(ab) eps - sqrt(1 - ab) x0

    def _step_kwargs(self, scheduler, generator, eta: float) -> dict:
        accepted = inspect.signature(scheduler.step).parameters
        kwargs = {"generator": generator} if "generator" in accepted else {}
        if "eta" in accepted:
            kwargs["eta"] = eta
        return kwargs

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        class_labels: list[int | str] | torch.Tensor | int | str | None = None,
        batch_size: int | None = None,
        guidance_scale: float | None = None,
        num_inference_steps: int = 50,
        resolution: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        eta: float = 0.0,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: list[str] | tuple[str, ...] = ("latents",),
    ):
        """Generate images.

        Args:
            class_labels: one label per image, as ids or names (``id2label``), for a conditional prior; or None.
            batch_size: number of images when there are no labels (and no ``latents``).
            guidance_scale: classifier-free guidance ``x0 = x0_null + s (x0_cond - x0_null)``; 1 turns it
                off. Default: 2.5 with labels, 1 without; a value > 1 needs labels and a conditional prior.
            num_inference_steps: denoising steps of the scheduler: 50 by default (seconds on a CPU for a few
                images); the paper's FID protocol uses 250 (``apps/evaluate_prior.py --steps``).
            resolution: output size in pixels (default: the INR's training resolution).
            generator: for reproducible samples (one, or one per image).
            latents: the initial noise ``(B, R, D)``, standard normal in the prior's standardised space
                (default: drawn from ``generator``).
            eta: DDIM's eta (passed to schedulers that take it).
            output_type: ``"pil"`` (PIL images), ``"np"`` (``(B, r, r, 3)``), ``"pt"`` (``(B, 3, r, r)`` in
                [0, 1]) or ``"latent"`` (the INR latents ``(B, R, D)``: decode them with ``render``).
            return_dict: ``ImagePipelineOutput`` (True) or a tuple ``(images,)``.
            callback_on_step_end: called after each denoising step as diffusers' pipelines call it,
                ``callback(pipe, step_index, timestep, callback_kwargs) -> dict``: ``callback_kwargs`` holds
                the tensors named in ``callback_on_step_end_tensor_inputs`` (``"latents"``: the scheduler's
                state, ``"x0"``: the step's prediction, both standardised); a returned ``"latents"``
                replaces the state. Setting ``pipe.interrupt = True`` in it stops sampling after that step.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        unknown = sorted(set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs))
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs {unknown} are not tensors of this pipeline; "
                f"choose from {self._callback_tensor_inputs}"
            )
        self.interrupt = False
        denoiser = self.denoiser
        config = denoiser.config
        num_classes = config.num_classes
        device = self._execution_device
        labels = None
        if class_labels is not None:
            if not num_classes:
                raise ValueError(
                    "this prior is unconditional (it was trained without class labels): "
                    "pass batch_size instead of class_labels"
                )
            labels = self._class_ids(class_labels)
            if (labels < 0).any() or (labels >= num_classes).any():
                raise ValueError(f"class labels must be in 0..{num_classes - 1}, got {labels.tolist()}")
            labels = labels.to(device)
        if guidance_scale is None:
            guidance_scale = 2.5 if labels is not None else 1.0
        if guidance_scale != 1.0 and labels is None:
            why = "it was trained without class labels" if not num_classes else "no class_labels were given"
            raise ValueError(
                f"guidance_scale={guidance_scale} needs class labels, but this prior is sampled unconditionally "
                f"({why}); use guidance_scale=1"
            )
        shape = (config.num_latents, config.latent_dim)
        if latents is not None:
            if latents.ndim != 3 or tuple(latents.shape[1:]) != shape:
                raise ValueError(f"latents must be (B, {shape[0]}, {shape[1]}), got {tuple(latents.shape)}")
            batch = latents.shape[0]
        else:
            batch = labels.shape[0] if labels is not None else (batch_size or 1)
        if labels is not None and labels.shape[0] != batch:
            raise ValueError(f"{labels.shape[0]} class labels for {batch} images")
        if isinstance(generator, list) and len(generator) != batch:
            raise ValueError(f"{len(generator)} generators for {batch} images")

        scheduler = self._working_scheduler()
        if latents is None:
            latents = randn_tensor((batch, *shape), generator=generator, device=device, dtype=torch.float32)
        # the scheduler's state in float32 whatever the denoiser's dtype (bf16 steps would lose the small updates)
        x = latents.to(device=device, dtype=torch.float32) * scheduler.init_noise_sigma
        scheduler.set_timesteps(num_inference_steps, device=device)
        table = self._alphas_cumprod(scheduler)
        log_sigmas = (0.5 * ((1 - table) / table).log()).numpy()  # increasing with t
        step_kwargs = self._step_kwargs(scheduler, generator, eta)
        guided = guidance_scale != 1.0
        null = torch.full_like(labels, denoiser.null_label) if guided else None
        for step_index, t in enumerate(self.progress_bar(scheduler.timesteps)):
            if self.interrupt:
                break
            model_input = scheduler.scale_model_input(x, t)
            sigma = self._sigma(scheduler, x, model_input)
            if sigma is None:  # variance preserving: the scheduler's input and timestep as they are
                alpha_bar = float(table[round(float(t))])
                x_vp, t_model = model_input, t
            else:  # sigma-based: the denoiser's own input and the training timestep of this sigma
                alpha_bar = 1.0 / (1.0 + sigma**2)
                x_vp = x * alpha_bar**0.5
                position = np.interp(np.log(sigma), log_sigmas, np.arange(len(log_sigmas)))
                t_model = torch.tensor(float(position), device=device)
            x_vp = x_vp.to(denoiser.dtype)
            if guided:
                both = denoiser(torch.cat([x_vp, x_vp]), t_model, torch.cat([labels, null]))
                cond, uncond = both.chunk(2)
                x0 = uncond + guidance_scale * (cond - uncond)
            else:
                x0 = denoiser(x_vp, t_model, labels)
            x0 = x0.float()
            output = self._model_output(scheduler, x0, x, x_vp, alpha_bar, sigma)
            x = scheduler.step(output, t, x, **step_kwargs).prev_sample
            if callback_on_step_end is not None:
                tensors = {"latents": x, "x0": x0}
                given = {name: tensors[name] for name in callback_on_step_end_tensor_inputs}
                x = (callback_on_step_end(self, step_index, t, given) or {}).get("latents", x)
        latents = denoiser.destandardize(x).float()
        if output_type == "latent":
            images = latents
        else:
            images = self.render(latents, resolution)
            if output_type != "pt":
                array = images.permute(0, 2, 3, 1).float().cpu().numpy()
                images = array if output_type == "np" else self.numpy_to_pil(array)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)


def _check_component_memory(folder: Path) -> None:
    """Refuse (``TooLargeError``, naming the file and setting) a pipeline folder whose scheduler or denoiser config
    needs more memory than the machine has, before diffusers builds them (the INR checks its own)."""
    scheduler = folder / "scheduler" / "scheduler_config.json"
    if scheduler.is_file():
        steps = read_json(scheduler, "scheduler config").get("num_train_timesteps")
        if isinstance(steps, (int, float)) and not isinstance(steps, bool):
            check_memory(
                steps * SCHEDULER_BYTES_PER_STEP,
                f"{scheduler}: num_train_timesteps={steps}",
                "lower num_train_timesteps (training uses 1000)",
            )
    denoiser = folder / "denoiser" / "config.json"
    if denoiser.is_file():
        accepted = set(inspect.signature(LatentDenoiser.__init__).parameters) - {"self"}
        settings = {k: v for k, v in read_json(denoiser, "denoiser config").items() if k in accepted}
        check_model_memory(LatentDenoiser, settings, str(denoiser))


def _takes_x0(scheduler) -> bool:
    """Whether a scheduler steps with x0 predictions (``prediction_type="sample"``): one tiny trial step."""
    kind = type(scheduler)
    if kind not in _TAKES_X0:
        trial = kind.from_config(scheduler.config, prediction_type="sample")
        trial.set_timesteps(4)
        x = torch.zeros(1, 1, 2)
        t = trial.timesteps[0]
        try:
            trial.step(torch.zeros_like(trial.scale_model_input(x, t)), t, x)
            _TAKES_X0[kind] = True
        except (ValueError, NotImplementedError, KeyError):
            _TAKES_X0[kind] = False
    return _TAKES_X0[kind]


_TAKES_X0: dict[type, bool] = {}
PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")
OUTPUT_TYPES = ("pil", "np", "pt", "latent")


# DiffusionPipeline.from_pretrained finds a pipeline class by model_index.json's _class_name in the diffusers
# namespace: importing ginr_diffusion makes LatentINRPipeline one of them (a folder holds no code to trust)
if getattr(diffusers, LatentINRPipeline.__name__, None) is None:
    setattr(diffusers, LatentINRPipeline.__name__, LatentINRPipeline)
