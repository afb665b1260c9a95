"""A browser demo of saved ginr models: reconstruction at any resolution, locality, novel views, generation.

    python apps/demo.py --model runs/default/model                  # the README's first command writes it
    python apps/demo.py --model runs/default/model --nvs-model runs/nvs-default/model --prior runs/prior/pipeline
    python apps/demo.py --model <user>/locinr-ffhq                  # a Hub id
    python apps/demo.py                                             # no model: the page says how to get one

Each of --model (an image INR), --nvs-model (a light-field model) and --prior (a prior's pipeline) is a
local save_pretrained folder or a Hub repo id; a tab is shown for each one given:

- Reconstruct: upload a photo (any size, any format PIL reads) or pick an embedded one: the model's
  input, its reconstruction and a decode at 1x-8x (chunked: memory stays bounded), with the PSNR of the
  reconstruction against the input; optionally after test-time optimisation of the latents (a slider of
  Adam steps, ``ginr_core.fitting.refine_latents``), beside the zero-shot PSNR. Click a point of the
  input to see which latent tokens change the output most there and their locality maps
  (``ginr_core.analysis``); pick a token to see its map alone.
- Novel views: an embedded held-out object and 1-3 support views (or your own views: a transforms.json
  and its PNGs in the learnit layout); the view from a camera set by azimuth and elevation, and an orbit GIF.
- Generate: a class (by name), guidance, steps, seed and resolution; the image and the denoising
  progress (the prior's prediction after each step, through ``callback_on_step_end``).

The server binds 127.0.0.1 (``--host 0.0.0.0`` to serve a network) and refuses uploads over
``--max-upload-mb``. ``build_demo`` returns the Gradio Blocks (a Hub Space's ``app.py`` calls it).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["DemoModels", "build_demo", "main"]

MAX_SCALE = 8  # the resolution slider's range: 1x-8x the model's input size
MAX_REFINE_STEPS = 200  # the test-time optimisation slider's range (Adam steps on the latents)
TOP_TOKENS = 4  # the tokens shown for a clicked point
SHOWN = 256  # the model's input and reconstruction are shown this large (nearest-neighbour: its pixels)
MAX_PIXELS = 40_000_000  # an upload larger than this is refused (a decompression bomb, or just too big)
DECODE_CHUNK = 16_384  # coordinates decoded at a time: bounds the memory of an 8x decode
HOW_TO_GET_A_MODEL = """\
**No model loaded.** Train one on this machine with the README's first command (about 10 minutes on a
CPU); it writes `runs/default/model`. Then start the demo on it:

    python apps/demo.py --model runs/default/model

or give a Hub id (`--model <user>/locinr-ffhq`), a light-field model (`--nvs-model runs/nvs-default/model`,
from `accelerate launch apps/train.py --config apps/configs/nvs_default.yaml`) or a prior's pipeline
(`--prior runs/prior/pipeline`, from `apps/train_prior.py`).
"""


class DemoError(ValueError):
    """A mistake of the page's user (a bad upload, a wrong choice): shown in the page, never a traceback."""


def _to_pil(image: torch.Tensor):
    from PIL import Image

    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels, mode="RGB")


def _shown(image: torch.Tensor):
    """A small picture enlarged by a whole factor to about ``SHOWN`` pixels, each pixel a square."""
    from PIL import Image

    picture = _to_pil(image)
    factor = max(1, SHOWN // max(picture.size))
    return picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)


def _heat(maps: torch.Tensor):
    """``(H, W)`` non-negative map -> a PIL heat map (black -> red -> yellow -> white), scaled to its own max."""
    scaled = maps / maps.max().clamp_min(1e-12)
    rgb = torch.stack([(scaled * 3).clamp(0, 1), (scaled * 3 - 1).clamp(0, 1), (scaled * 3 - 2).clamp(0, 1)])
    return _to_pil(rgb)


def open_upload(path: str | os.PathLike | None, max_pixels: int = MAX_PIXELS):
    """An uploaded file as an RGB PIL image, or a ``DemoError`` saying what is wrong with it."""
    from PIL import Image

    from ginr_data import ImageLoadError, to_rgb

    if path is None:
        raise DemoError("upload a photo first (or pick an embedded one)")
    name = Path(path).name
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise DemoError(
                    f"{name} is {image.width} x {image.height} pixels; the demo takes at most "
                    f"{max_pixels / 1e6:.0f} megapixels (downscale it first)"
                )
            image.load()
            return to_rgb(image, name)
    except DemoError:
        raise
    except ImageLoadError as err:
        raise DemoError(str(err)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DemoError(f"{name} is not an image PIL can read ({type(err).__name__})") from None


class DemoModels:
    """The models of the demo and what each tab computes, without any UI (the tests call these directly).

    Args:
        model: an image INR (``d_in = 2``), or None.
        nvs_model: a light-field model (``d_in = 6``, posed views in), or None.
        prior: a ``LatentINRPipeline``, or None.
    """

    def __init__(self, model=None, nvs_model=None, prior=None):
        if model is not None and model.d_in != 2:
            raise ValueError(f"--model must be an image INR (d_in=2); this one has d_in={model.d_in} (--nvs-model?)")
        if nvs_model is not None and nvs_model.d_in != 6:
            raise ValueError(f"--nvs-model must be a light-field model (d_in=6); this one has d_in={nvs_model.d_in}")
        self.model = model.eval() if model is not None else None
        self.nvs_model = nvs_model.eval() if nvs_model is not None else None
        self.prior = prior
        if prior is not None:
            prior.set_progress_bar_config(disable=True)

    # ------------------------------------------------------------------ reconstruct
    @torch.no_grad()
    def reconstruct(self, image, scale: float = 2.0, refine_steps: int = 0) -> dict:
        """The model's input (its preprocessing of ``image``), the reconstruction at its size, a decode at
        ``scale`` times that size and the PSNR of the reconstruction; ``latents`` for the locality views.
        ``refine_steps`` > 0: test-time optimisation of the latents first (``refine_latents``); then also
        ``zero_shot_psnr`` and ``refine_seconds``."""
        from ginr_core import preprocess, psnr, render_image
        from ginr_core.fitting import refine_latents

        model = self._needs(self.model, "--model")
        scale = float(scale)
        if not 1 <= scale <= MAX_SCALE:
            raise DemoError(f"the resolution must be 1x-{MAX_SCALE}x, got {scale}")
        if not 0 <= refine_steps <= MAX_REFINE_STEPS:
            raise DemoError(f"the test-time optimisation takes 0-{MAX_REFINE_STEPS} steps, got {refine_steps}")
        inputs = preprocess(image, model)
        latents = model.encode(inputs)
        extra = {}
        if refine_steps:
            with torch.enable_grad():
                fit = refine_latents(model, inputs, latents, steps=int(refine_steps), progress=False)
            latents = fit.latents
            extra = {"zero_shot_psnr": fit.history[0]["psnr"], "refine_seconds": fit.history[-1]["seconds"]}
        h, w = model.image_size
        recon = render_image(model, latents, h, w, chunk_size=DECODE_CHUNK).float().clamp(0, 1)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        big = render_image(model, latents, *size, chunk_size=DECODE_CHUNK).float().clamp(0, 1)
        score = float(psnr(recon, inputs.float()).mean())
        return {"input": inputs[0], "reconstruction": recon[0], "decode": big[0], "size": size, "psnr": score,
                "latents": latents, **extra}  # fmt: skip

    @torch.no_grad()
    def token_maps(self, latents: torch.Tensor) -> torch.Tensor:
        """``(R, H, W)``: how much the reconstruction moves at each pixel when token k is zeroed."""
        from ginr_core import image_coords
        from ginr_core.analysis import token_difference_maps

        model = self._needs(self.model, "--model")
        h, w = model.image_size
        coords = image_coords(h, w, device=latents.device).view(1, -1, 2)
        return token_difference_maps(model, latents, coords, chunk_size=DECODE_CHUNK)[0].view(-1, h, w)

    def tokens_at(self, maps: torch.Tensor, x: float, y: float, top: int = TOP_TOKENS) -> list[tuple[int, float]]:
        """The ``top`` tokens whose removal changes pixel ``(x, y)`` (fractions of width and height) most."""
        _, h, w = maps.shape
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise DemoError(f"the point must lie in the image, got ({x:.2f}, {y:.2f})")
        row, col = min(h - 1, int(y * h)), min(w - 1, int(x * w))
        values = maps[:, row, col]
        order = torch.argsort(values, descending=True)[: min(top, len(values))]
        return [(int(k), float(values[k])) for k in order]

    # ------------------------------------------------------------------ novel views
    def embedded_object(self, item: int, views: int) -> dict:
        """Support views of held-out object ``item`` of the embedded scenes: views, poses, focal, the truth."""
        from ginr_core import ray_format_of
        from ginr_data import light_field_dataset

        model = self._needs(self.nvs_model, "--nvs-model")
        if not 1 <= views <= model.num_views:
            raise DemoError(f"the model takes 1-{model.num_views} support views, got {views}")
        r = model.image_size[0]
        dataset = light_field_dataset("scenes", "test", resolution=r, num_support=views, train=False,
                                      ray_format=ray_format_of(model))  # fmt: skip
        if not 0 <= item < len(dataset):
            raise DemoError(f"the embedded scenes hold {len(dataset)} test objects (0-{len(dataset) - 1}), got {item}")
        got = dataset[item]
        support = got["support"][:views]  # (V, 9, r, r): colours and rays
        return {"input": support, "views": support[:, :3], "poses": got["support_poses"][:views], "focal": got["focal"]}

    def uploaded_object(self, transforms: str | os.PathLike, frames: list[int] | None) -> dict:
        """Your own posed views: a learnit-layout ``transforms.json`` (its PNGs beside it) and the frames to use."""
        from ginr_core import ray_format_of
        from ginr_data import ImageLoadError, LightFieldError, posed_views

        model = self._needs(self.nvs_model, "--nvs-model")
        try:
            got = posed_views(transforms, frames, resolution=model.image_size[0], ray_format=ray_format_of(model))
        except (LightFieldError, ImageLoadError, FileNotFoundError, KeyError, ValueError) as err:
            raise DemoError(f"the views cannot be used: {err}") from None
        if not 1 <= len(got["poses"]) <= model.num_views:
            raise DemoError(f"the model takes 1-{model.num_views} support views; {len(got['poses'])} given")
        return {"input": got["support"], "views": got["support"][:, :3], "poses": got["poses"], "focal": got["focal"]}

    @torch.no_grad()
    def view_from(self, support: dict, azimuth: float, elevation: float, size: int | None = None) -> torch.Tensor:
        """``(3, s, s)``: the view of a camera at ``azimuth`` (degrees from the first support camera, around
        the support cameras' mean up vector) and ``elevation`` (degrees), at their mean distance."""
        return self.orbit(support, 1, elevation, start=azimuth, size=size)[0]

    @torch.no_grad()
    def orbit(self, support: dict, frames: int, elevation: float | None = None, start: float = 0.0,
              size: int | None = None) -> list[torch.Tensor]:  # fmt: skip
        """``frames`` views evenly spaced around the object (``start`` degrees from the first support camera),
        the support views encoded once."""
        from ginr_core import orbit_around, posed_rays, ray_format_of

        model = self._needs(self.nvs_model, "--nvs-model")
        ring = orbit_around(support["poses"], 360, elevation)  # one camera per degree: any azimuth is one of them
        cameras = torch.stack([ring[round(start + k * 360 / frames) % 360] for k in range(frames)])
        r, side = model.image_size[0], size or model.image_size[0]
        latents = model.encode(support["input"][None].to(device=model.device, dtype=model.dtype))
        rays = posed_rays(cameras, support["focal"] * side / r, side, side, ray_format_of(model))
        views = []
        for query in rays.view(frames, 1, -1, 6).to(device=model.device, dtype=model.dtype):
            colours = model.decode(latents, query, chunk_size=DECODE_CHUNK)[0]
            views.append(colours.T.reshape(3, side, side).float().clamp(0, 1).cpu())
        return views

    # ------------------------------------------------------------------ generate
    def class_names(self) -> list[str]:
        prior = self._needs(self.prior, "--prior")
        count = prior.denoiser.config.num_classes
        return [prior.id2label.get(k, str(k)) for k in range(count)]

    def _conditional(self) -> bool:
        return bool(self.prior.denoiser.config.num_classes)

    def generate(self, label: str | None, guidance: float, steps: int, seed: int, resolution: int | None = None,
                 on_step=None) -> tuple[torch.Tensor, list[torch.Tensor]]:  # fmt: skip
        """One generated image ``(3, r, r)`` and the prior's prediction decoded after each step (every few
        steps, at most 10 pictures). ``on_step(done, total)`` reports progress."""
        prior = self._needs(self.prior, "--prior")
        steps = int(steps)
        if not 1 <= steps <= 1000:
            raise DemoError(f"steps must be 1-1000, got {steps}")
        labels = None
        if self._conditional():
            names = self.class_names()
            if label not in names:
                raise DemoError(f"pick a class: one of {', '.join(names)}")
            labels = [label]
        elif label:
            raise DemoError("this prior is unconditional: it takes no class")
        every = max(1, math.ceil(steps / 10))
        shown: list[torch.Tensor] = []

        def callback(pipe, index, timestep, kwargs):
            if (index + 1) % every == 0 or index + 1 == steps:
                shown.append(pipe.render(pipe.denoiser.destandardize(kwargs["x0"]))[0].cpu())
            if on_step is not None:
                on_step(index + 1, steps)
            return {}

        out = prior(
            class_labels=labels,
            batch_size=None if labels else 1,
            guidance_scale=float(guidance) if labels else 1.0,
            num_inference_steps=steps,
            resolution=int(resolution) if resolution else None,
            generator=torch.Generator().manual_seed(int(seed)),
            output_type="pt",
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=["x0"],
        )
        return out.images[0], shown

    @staticmethod
    def _needs(model, flag: str):
        if model is None:
            raise DemoError(f"no model for this tab: start the demo with {flag}")
        return model


def load_models(model: str | None, nvs_model: str | None, prior: str | None, device: str = "cpu") -> DemoModels:
    """Load what the flags name (checked first: a mistyped path or the wrong kind is one line, exit 2)."""
    from ginr_core import GeneralizableINR

    from .cli import checked_source, fail

    loaded = {}
    try:
        for key, source in (("model", model), ("nvs_model", nvs_model)):
            if source is not None:
                loaded[key] = GeneralizableINR.from_pretrained(checked_source(source, "inr")).to(device)
        if prior is not None:
            from ginr_diffusion import LatentINRPipeline

            loaded["prior"] = LatentINRPipeline.from_pretrained(checked_source(prior, "pipeline")).to(device)
        return DemoModels(**loaded)
    except (OSError, ValueError) as err:
        fail(str(err))


# ---------------------------------------------------------------------- the page
def build_demo(models: DemoModels, max_upload_mb: float = 20.0):
    """The Gradio Blocks of ``models``: a tab for each model given, or a page that says how to get one."""
    import gradio as gr

    def shown(function):
        """A handler whose mistakes (and the models' refusals) show in the page as a message."""

        @functools.wraps(function)  # its signature too: gradio passes gr.SelectData and gr.Progress by it
        def wrapped(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (DemoError, ValueError, OSError) as err:
                raise gr.Error(str(err), print_exception=False) from None

        return wrapped

    with gr.Blocks(title="ginr demo") as page:
        gr.Markdown("# ginr: generalizable implicit neural representations")
        if models.model is None and models.nvs_model is None and models.prior is None:
            gr.Markdown(HOW_TO_GET_A_MODEL, elem_id="no-model")
        if models.model is not None:
            _reconstruct_tab(gr, models, shown, max_upload_mb)
        if models.nvs_model is not None:
            _novel_view_tab(gr, models, shown)
        if models.prior is not None:
            _generate_tab(gr, models, shown)
    return page


def _reconstruct_tab(gr, models: DemoModels, shown, max_upload_mb: float) -> None:
    from ginr_data.photos import PHOTO_SPLITS, photo

    h, w = models.model.image_size
    embedded = sorted(PHOTO_SPLITS["test"])
    with gr.Tab("Reconstruct", elem_id="tab-reconstruct"):
        gr.Markdown(
            f"The model encodes your photo at {h} x {w} (its input: resized and centre-cropped as it was "
            "trained), then decodes the latents at any resolution. Click a point of the input to see which "
            "latent tokens matter most there."
        )
        with gr.Row():
            # a file, not gr.Image: an upload that is no image reaches open_upload, which says so in the page
            upload = gr.File(label=f"your photo: any format PIL reads, up to {max_upload_mb:g} MB", type="filepath",
                             elem_id="upload")  # fmt: skip
            pick = gr.Dropdown(embedded, label="or an embedded photo", value=None, elem_id="embedded-photo")
        with gr.Row():
            scale = gr.Slider(1, MAX_SCALE, value=2, step=1, label="decode resolution (x the input)", elem_id="scale")
            refine = gr.Slider(0, MAX_REFINE_STEPS, value=0, step=10, elem_id="refine-steps",
                               label="test-time optimisation: Adam steps on the latents (0: zero-shot)")  # fmt: skip
        with gr.Row():
            shown_input = gr.Image(label="model input (click a point)", format="png", interactive=False,
                                   elem_id="model-input")  # fmt: skip
            recon = gr.Image(label="reconstruction", format="png", interactive=False, elem_id="reconstruction")
            decode = gr.Image(label="decoded at the chosen resolution", format="png", interactive=False,
                              elem_id="decode")  # fmt: skip
        score = gr.Markdown(elem_id="psnr")
        with gr.Row():
            locality = gr.Gallery(label="locality maps of the tokens that matter most at the point", columns=TOP_TOKENS,
                                  format="png", elem_id="locality")  # fmt: skip
            token = gr.Slider(0, models.model.num_latents - 1, step=1, value=0, label="one token's map",
                              elem_id="token")  # fmt: skip
            token_map = gr.Image(label="the token's locality map", format="png", interactive=False,
                                 elem_id="token-map")  # fmt: skip
        state = gr.State(None)

        def source_image(path, name):
            return photo(name) if name and path is None else open_upload(path)

        def run(path, name, factor, steps):
            image = source_image(path, name)
            got = models.reconstruct(image, factor, int(steps))
            maps = models.token_maps(got["latents"])
            size = got["size"]
            text = f"PSNR of the reconstruction: **{got['psnr']:.2f} dB**; decoded at {size[1]} x {size[0]}"
            if steps:
                text += (f" (zero-shot: {got['zero_shot_psnr']:.2f} dB; {int(steps)} steps of test-time "
                         f"optimisation in {got['refine_seconds']:.1f} s)")  # fmt: skip
            shown_input = _shown(got["input"])
            state = {"maps": maps, "shown": shown_input.size}
            return shown_input, _shown(got["reconstruction"]), _to_pil(got["decode"]), text, state

        def click(state, evt: gr.SelectData):
            if state is None:
                raise DemoError("reconstruct a photo first")
            (x, y), (width, height) = evt.index, state["shown"]
            tokens = models.tokens_at(state["maps"], (x + 0.5) / width, (y + 0.5) / height)
            return [(_heat(state["maps"][k]).resize((128, 128)), f"token {k}: {v:.3f}") for k, v in tokens]

        click.__annotations__["evt"] = gr.SelectData  # a class, not this module's postponed string: gradio reads it

        def one_token(state, k):
            if state is None:
                return None
            return _heat(state["maps"][int(k)]).resize((128, 128))

        outputs = [shown_input, recon, decode, score, state]
        inputs = [upload, pick, scale, refine]
        for trigger in (upload.change, pick.change, scale.release, refine.release):
            trigger(shown(run), inputs, outputs, api_name=False)
        gr.Button("reconstruct", elem_id="run-reconstruct").click(shown(run), inputs, outputs, api_name="reconstruct")
        shown_input.select(shown(click), [state], [locality], api_name=False)
        token.release(shown(one_token), [state, token], [token_map], api_name=False)


def _novel_view_tab(gr, models: DemoModels, shown) -> None:
    model = models.nvs_model
    with gr.Tab("Novel views", elem_id="tab-novel-views"):
        gr.Markdown(
            "The model takes 1-3 posed views of an object and predicts the colour of every ray of a new "
            "camera. Pick a held-out embedded object, or upload your own views: a `transforms.json` "
            "(learnit layout) and its PNGs."
        )
        with gr.Row():
            item = gr.Number(0, precision=0, minimum=0, label="embedded test object", elem_id="nvs-item")
            views = gr.Slider(1, model.num_views, value=model.num_views, step=1, label="support views")
            files = gr.File(label="or your views: transforms.json + PNGs", file_count="multiple", elem_id="nvs-files")
        with gr.Row():
            azimuth = gr.Slider(-180, 180, value=45, step=1, label="azimuth (degrees from the first view)")
            elevation = gr.Slider(-80, 80, value=20, step=1, label="elevation (degrees)")
        with gr.Row():
            support = gr.Gallery(label="support views", format="png", elem_id="support")
            view = gr.Image(label="the new view", format="png", interactive=False, elem_id="new-view")
            orbit = gr.Image(label="orbit", interactive=False, elem_id="orbit")

        def support_of(index, count, uploads):
            if uploads:
                return models.uploaded_object(_staged_views(uploads), None)
            return models.embedded_object(int(index or 0), int(count))

        def run(index, count, uploads, az, el, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
            got = support_of(index, count, uploads)
            side = 4 * model.image_size[0]
            progress(0.1, desc="the new view")
            new = models.view_from(got, float(az), float(el), size=side)
            frames = []
            for k, frame in enumerate(models.orbit(got, 24, float(el), size=side)):
                frames.append(_to_pil(frame))
                progress(0.2 + 0.8 * (k + 1) / 24, desc="the orbit")
            gif = Path(tempfile.mkdtemp(prefix="ginr-demo-")) / "orbit.gif"
            frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
            return [_to_pil(v) for v in got["views"]], _to_pil(new), str(gif)

        button = gr.Button("render", elem_id="run-novel-view")
        button.click(
            shown(run), [item, views, files, azimuth, elevation], [support, view, orbit], api_name="novel_view"
        )


def _staged_views(uploads) -> Path:
    """The uploaded files of one object in one folder: its transforms.json (frames pointing at the uploaded
    PNGs by file name) and the PNGs."""
    import shutil

    paths = [Path(getattr(u, "name", u)) for u in uploads]
    metas = [p for p in paths if p.suffix == ".json"]
    if len(metas) != 1:
        raise DemoError(f"upload one transforms.json with the views' PNGs; got {len(metas)} JSON files")
    folder = Path(tempfile.mkdtemp(prefix="ginr-views-"))
    images = {p.name: p for p in paths if p not in metas}
    try:
        meta = json.loads(metas[0].read_text())
        for frame in meta["frames"]:
            name = Path(str(frame["file_path"])).name
            name = name if name in images else f"{name}.png"  # NeRF-synthetic paths omit the extension
            if name not in images:
                raise DemoError(f"transforms.json lists {frame['file_path']}, which was not uploaded")
            shutil.copyfile(images[name], folder / name)
            frame["file_path"] = name
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DemoError(
            f"transforms.json is not a learnit/NeRF transforms file ({type(err).__name__}: {err})"
        ) from None
    (folder / "transforms.json").write_text(json.dumps(meta))
    return folder / "transforms.json"


def _generate_tab(gr, models: DemoModels, shown) -> None:
    names = models.class_names()
    r = models.prior.inr.image_size[0]
    with gr.Tab("Generate", elem_id="tab-generate"):
        gr.Markdown("A diffusion prior over the INR's latent tokens; the INR decodes the sample at any resolution.")
        with gr.Row():
            label = gr.Dropdown(names, value=names[0] if names else None, label="class", visible=bool(names),
                                elem_id="class")  # fmt: skip
            guidance = gr.Slider(1, 8, value=2.5 if names else 1.0, step=0.5, label="guidance", visible=bool(names))
            steps = gr.Slider(1, 250, value=50, step=1, label="denoising steps", elem_id="steps")
            seed = gr.Number(0, precision=0, label="seed", elem_id="seed")
            resolution = gr.Slider(8, 8 * r, value=4 * r, step=1, label="output resolution (pixels)")
        image = gr.Image(label="generated", format="png", interactive=False, elem_id="generated")
        progress_view = gr.Gallery(label="the prediction as it denoises", columns=10, format="png", elem_id="denoising")

        def run(name, scale, count, number, side, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
            picture, shown_steps = models.generate(
                name, scale, count, number, side, on_step=lambda done, total: progress(done / total, desc="denoising")
            )
            return _to_pil(picture), [_to_pil(x) for x in shown_steps]

        gr.Button("generate", elem_id="run-generate").click(
            shown(run), [label, guidance, steps, seed, resolution], [image, progress_view], api_name="generate"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an image INR: a save_pretrained folder (runs/default/model) or a Hub id")
    parser.add_argument("--nvs-model", help="a light-field model (novel views): a folder or a Hub id")
    parser.add_argument("--prior", help="a prior's pipeline (generation): a folder (runs/prior/pipeline) or a Hub id")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (0: a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted, in MB")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, block: bool = True):
    """Start the demo; returns the running Blocks when ``block`` is False (tests), else serves until stopped."""
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    models = load_models(args.model, args.nvs_model, args.prior, args.device)
    page = build_demo(models, args.max_upload_mb)
    page.queue(default_concurrency_limit=1)  # one job at a time: a CPU demo
    page.launch(
        server_name=args.host,
        server_port=args.port or None,
        share=args.share,
        max_file_size=f"{args.max_upload_mb:g}mb",
        prevent_thread_lock=not block,
        show_error=True,
    )
    return page


def run() -> None:
    main()


if __name__ == "__main__":
    run()
