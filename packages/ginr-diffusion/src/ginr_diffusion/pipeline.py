"""Image generation with a latent prior: denoise latent tokens, then decode them with the INR.

``LatentINRPipeline`` is a ``diffusers.DiffusionPipeline`` of three components: the
``LatentDenoiser``, a scheduler (``DDIMScheduler`` by default; any scheduler compatible with the
training ``DDPMScheduler`` swaps in) and the frozen INR wrapped as ``INRDecoder`` (a
``diffusers.ModelMixin``, so that the whole pipeline saves and loads with ``save_pretrained`` /
``from_pretrained``). Images come out at any resolution: the INR is a continuous function.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from diffusers import ConfigMixin, DDIMScheduler, DDPMScheduler, DiffusionPipeline, ImagePipelineOutput, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import snapshot_download
from PIL import Image

from ginr_core import GeneralizableINR, get_model_class

from .denoiser import LatentDenoiser

__all__ = ["INRDecoder", "LatentINRPipeline", "sampling_scheduler", "training_scheduler"]


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


class INRDecoder(ModelMixin, ConfigMixin):
    """A frozen ginr INR as a diffusers component: ``config.json`` + safetensors like any diffusers model."""

    @register_to_config
    def __init__(self, family: str = "locinr", inr_config: dict | None = None):
        super().__init__()
        self.inr = get_model_class(family)(**(inr_config or {}))
        self.inr.requires_grad_(False)

    @classmethod
    def from_inr(cls, model: GeneralizableINR) -> INRDecoder:
        decoder = cls(family=model.family, inr_config=model.config)
        decoder.inr.load_state_dict(model.state_dict())
        return decoder.to(next(model.parameters()).device)

    @torch.no_grad()
    def render(self, latents: torch.Tensor, resolution: int, chunk_size: int | None = 65536) -> torch.Tensor:
        """``(B, R, D)`` latents -> ``(B, 3, r, r)`` images in [0, 1]."""
        return self.inr.render_image(latents, resolution, chunk_size=chunk_size).clamp(0.0, 1.0)


class LatentINRPipeline(DiffusionPipeline):
    """Class-conditional image generation from a latent-token prior and an INR decoder."""

    model_cpu_offload_seq = "denoiser->inr"

    def __init__(self, denoiser: LatentDenoiser, scheduler, inr: INRDecoder):
        super().__init__()
        if scheduler.config.get("prediction_type") != "sample":
            raise ValueError(
                f"the denoiser predicts clean latents: the scheduler needs prediction_type='sample', "
                f"got {scheduler.config.get('prediction_type')!r}"
            )
        if scheduler.config.get("clip_sample", False):
            raise ValueError("clip_sample=True would clip standardised latents to [-1, 1]; pass clip_sample=False")
        self.register_modules(denoiser=denoiser, scheduler=scheduler, inr=inr)

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
        if not os.path.isdir(source):
            download = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "force_download") if k in kwargs}
            source = snapshot_download(source, local_files_only=kwargs.pop("local_files_only", False), **download)
        config = os.path.join(source, "config.json")
        if not os.path.isfile(os.path.join(source, "model_index.json")) and os.path.isfile(config):
            with open(config) as f:
                held = json.load(f).get("_class_name")
            raise ValueError(
                f"{name} holds a {held} checkpoint, not a {cls.__name__}: load it with "
                f"ginr_core.{held}.from_pretrained (a prior's pipeline has a model_index.json)"
            )
        return super().from_pretrained(source, **kwargs)

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
        denoiser, inr = self.denoiser, self.inr
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
        images = inr.render(latents.to(inr.dtype), resolution or inr.inr.image_size[0])
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
