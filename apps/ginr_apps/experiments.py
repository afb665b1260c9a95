"""Every experiment of ``apps/configs/`` resolved to the settings it runs with, and their snapshot.

    python apps/ginr_apps/experiments.py            # rewrite apps/configs/resolved.json after a change

``apps/configs/resolved.json`` holds, per experiment file, the model class with every constructor argument
(defaults filled in), the data and train sections and the top-level settings, as the loader resolves them.
``tests/apps/test_experiments.py`` fails when an experiment resolves otherwise than its snapshot: a change to a
config, a base file, a default or a preset shows up as a diff of that file, to be reviewed and committed.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from ginr_apps.config import load_config, model_kwargs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SNAPSHOT = CONFIGS / "resolved.json"

__all__ = ["CONFIGS", "SNAPSHOT", "resolve", "shapenet_configs", "snapshot"]


def resolve(path: Path) -> dict[str, Any]:
    """The settings experiment file ``path`` runs with, JSON-ready."""
    config = load_config(path)
    cls, kwargs = model_kwargs(config.model)
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    settings = json.loads(json.dumps(config.to_dict()))
    settings["model"] = {"class": cls.__name__, **json.loads(json.dumps({**defaults, **kwargs}))}
    return settings


def snapshot() -> dict[str, dict[str, Any]]:
    """``{experiment name: resolved settings}`` of every file of ``apps/configs/`` (base files excluded)."""
    return {path.stem: resolve(path) for path in sorted(CONFIGS.glob("*.yaml"))}


# ---------------------------------------------------------------------------------------------- the ShapeNet matrix
# Fig. 4a's experiments as data: category x family x support views. Each cell is one file of apps/configs/,
# written by ``shapenet_configs`` (``python apps/ginr_apps/experiments.py`` rewrites them): a new category,
# family or number of views is a line here. Per category: its name in the text, epochs (LocINR and the
# light-field extras / the NeRF-style baselines, as the official configs), and how often each object is drawn.
SHAPENET_CATEGORIES = {
    "cars": {"title": "Cars", "split": "car", "epochs": 1000, "nerf_epochs": None, "repeats": "twice"},
    "chairs": {"title": "Chairs", "split": "chair", "epochs": 1000, "nerf_epochs": None, "repeats": "once"},
    "lamps": {"title": "Lamps", "split": "lamp", "epochs": 500, "nerf_epochs": 400, "repeats": "three times"},
}
SHAPENET_VIEWS = (1, 2, 3, 4, 5)
# family in the file name -> (model.family, the official config of the NeRF-style baselines, or None)
SHAPENET_FAMILIES = {
    "locinr": ("locinr", None),
    "ipc_nerf": ("ipc_nerf", "low_rank_transinr_nerf/low_rank_shapenet_{category}{views}.yaml"),
    "transinr_nerf": ("transinr_nerf", "transinr_nerf/transinr_shapenet_{category}{views}.yaml"),
    "ipc_lightfield": ("ipc", None),
    "transinr_lightfield": ("transinr", None),
}
_LOCINR = """# Fig. 4a: LocalityAwareINR on ShapeNet {title} novel view synthesis from {views} support {view_word}, {epochs} epochs
# Paper: L = 2, (sigma_1, sigma_2, sigma_q) = (8, 4, 2), d_F = d = 256, 256 tokens per 128 px view, batch 32
# (App. A.2; lamps: the paper's 500 epochs). d_F over the 6 Plücker coordinates: 22 frequencies on each of the
# first two, 21 on the other four (128 in all, cosines and sines). Each object {repeats} per epoch, 128 query rays
# per item and step (half on the object in the first two epochs), as the official protocol.
# Data: the learnit ShapeNet renderings (https://github.com/tancik/learnit): point data.source at the folder
# holding {category}/ and {split}_splits.json.
# Run: accelerate launch apps/train.py --config apps/configs/{name}.yaml data.source=/path/to/data
# The paper's full test protocol (every test object x 100 draws):
#   python apps/evaluate.py runs/{name}/model --data /path/to/data --category {category} --views {views}
"""
_LOCINR_SWEEP = """# ginr's variant of Fig. 4a: one LocalityAwareINR for ShapeNet {title} that takes 1 to 5 support views
# (each step draws how many), evaluated with each; otherwise the paper's settings (App. A.2; d_F = d = 256, with
# 22, 22, 21, 21, 21, 21 frequencies on the 6 Plücker coordinates), {epochs} epochs.
# Not a paper configuration: the paper trains a model per number of views (shapenet_{category}_locinr_<V>view.yaml).
# Run: accelerate launch apps/train.py --config apps/configs/{name}.yaml data.source=/path/to/data
"""
_NERF = """# Fig. 4a: {model}, the paper's baseline (the official NeRF-style model), ShapeNet {title}, {views} support {view_word}, {epochs} epochs
# Settings as ginr-ipc's configs/nvs/{official} (listed in docs/reproduce.md)
# Run: accelerate launch apps/train.py --config apps/configs/{name}.yaml data.source=/path/to/learnit
# Test (every test object x 100 draws): python apps/evaluate.py runs/{name}/model --data /path/to/learnit --category {category} --views {views}
"""
_LIGHTFIELD = """# Extra to Fig. 4a, not a paper row: light-field {model} (Plücker rays, no volume rendering), ShapeNet {title},
# {views} support {view_word}, {epochs} epochs, d_F = 256 split over the 6 ray coordinates as LocINR's (22, 22, 21 x 4).
# The paper's {model} is the NeRF-style shapenet_{category}_{nerf}_{views}view.yaml
# Run: accelerate launch apps/train.py --config apps/configs/{name}.yaml data.source=/path/to/learnit
# Test (every test object x 100 draws): python apps/evaluate.py runs/{name}/model --data /path/to/learnit --category {category} --views {views}
"""


def _shapenet_file(category: str, family: str, views: int | None) -> tuple[str, str]:
    """``(name, text)`` of one cell of the matrix (``views`` None: LocINR's 1-to-5-views sweep)."""
    cat = SHAPENET_CATEGORIES[category]
    model_family, official = SHAPENET_FAMILIES[family]
    name = f"shapenet_{category}_{family}_" + ("1to5views" if views is None else f"{views}view")
    epochs = cat["nerf_epochs"] if official and cat["nerf_epochs"] else cat["epochs"]
    fields = {**cat, "category": category, "name": name, "views": views, "epochs": epochs}
    fields["view_word"] = "view" if views == 1 else "views"
    fields["model"] = "IPC" if model_family.startswith("ipc") else "TransINR"
    fields["nerf"] = f"{model_family.split('_')[0]}_nerf"
    if official:
        fields["official"] = official.format(category=category, views=f"_{views}views" if views > 1 else "")
    template = _NERF if official else _LIGHTFIELD if family.endswith("lightfield") else _LOCINR
    header = (_LOCINR_SWEEP if views is None else template).format(**fields)
    lowest, highest = (1, 5) if views is None else (views, views)
    body = f"base: base/shapenet_{category}.yaml\nmodel:\n  family: {model_family}\n  num_views: {highest}\n"
    body += f"data:\n  views: [{lowest}, {highest}]\n"
    if official and cat["nerf_epochs"]:
        body += f"train:\n  epochs: {epochs}\n"
    return name, header + body


def shapenet_configs() -> dict[str, str]:
    """``{experiment name: file text}`` of every ShapeNet experiment of the matrix."""
    cells = [(c, f, v) for c in SHAPENET_CATEGORIES for f in SHAPENET_FAMILIES for v in SHAPENET_VIEWS]
    cells += [(c, "locinr", None) for c in SHAPENET_CATEGORIES]
    return dict(_shapenet_file(*cell) for cell in cells)


def main(argv: list[str] | None = None) -> None:
    target = Path((argv if argv is not None else sys.argv[1:] or [str(SNAPSHOT)])[0])
    for name, text in shapenet_configs().items():
        (CONFIGS / f"{name}.yaml").write_text(text, encoding="utf-8")
    resolved = snapshot()
    target.write_text(json.dumps(resolved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target}: the resolved settings of {len(resolved)} experiments")


if __name__ == "__main__":
    main()
