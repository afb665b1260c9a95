"""ginr-diffusion: the latent denoiser, streaming standardisation, and the diffusers pipeline."""

import json
import time

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
    # the schedulers of other classes get the training betas, not their own defaults (diffusers' from_config
    # fills in a class's defaults for every value a config took by default)
    for kind in train.compatibles:
        if "beta_start" in kind.__init__.__code__.co_varnames:
            other = kind.from_config(sample.config)
            assert (other.config.beta_start, other.config.beta_end) == (0.0001, 0.02), kind.__name__
    with pytest.raises(ValueError, match="clip_sample=True"):
        LatentINRPipeline(_denoiser(), DDPMScheduler(), tiny("locinr"))
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        LatentINRPipeline(_denoiser(), DDPMScheduler(clip_sample=False, prediction_type="flow"), tiny("locinr"))


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
    latents = run(output_type="latent").images
    assert latents.shape == (2, 8, 16)
    # the INR decodes exactly the destandardised latents output_type="latent" returns
    torch.testing.assert_close(pipeline.render(latents, 16), images)
    (as_tuple,) = run(output_type="pt", return_dict=False)
    torch.testing.assert_close(as_tuple, images)
    # latents= is the initial noise: the generator's own draw gives the same images
    noise = torch.randn((2, 8, 16), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        pipeline(class_labels=[0, 2], num_inference_steps=5, latents=noise, output_type="pt").images, images
    )
    with pytest.raises(ValueError, match=r"latents must be \(B, 8, 16\)"):
        pipeline(class_labels=[0], num_inference_steps=2, latents=torch.zeros(1, 8, 3))
    with pytest.raises(ValueError, match="2 class labels for 3 images"):
        pipeline(class_labels=[0, 1], num_inference_steps=2, latents=torch.zeros(3, 8, 16))
    with pytest.raises(ValueError, match="output_type must be one of"):
        run(output_type="tensor")
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


# ------------------------------------------------------------------ every compatible scheduler samples
_ALPHA_BAR = training_scheduler().alphas_cumprod.double()
_MEAN, _STD = 0.5, 0.6


class _GaussianOracle(LatentDenoiser):
    """The exact x0 predictor for data ~ N(0.5, 0.6^2) per value: E[x0 | x_t] at (fractional) timestep t.

    A sampler driven by it draws from that Gaussian exactly when the pipeline hands the scheduler the
    right prediction at the right noise level: a check of every conversion, scheduler by scheduler.
    """

    def forward(self, sample, timestep, class_labels=None):
        t = float(torch.as_tensor(timestep, dtype=torch.float64).reshape(-1)[0].clamp(0, 999))
        low = int(t)
        high = min(low + 1, 999)
        alpha_bar = float(_ALPHA_BAR[low] * (high - t if high > low else 1) + _ALPHA_BAR[high] * (t - low))
        a, var = alpha_bar**0.5, _STD**2
        gain = a * var / (alpha_bar * var + 1 - alpha_bar)
        return (_MEAN + gain * (sample.double() - a * _MEAN)).to(sample.dtype)


def _compatible_schedulers():
    from diffusers.utils import is_torchsde_available

    names = sorted(c.__name__ for c in sampling_scheduler().compatibles)
    marks = {"DPMSolverSDEScheduler": pytest.mark.skipif(not is_torchsde_available(), reason="needs torchsde")}
    return [pytest.param(n, marks=marks.get(n, ()), id=n) for n in names]


@pytest.mark.slow
@pytest.mark.parametrize("name", _compatible_schedulers())
@pytest.mark.parametrize("prediction_type", ["sample", "epsilon", "v_prediction"])
def test_every_scheduler_diffusers_lists_as_compatible_samples_the_prior(tiny, name, prediction_type):
    import diffusers

    kind = getattr(diffusers, name)
    base = sampling_scheduler().config
    scheduler = kind.from_config(base, prediction_type=prediction_type)
    inr = tiny("locinr")
    denoiser = _GaussianOracle(num_latents=inr.num_latents, latent_dim=16, width=16, depth=1, heads=2)
    pipe = LatentINRPipeline(denoiser, scheduler, inr)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    latents = pipe(batch_size=64, num_inference_steps=100, generator=generator, output_type="latent").images
    assert latents.shape == (64, 8, 16) and torch.isfinite(latents).all()
    # 8192 draws: the mean within ~4 standard errors; the spread within 10 % (the ancestral samplers' own
    # error at 100 steps is ~7 %; a wrong conversion or noise level is off by far more)
    assert abs(latents.mean().item() - _MEAN) < 0.03, (name, latents.mean().item())
    assert abs(latents.std().item() / _STD - 1) < 0.1, (name, latents.std().item())


def test_class_names_through_id2label_and_unlabeled_priors_refuse_guidance(tiny, tmp_path):
    inr = tiny("locinr")
    denoiser = _denoiser(num_latents=inr.num_latents, num_classes=3)
    names = {0: "tench, Tinca tinca", 1: "goldfish", 2: "great white shark, white shark"}
    pipe = LatentINRPipeline(denoiser, sampling_scheduler(), inr, id2label=names)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.get_label_ids(["goldfish", "Tinca tinca", "white shark"]) == [1, 0, 2]
    with pytest.raises(ValueError, match=r"unknown class name\(s\) \['carp'\]: this prior knows Tinca tinca, goldfish"):
        pipe.get_label_ids("carp")
    kw = {"num_inference_steps": 3, "output_type": "pt"}
    by_name = pipe(class_labels=["goldfish", "tench"], generator=torch.Generator().manual_seed(0), **kw).images
    by_id = pipe(class_labels=[1, 0], generator=torch.Generator().manual_seed(0), **kw).images
    torch.testing.assert_close(by_name, by_id)
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = LatentINRPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.id2label == names and loaded.get_label_ids("great white shark") == [2]
    with pytest.raises(ValueError, match=r"outside the prior's 3 classes"):
        LatentINRPipeline(denoiser, sampling_scheduler(), inr, id2label={5: "x"})
    # a conditional prior sampled without labels: no guidance to apply
    with pytest.raises(ValueError, match="needs class labels"):
        pipe(batch_size=2, guidance_scale=2.5, **kw)
    assert pipe(batch_size=2, **kw).images.shape == (2, 3, 16, 16)  # default: guidance off without labels
    # an unconditional prior says so
    plain = LatentINRPipeline(_denoiser(num_latents=inr.num_latents), sampling_scheduler(), inr)
    plain.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="trained without class labels"):
        plain(batch_size=2, guidance_scale=4.0, **kw)
    with pytest.raises(ValueError, match="unconditional"):
        plain(class_labels=[0], **kw)
    with pytest.raises(ValueError, match="stores no class names"):
        plain.get_label_ids("goldfish")


def test_diffusers_loads_a_saved_pipeline_and_a_step_callback_can_stop_sampling(pipeline, tmp_path):
    from diffusers import DiffusionPipeline

    pipeline.save_pretrained(tmp_path / "pipe")
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "pipe")  # found once ginr_diffusion is imported
    assert type(loaded) is LatentINRPipeline and type(loaded.inr) is type(pipeline.inr)
    loaded.set_progress_bar_config(disable=True)
    steps, seen = [], {}

    def stop_after_three(pipe, step_index, timestep, tensors):
        steps.append(step_index)
        seen.update({k: v.shape for k, v in tensors.items()})
        if step_index == 2:
            pipe.interrupt = True
        return {"latents": tensors["latents"] * 0}  # a returned tensor replaces the state

    generator = torch.Generator().manual_seed(0)
    callback = {"callback_on_step_end": stop_after_three, "callback_on_step_end_tensor_inputs": ["latents", "x0"]}
    out = loaded(class_labels=[1], num_inference_steps=20, generator=generator, output_type="latent", **callback)
    assert steps == [0, 1, 2] and seen == {"latents": (1, 8, 16), "x0": (1, 8, 16)}
    assert torch.allclose(out.images, loaded.denoiser.destandardize(torch.zeros(1, 8, 16)))
    with pytest.raises(ValueError, match="not tensors of this pipeline"):
        loaded(class_labels=[1], num_inference_steps=2, callback_on_step_end=stop_after_three,
               callback_on_step_end_tensor_inputs=["noise"])  # fmt: skip


def test_a_pipeline_whose_scheduler_or_denoiser_needs_more_memory_than_there_is_is_refused(pipeline, tmp_path):
    pipeline.save_pretrained(tmp_path)
    for config, setting, value, named in (
        ("scheduler/scheduler_config.json", "num_train_timesteps", 10**12, "num_train_timesteps=1000000000000"),
        ("denoiser/config.json", "width", 10**6, "a LatentDenoiser with width=1000000"),
    ):
        path = tmp_path / config
        saved = path.read_text()
        path.write_text(json.dumps({**json.loads(saved), setting: value}))
        started = time.perf_counter()
        with pytest.raises(ValueError) as caught:
            LatentINRPipeline.from_pretrained(tmp_path)
        assert str(caught.value).startswith(f"{path}: {named}") and f"lower {setting}" in str(caught.value)
        assert "of memory, more than the" in str(caught.value) and time.perf_counter() - started < 5
        path.write_text(saved)
    LatentINRPipeline.from_pretrained(tmp_path)


def test_a_pickled_denoiser_is_refused_with_the_command_that_converts_it(pipeline, tmp_path):
    from ginr_diffusion.convert import main as convert_main

    folder = tmp_path / "pipe"
    pipeline.save_pretrained(folder)
    safe = folder / "denoiser" / "diffusion_pytorch_model.safetensors"
    safe.unlink()
    pipeline.denoiser.save_pretrained(folder / "denoiser", safe_serialization=False)  # diffusers' pickle
    pickle = folder / "denoiser" / "diffusion_pytorch_model.bin"
    command = f"python -m ginr_diffusion.convert {pickle} {safe}"
    for load in (
        lambda: LatentINRPipeline.from_pretrained(folder),
        lambda: LatentDenoiser.from_pretrained(pickle.parent),
    ):
        with pytest.raises(ValueError, match=f"{pickle} is a pickle file") as error:
            load()
        assert command in str(error.value)
    with pytest.raises(ValueError, match="use_safetensors=False / allow_pickle=True are refused"):
        LatentDenoiser.from_pretrained(pickle.parent, use_safetensors=False)
    convert_main([str(pickle), str(safe)])  # the documented command, run once by the user
    pickle.unlink()
    loaded = LatentINRPipeline.from_pretrained(folder)
    assert all(torch.equal(v, loaded.denoiser.state_dict()[k]) for k, v in pipeline.denoiser.state_dict().items())
