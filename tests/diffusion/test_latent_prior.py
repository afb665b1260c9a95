"""ginr-diffusion: the latent denoiser, streaming standardisation, and the diffusers pipeline."""

import pytest
import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

from ginr_diffusion import (
    LatentDenoiser,
    LatentINRPipeline,
    LatentStatistics,
    sampling_scheduler,
    training_scheduler,
)


def _denoiser(**kw):
    torch.manual_seed(0)
    return LatentDenoiser(**{"num_latents": 8, "latent_dim": 16, "width": 32, "depth": 2, "heads": 2, **kw})


def test_denoiser_shapes_conditioning_and_the_papers_size():
    model = _denoiser(num_classes=3)
    x = torch.randn(4, 8, 16)
    out = model(x, torch.tensor([0, 10, 500, 999]), torch.tensor([0, 1, 2, 3]))  # 3 is the null label
    assert out.shape == (4, 8, 16)
    # adaLN-Zero: at initialisation the condition cannot change the output; after a nudge it does
    torch.testing.assert_close(model(x, 5, torch.tensor([0] * 4)), model(x, 5, torch.tensor([2] * 4)))
    torch.nn.init.normal_(model.blocks[0].modulation[1].weight, std=0.1)
    assert not torch.allclose(model(x, 5, torch.tensor([0] * 4)), model(x, 5, torch.tensor([2] * 4)))
    with pytest.raises(ValueError, match="unconditional"):
        _denoiser()(x, 5, torch.tensor([0] * 4))
    with torch.device("meta"):
        paper = LatentDenoiser.from_preset("paper", num_classes=1000)
    assert 455e6 < sum(p.numel() for p in paper.parameters()) < 462e6  # App. A.3: ~458 M


def test_label_dropout_rate_for_classifier_free_guidance():
    model = _denoiser(num_classes=10, class_dropout=0.1)
    labels = torch.randint(0, 10, (20000,), generator=torch.Generator().manual_seed(0))
    dropped = model.drop_labels(labels, torch.Generator().manual_seed(1))
    rate = (dropped == 10).float().mean().item()
    assert 0.09 < rate < 0.11 and torch.equal(dropped[dropped != 10], labels[dropped != 10])


def test_streaming_statistics_equal_the_batch_formula_and_stay_stable():
    g = torch.Generator().manual_seed(0)
    data = 1e4 + torch.randn(1000, 8, 16, generator=g, dtype=torch.float64) * torch.linspace(0.01, 3, 16)
    stats = LatentStatistics()
    for chunk in torch.split(data.float(), [1, 7, 300, 2, 690]):
        stats.update(chunk)
    assert stats.count == 1000
    reference = data.float().double()
    torch.testing.assert_close(stats.mean, reference.mean(0))
    torch.testing.assert_close(stats.variance, reference.var(0), rtol=1e-6, atol=1e-9)
    # two shards merged = one pass
    a, b = LatentStatistics().update(data[:400]), LatentStatistics().update(data[400:])
    torch.testing.assert_close(a.merge(b).variance, data.var(0))
    model = _denoiser()
    model.set_latent_statistics(stats.mean.float(), stats.std())
    z = model.standardize(data.float())
    assert z.mean().abs() < 0.01 and (z.std(0) - 1).abs().max() < 0.01
    torch.testing.assert_close(model.destandardize(z), data.float(), rtol=1e-6, atol=1e-3)
    with pytest.raises(ValueError, match="must be"):
        model.set_latent_statistics(torch.zeros(3, 3), torch.ones(3, 3))


def test_schedulers_predict_clean_latents_without_clipping(tiny):
    train = training_scheduler()
    assert isinstance(train, DDPMScheduler) and train.config.num_train_timesteps == 1000
    assert train.config.prediction_type == "sample" and train.config.clip_sample is False
    assert train.config.beta_schedule == "linear"
    sample = sampling_scheduler()
    assert sample.config.prediction_type == "sample" and sample.config.clip_sample is False
    assert type(sample).__name__ in {c.__name__ for c in train.compatibles}
    with pytest.raises(ValueError, match="prediction_type='sample'"):
        LatentINRPipeline(_denoiser(), DDPMScheduler(), tiny("locinr"))


@pytest.fixture
def pipeline(tiny):
    inr = tiny("locinr")
    denoiser = _denoiser(num_latents=inr.num_latents, latent_dim=16, num_classes=3)
    denoiser.set_latent_statistics(torch.full((8, 16), 0.5), torch.full((8, 16), 2.0))
    pipe = LatentINRPipeline(denoiser, sampling_scheduler(), inr)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_pipeline_generates_reproducibly_at_any_resolution(pipeline):
    def run(**kw):
        return pipeline(class_labels=[0, 2], num_inference_steps=5, generator=torch.Generator().manual_seed(3), **kw)

    images = run(output_type="pt").images
    assert images.shape == (2, 3, 16, 16) and images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(run(output_type="pt").images, images)  # seeded
    big = run(output_type="pt", resolution=40).images
    assert big.shape == (2, 3, 40, 40)
    pil = run().images
    assert len(pil) == 2 and pil[0].size == (16, 16)
    output, latents = run(output_type="pt", return_latents=True)
    assert latents.shape == (2, 8, 16)
    # the INR decodes exactly the destandardised latents the pipeline returns
    torch.testing.assert_close(pipeline.render(latents, 16), output.images)
    # guidance 1 is the conditional model alone: one pass per step instead of two
    batches = []
    hook = pipeline.denoiser.register_forward_hook(lambda m, args, out: batches.append(out.shape[0]))
    run(output_type="pt", guidance_scale=1.0)
    guided_calls = len(batches)
    run(output_type="pt", guidance_scale=2.5)
    hook.remove()
    assert batches[:guided_calls] == [2] * 5 and batches[guided_calls:] == [4] * 5
    with pytest.raises(ValueError, match="class labels must be in 0..2"):
        pipeline(class_labels=[5], num_inference_steps=2)


def test_pipeline_round_trips_through_save_pretrained(pipeline, tmp_path):
    torch.nn.init.normal_(pipeline.denoiser.blocks[0].modulation[1].weight, std=0.2)
    pipeline.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "model_index.json").is_file()
    assert (tmp_path / "pipe" / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = LatentINRPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    torch.testing.assert_close(loaded.denoiser.latent_std, pipeline.denoiser.latent_std)
    kw = {"class_labels": [1, 2], "num_inference_steps": 4, "output_type": "pt"}
    a = pipeline(generator=torch.Generator().manual_seed(0), **kw).images
    b = loaded(generator=torch.Generator().manual_seed(0), **kw).images
    torch.testing.assert_close(a, b)
    # the INR inside is stored as a plain ginr checkpoint: it loads on its own, as the pipeline's component
    from ginr_core import GeneralizableINR

    alone = GeneralizableINR.from_pretrained(tmp_path / "pipe" / "inr")
    assert type(alone) is type(pipeline.inr) and type(loaded.inr) is type(pipeline.inr)
    assert all(torch.equal(v, alone.state_dict()[k]) for k, v in pipeline.inr.state_dict().items())
    # another compatible scheduler swaps in
    loaded.scheduler = DPMSolverMultistepScheduler.from_config(loaded.scheduler.config)
    assert loaded(generator=torch.Generator().manual_seed(0), **kw).images.shape == (2, 3, 16, 16)


def test_a_pipeline_path_that_is_neither_a_folder_nor_cached_says_which(tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    from ginr_diffusion import LatentINRPipeline

    with pytest.raises(FileNotFoundError, match="no such folder"):
        LatentINRPipeline.from_pretrained(str(tmp_path / "runs" / "prior" / "pipline"))
    with pytest.raises(LocalEntryNotFoundError, match="HF_HUB_OFFLINE is set"):
        LatentINRPipeline.from_pretrained("someone/never-downloaded-prior")
