"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s build``, ``nox -s docs``.

torch is installed first at the CPU wheel pinned below, so that the packages' own range
(``torch>=2.4``) is already satisfied and pip never reaches for a multi-GB CUDA build; the
published metadata keeps the normal range.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
TORCH = os.environ.get("GINR_TORCH", "torch==2.13.0")
PACKAGES = ["ginr-core", "ginr-data", "ginr-diffusion"]
DIST = ROOT / "dist"

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

# No test reaches the network: the Hub is offline and its cache is a temporary folder.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _editable_packages() -> list[str]:
    extras = {"ginr-data": "[embedded]"}  # the embedded default data the tests train on
    return [arg for name in PACKAGES for arg in ("-e", f"{ROOT / 'packages' / name}{extras.get(name, '')}")]


def _install_for_tests(session: nox.Session) -> None:
    session.install(TORCH)
    session.install(
        *_editable_packages(),
        "-r",
        str(ROOT / "apps" / "requirements.txt"),
        *nox.project.dependency_groups(PYPROJECT, "test"),
    )


def _pytest(session: nox.Session, *args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="ginr-hf-home-") as hf_home:
        session.run("pytest", *args, *session.posargs, env={**OFFLINE_ENV, "HF_HOME": hf_home})


@nox.session
def tests(session: nox.Session) -> None:
    """The fast tier of the test suite on CPU (everything not marked ``slow``), against editable installs of
    every package and the apps' requirements."""
    _install_for_tests(session)
    _pytest(session, "-m", "not slow")


@nox.session
def tests_slow(session: nox.Session) -> None:
    """The slow tier: the apps run as subprocesses, two-process runs, kill trials, compilation, paper-size models."""
    _install_for_tests(session)
    _pytest(session, "-m", "slow")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository (one shared config)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def build(session: nox.Session) -> None:
    """Build sdists and wheels, then install each wheel alone into a fresh venv and use it."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "build"))
    shutil.rmtree(DIST, ignore_errors=True)
    for name in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(DIST), str(ROOT / "packages" / name))
    # the metadata PyPI shows: each README renders, versions and classifiers are valid
    session.run("twine", "check", "--strict", *sorted(str(p) for p in DIST.iterdir()))
    checks = {
        "ginr-core": (
            "import tempfile, ginr_core, torch; "
            "m = ginr_core.LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, "
            "encoder_heads=2, num_latents=8, hidden_dim=16, fourier_dim=16).eval(); "
            "x, c = torch.rand(2, 3, 16, 16), ginr_core.image_coords(8, 8).view(1, -1, 2); "
            "y = m(x, c); assert y.shape == (2, 64, 3), y.shape; "
            "folder = m.save_pretrained(tempfile.mkdtemp()); "
            "back = ginr_core.GeneralizableINR.from_pretrained(folder, strict=True); "
            "assert type(back) is ginr_core.LocalityAwareINR and back.config == m.config; "
            "assert torch.equal(back(x, c), y), 'the reloaded model decodes other numbers'; "
            "import importlib.util as u; "
            "extra = [m for m in ('datasets', 'diffusers', 'accelerate') if u.find_spec(m)]; "
            "assert not extra, f'ginr-core pulled {extra}'; "
            "print('ginr-core', ginr_core.__version__, 'forward, save_pretrained, strict reload: identical', "
            "tuple(y.shape), 'without datasets, diffusers or accelerate')"
        ),
        "ginr-data": (
            "import tempfile, ginr_data; from ginr_data.scenes import render_scenes; "
            "root = render_scenes(tempfile.mkdtemp(), num_train=2, num_test=1, views=4, resolution=8); "
            "item = ginr_data.LightFieldDataset(root, 'shapes', 'test', num_support=2, repeats=1)[0]; "
            "assert item['support'].shape == (2, 9, 8, 8), item['support'].shape; "
            "print('ginr-data', ginr_data.__version__, 'renders and loads a light field', tuple(item['support'].shape))"
        ),
        "ginr-diffusion": (
            "import torch, ginr_core, ginr_diffusion as gd; "
            "inr = ginr_core.LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, "
            "encoder_heads=2, num_latents=8, hidden_dim=16, fourier_dim=16); "
            "den = gd.LatentDenoiser(num_latents=8, latent_dim=16, width=32, depth=1, heads=2, num_classes=3); "
            "pipe = gd.LatentINRPipeline(den, gd.sampling_scheduler(), inr); "
            "x = pipe(class_labels=[0, 2], num_inference_steps=2, output_type='pt').images; "
            "assert x.shape == (2, 3, 16, 16), x.shape; "
            "print('ginr-diffusion', gd.__version__, 'samples', tuple(x.shape))"
        ),
    }
    for name in PACKAGES:
        wheel = next(DIST.glob(name.replace("-", "_") + "-*.whl"))
        with tempfile.TemporaryDirectory(prefix=f"{name}-venv-") as venv:
            session.run("python", "-m", "venv", venv)
            python = str(Path(venv) / "bin" / "python")
            session.run(python, "-m", "pip", "install", "-q", TORCH, external=True)
            # Sibling packages resolve from dist/ (wheels, not the source tree); the rest from the index.
            session.run(python, "-m", "pip", "install", "-q", "--find-links", str(DIST), str(wheel), external=True)
            session.run(python, "-c", checks[name], external=True, env=OFFLINE_ENV)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site offline from docs/ into site/ (mkdocs --strict: broken links fail).

    The API reference is read from the packages' sources by griffe (static analysis): building it
    installs neither torch nor the packages.
    """
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run("mkdocs", "build", "--strict", "--clean", env={**OFFLINE_ENV, "NO_MKDOCS_2_WARNING": "1"})
    site = ROOT / "site"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    for needed in ("index.html", "apps/index.html", "reproduce/index.html", "api/core/index.html"):
        if needed not in pages:
            session.error(f"the site has no {needed}")
    api = (site / "api" / "core" / "index.html").read_text()
    if "selective token aggregation" not in api.lower():
        session.error("the API reference does not show the models' docstrings")
    session.log(f"built {len(pages)} pages into {site}")
