"""ginr-diffusion: diffusion priors over the latent tokens of generalizable INRs, on ``diffusers``.

* ``LatentDenoiser``: an x0-predicting Transformer over the R latent tokens, conditioned on the
  timestep and an optional class label (with the null label of classifier-free guidance), holding
  the per-token standardisation of the latents (``LatentStatistics`` computes it in one pass).
* ``LatentINRPipeline``: denoiser + scheduler + frozen INR as a diffusers
  pipeline that generates images at any resolution and saves / loads with ``save_pretrained``.
* ``LatentCache`` / ``write_shard`` / ``write_manifest``: a latent cache larger than memory, in
  safetensors shards written by any process and memory-mapped when read.
* ``training_scheduler()`` / ``sampling_scheduler()``: DDPM (linear betas, T = 1000, x0 targets,
  no clipping) and DDIM with the same schedule.
* ``fid()`` / ``load_fid_inception()``: FID against reference images with the standard FID
  Inception-v3 weights (a local file or torch.hub's cache; a clear error offline without them).
"""

from .cache import STORAGE_DTYPES, LatentCache, LatentCacheError, missing_shards, write_manifest, write_shard
from .denoiser import DENOISER_PRESETS, LatentDenoiser, x0_loss
from .fid import FIDInception, InceptionWeightsError, fid, inception_features, load_fid_inception
from .pipeline import LatentINRPipeline, sampling_scheduler, training_scheduler
from .statistics import LatentStatistics

__version__ = "0.1.0"

__all__ = [
    "DENOISER_PRESETS",
    "STORAGE_DTYPES",
    "FIDInception",
    "InceptionWeightsError",
    "LatentCache",
    "LatentCacheError",
    "LatentDenoiser",
    "LatentINRPipeline",
    "LatentStatistics",
    "__version__",
    "fid",
    "inception_features",
    "load_fid_inception",
    "missing_shards",
    "sampling_scheduler",
    "training_scheduler",
    "write_manifest",
    "write_shard",
    "x0_loss",
]
