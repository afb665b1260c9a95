"""ginr-diffusion: diffusion priors over the latent tokens of generalizable INRs, on ``diffusers``.

The latent denoiser, the standardisation of latents and the ``LatentINRPipeline`` arrive with the
latent-diffusion work; this package already installs against ``ginr-core`` and ``diffusers``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
