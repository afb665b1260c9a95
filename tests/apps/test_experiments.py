"""The experiment files resolve to the settings of their snapshot (apps/configs/resolved.json): a change to
an experiment, a base file, a default or a preset is a reviewed diff of that file
(``python apps/ginr_apps/experiments.py`` rewrites it)."""

import json
import re

import pytest

from ginr_apps.config import ConfigError, load_config
from ginr_apps.experiments import CONFIGS, SNAPSHOT, resolve
from ginr_apps.tasks import DataSettings

SNAPSHOTTED = json.loads(SNAPSHOT.read_text())
DOCS = CONFIGS.parents[1] / "docs" / "reproduce.md"


def test_the_snapshot_names_every_experiment_file():
    now = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert now == sorted(SNAPSHOTTED), "experiments added or removed: run python apps/ginr_apps/experiments.py"


@pytest.mark.parametrize("name", sorted(SNAPSHOTTED))
def test_experiment_resolves_to_its_snapshot(name):
    now, then = resolve(CONFIGS / f"{name}.yaml"), SNAPSHOTTED[name]
    changed = sorted(
        f"{section}.{key}: {then[section].get(key)!r} -> {now[section].get(key)!r}"
        for section in ("model", "data", "train")
        for key in then[section].keys() | now[section].keys()
        if then[section].get(key) != now[section].get(key)
    )
    changed += [f"{key}: {then[key]!r} -> {now[key]!r}" for key in ("seed", "output_dir") if then[key] != now[key]]
    assert not changed, f"{name} resolves otherwise than apps/configs/resolved.json: {changed}"


def _paper_experiments() -> list:
    """The experiment files whose header names a table or figure of the paper."""
    return [p for p in sorted(CONFIGS.glob("*.yaml")) if re.match(r"# (Table \d|Fig\. \d)", p.read_text())]


def test_every_paper_experiment_trains_in_strict_fp32():
    paper = _paper_experiments()
    assert len(paper) >= 80  # Tables 1-6 and Fig. 4a
    for path in paper:
        train = resolve(path)["train"]
        assert train["tf32"] is False and train["mixed_precision"] == "no", f"{path.stem}: not strict fp32"


def test_light_field_models_have_the_fourier_features_their_headers_and_docs_state():
    import torch

    from ginr_apps.config import model_kwargs
    from ginr_core.coords import FourierFeatures

    split = [22, 22, 21, 21, 21, 21]  # 128 frequencies over the 6 Plücker coordinates, as the headers say
    ours = next(line for line in DOCS.read_text().splitlines() if line.startswith("| Ours |"))
    assert "d_F = d = 256" in ours and "22 frequencies on each of the first two, 21 on the other four" in ours
    checked = 0
    for path in sorted(CONFIGS.glob("shapenet_*.yaml")):
        header = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        stated = re.findall(r"d_F = (?:d = )?(\d+)", header)
        if not stated:
            continue  # the NeRF-style baselines: the official 120 features of world points
        cls, kwargs = model_kwargs(load_config(path).model)
        with torch.device("meta"):
            maps = [m for m in cls(**kwargs).modules() if isinstance(m, FourierFeatures)]
        assert maps and {(m.d_f, tuple(m.counts)) for m in maps} == {(int(stated[0]), tuple(split))}, path.stem
        checked += 1
    assert checked == 48  # LocINR per view count and 1-5 views, the light-field IPC and TransINR: 3 categories


# training images per epoch of each protocol's training split (CelebA ids 1-162770, FFHQ's 60,000,
# imagenette2-320 train, ImageNet-1k train)
TRAIN_IMAGES = {"celeba-178": 162_770, "ffhq-178": 60_000, "ffhq-256": 60_000, "ffhq-512": 60_000,
                "ffhq-1024": 60_000, "imagenette-178": 9_469, "imagenet-256": 1_281_167}  # fmt: skip


def test_reproduce_tables_agree_with_the_configs_and_the_measurements():
    """Every row of docs/reproduce.md's tables (config | paper | epochs | steps | s/step | H100-hours)
    against the config's header and resolved settings, and the timings against their JSON."""
    import math

    timed = json.loads((DOCS.parent / "assets" / "paper_gpu_hours.json").read_text())["results"]
    timed = {r["config"]: r for r in timed}
    rows = [line for line in DOCS.read_text().splitlines() if re.match(r"\| `\w+`.* \| [\d,]+ \| .* \| .* \|$", line)]
    seen = set()
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 6, row
        name = re.match(r"`(\w+)`", cells[0]).group(1)
        path = CONFIGS / f"{name}.yaml"
        settings = resolve(path)
        epochs, steps = int(re.match(r"\d+", cells[2]).group()), int(cells[3].replace(",", ""))
        assert epochs == settings["train"]["epochs"], f"{name}: epochs {epochs} in the table"
        batch, images = settings["train"]["batch_size"], TRAIN_IMAGES[settings["data"]["protocol"]]
        assert steps == math.ceil(epochs * (images // batch)), f"{name}: {steps} steps in the table"
        paper = next(line for line in path.read_text().splitlines() if line.startswith("# Paper:"))
        number = re.search(r"\d+\.\d+ dB", cells[1])
        assert (number.group() if number else "not reported") in paper, f"{name}: {cells[1]!r} against {paper!r}"
        if re.fullmatch(r"\d+\.\d+", cells[4]):
            measured = timed[name]
            assert measured["steps"] == steps and f"{measured['seconds_per_step']:.3f}" == cells[4], name
            assert f"{measured['gpu_hours']:.1f}" == cells[5], name
        seen.add(name)
    tables = {p.stem for p in _paper_experiments() if re.match(r"# Table \d", p.read_text())}
    assert tables <= seen, f"paper configs without a row in docs/reproduce.md: {sorted(tables - seen)}"


def test_reproduce_points_shapenet_runs_at_the_folder_holding_the_categories():
    from ginr_apps.experiments import SHAPENET_CATEGORIES

    sources = re.findall(r"--config apps/configs/shapenet_\S+ data\.source=(\S+)", DOCS.read_text())
    assert sources and not [s for s in sources if s.rstrip("/").rsplit("/", 1)[-1] in SHAPENET_CATEGORIES]


def test_experiment_files_name_no_run_folder():
    for path in sorted(CONFIGS.glob("*.yaml")):
        assert f"output_dir: runs/{path.stem}" not in path.read_text()  # derived from the file's name


def test_base_files_merge_section_by_section(tmp_path):
    (tmp_path / "common.yaml").write_text("train:\n  lr: 3.0e-4\n  batch_size: 8\ndata:\n  jitter: true\n")
    (tmp_path / "exp.yaml").write_text("base: common.yaml\ntrain:\n  batch_size: 4\n")
    config = load_config(tmp_path / "exp.yaml", ["train.warmup_steps=2"])
    assert config.train.lr == pytest.approx(3e-4) and config.train.batch_size == 4 and config.data.jitter
    assert config.train.warmup_steps == 2 and config.output_dir == "runs/exp"
    (tmp_path / "loop.yaml").write_text("base: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="base files include each other"):
        load_config(tmp_path / "loop.yaml")
    (tmp_path / "dup.yaml").write_text("train:\n  lr: 1.0e-3\n  lr: 1.0e-4\n")
    with pytest.raises(ConfigError, match="duplicate key 'lr'"):
        load_config(tmp_path / "dup.yaml")


def test_help_config_lists_every_setting_with_type_default_and_meaning(app):
    text = app("apps/train.py", "--help-config").stdout
    for field in DataSettings.__dataclass_fields__:
        assert f"data.{field}:" in text
    assert "train.lr: float = 0.0001\n      Adam learning rate after the warm-up" in text
    assert "data.views: tuple[int, int] | None = None" in text and "data.task=nvs only" in text
    assert "model.family: str = 'locinr'" in text and "ipc" in text and "photos-32" in text
    assert "output_dir: str = 'runs/<config name>'" in text
    prior = app("apps/train_prior.py", "--help-config").stdout
    assert "prior.inr: str | None = None" in prior and "train.max_steps: int = 4000" in prior


def test_help_config_prints_a_meaning_for_every_setting_of_every_section():
    import dataclasses

    from ginr_apps.config import TrainConfig, config_help, sections_help
    from ginr_apps.tasks import list_tasks
    from ginr_apps.train_prior import SECTIONS

    def meanings(text: str) -> dict[str, str]:
        """``section.key`` -> the line under it in the help text."""
        lines = text.splitlines()
        found = {}
        for line, below in zip(lines, [*lines[1:], ""]):
            name = line.strip().split(":")[0]
            if line.startswith("  ") and not line.startswith("      ") and "." in name:
                found[name] = below.strip() if below.startswith("      ") else ""
        return found

    shown = meanings(config_help())
    schemas = {"train": [TrainConfig], "data": [task.settings for task in list_tasks().values()]}
    for section, classes in schemas.items():
        for cls in classes:
            for f in dataclasses.fields(cls):
                assert shown.get(f"{section}.{f.name}"), f"--help-config prints no meaning for {section}.{f.name}"
    prior = meanings("\n".join(sections_help(SECTIONS, {})))
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert prior.get(f"{section}.{f.name}"), f"train_prior --help-config: no meaning for {section}.{f.name}"


def test_shapenet_experiment_files_are_the_matrix():
    from ginr_apps.experiments import SHAPENET_CATEGORIES, SHAPENET_FAMILIES, SHAPENET_VIEWS, shapenet_configs

    generated = shapenet_configs()
    files = {p.stem for p in CONFIGS.glob("shapenet_*.yaml")}
    assert set(generated) == files, "run python apps/ginr_apps/experiments.py"
    assert len(generated) == len(SHAPENET_CATEGORIES) * (len(SHAPENET_FAMILIES) * len(SHAPENET_VIEWS) + 1)
    for name, text in generated.items():
        assert (CONFIGS / f"{name}.yaml").read_text() == text, f"{name}.yaml is not the matrix's cell"
