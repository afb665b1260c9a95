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

import os

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, ImagePipelineOutput
from diffusers.pipelines import pipeline_loading_utils
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError
from PIL import Image

from ginr_core import GeneralizableINR, inspect_artifact
from ginr_core.hub import check_source, not_cached_message

from .denoiser import LatentDenoiser

__all__ = ["LatentINRPipeline", "sampling_scheduler", "training_scheduler"]

# ginr models as a library diffusers saves and loads: every family through the base class
_GINR_LOADABLE = {"GeneralizableINR": ["save_pretrained", "from_pretrained"]}
pipeline_loading_utils.LOADABLE_CLASSES.setdefault("ginr_core", _GINR_LOADABLE)
pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.update(_GINR_LOADABLE)


def training_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The noise schedule of training: linear betas, T = 1000, x0 targets, no clipping of x0.

    ``clip_sample`` defaults to True in diffusers, which clips predictions to [-1, 1]: wrong for
    standardised latents, whose values are not bounded.
    """
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps, beta_schedule="linear", prediction_type="sample", clip_sample=False
    )


def sampling_scheduler(config=None) -> DDIMScheduler:
    """DDIM with the training schedule (the default sampler, 250 steps in the paper)."""
    return DDIMScheduler.from_config(config or training_scheduler().config, clip_sample=False)


class LatentINRPipeline(DiffusionPipeline):
    """Class-conditional image generation from a latent-token prior and an INR decoder."""

    model_cpu_offload_seq = "denoiser->inr"

    def __init__(self, denoiser: LatentDenoiser, scheduler, inr: GeneralizableINR):
        super().__init__()
        if scheduler.config.get("prediction_type") != "sample":
            raise ValueError(
                f"the denoiser predicts clean latents: the scheduler needs prediction_type='sample', "
                f"got {scheduler.config.get('prediction_type')!r}"
            )
        if scheduler.config.get("clip_sample", False):
            raise ValueError("clip_sample=True would clip standardised latents to [-1, 1]; pass clip_sample=False")
        if not isinstance(inr, GeneralizableINR):
            raise TypeError(f"inr must be a ginr GeneralizableINR (any family), got {type(inr).__name__}")
        self.register_modules(denoiser=denoiser, scheduler=scheduler)
        # recorded as the base class: loading picks the family that inr/config.json names
        self.register_to_config(inr=("ginr_core", "GeneralizableINR"))
        self.inr = inr.requires_grad_(False).eval()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a saved pipeline from a local folder or a Hub repository (online, or offline from the Hub cache).

        A Hub repository is first fetched into the Hub cache with ``snapshot_download`` and then loaded
        as a local folder: diffusers' own Hub path would look for the code of the ginr components in the
        repository, whereas they come from the installed ``ginr_diffusion``. ``revision``, ``cache_dir``,
        ``token``, ``force_download`` and ``local_files_only`` apply to that download; other arguments
        (``torch_dtype``, ...) go to ``DiffusionPipeline.from_pretrained``.
        """
        name = source = os.fspath(pretrained_model_name_or_path)
        check_source(source)  # a mistyped local path is named as such
        if not os.path.isdir(source):
            download = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "force_download") if k in kwargs}
            try:
                source = snapshot_download(source, local_files_only=kwargs.pop("local_files_only", False), **download)
            except LocalEntryNotFoundError as error:
                raise LocalEntryNotFoundError(f"{not_cached_message(name)} (huggingface_hub: {error})") from None
        held = inspect_artifact(source)
        if held is not None and held.kind == "inr":
            raise ValueError(
                f"{name} holds a {held.class_name} checkpoint, not a {cls.__name__}: load it with "
                f"ginr_core.GeneralizableINR.from_pretrained (a prior's pipeline has a model_index.json)"
            )
        return super().from_pretrained(source, **kwargs)

    @torch.no_grad()
    def render(self, latents: torch.Tensor, resolution: int | None = None, chunk_size: int | None = 65536):
        """``(B, R, D)`` latents -> ``(B, 3, r, r)`` images in [0, 1], decoded by the INR at any resolution."""
        r = resolution or self.inr.image_size[0]
        return self.inr.render_image(latents.to(self.inr.dtype), r, chunk_size=chunk_size).clamp(0.0, 1.0)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: list[int] | torch.Tensor | None = None,
        batch_size: int | None = None,
        guidance_scale: float = 2.5,
        num_inference_steps: int = 250,
        resolution: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_latents: bool = False,
    ):
        """Generate images.

        Args:
            class_labels: one label per image (a conditional prior), or None.
            batch_size: number of images when there are no labels.
            guidance_scale: classifier-free guidance ``x0 = x0_null + s (x0_cond - x0_null)``; 1 turns
                guidance off.
            num_inference_steps: denoising steps of the scheduler.
            resolution: output size in pixels (default: the INR's training resolution).
            generator: for reproducible samples.
            output_type: ``"pil"`` (a list of PIL images), ``"pt"`` (``(B, 3, r, r)`` in [0, 1]) or ``"np"``.

        Returns:
            ``ImagePipelineOutput(images=...)``, and the latents ``(B, R, D)`` if ``return_latents``.
        """
        denoiser = self.denoiser
        conditional = denoiser.config.num_classes > 0
        device = self._execution_device
        if class_labels is not None:
            if not conditional:
                raise ValueError("this prior is unconditional: pass batch_size instead of class_labels")
            labels = torch.as_tensor(class_labels, dtype=torch.long, device=device).reshape(-1)
            if (labels < 0).any() or (labels >= denoiser.config.num_classes).any():
                raise ValueError(f"class labels must be in 0..{denoiser.config.num_classes - 1}, got {labels.tolist()}")
            batch = labels.shape[0]
        else:
            labels, batch = None, batch_size or 1
        guided = conditional and labels is not None and guidance_scale != 1.0
        shape = (batch, denoiser.config.num_latents, denoiser.config.latent_dim)
        x = randn_tensor(shape, generator=generator, device=device, dtype=denoiser.dtype)
        x = x * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for t in self.progress_bar(self.scheduler.timesteps):
            model_input = self.scheduler.scale_model_input(x, t)
            if guided:
                null = torch.full_like(labels, denoiser.null_label)
                both = denoiser(torch.cat([model_input, model_input]), t, torch.cat([labels, null]))
                cond, uncond = both.chunk(2)
                x0 = uncond + guidance_scale * (cond - uncond)
            else:
                x0 = denoiser(model_input, t, labels)
            x = self.scheduler.step(x0, t, x, generator=generator).prev_sample
        latents = denoiser.destandardize(x)
        images = self.render(latents, resolution)
        if output_type == "pt":
            result = images
        else:
            array = images.permute(0, 2, 3, 1).float().cpu().numpy()
            if output_type == "np":
                result = array
            elif output_type == "pil":
                result = [Image.fromarray((a * 255).round().astype(np.uint8)) for a in array]
            else:
                raise ValueError(f"output_type must be pil, pt or np, got {output_type!r}")
        output = ImagePipelineOutput(images=result)
        return (output, latents) if return_latents else output
