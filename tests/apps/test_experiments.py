"""The experiment files are base files plus differences: each resolves to exactly the settings it had
when every file spelled out every setting (tests/apps/data/experiments_before_issue_11.json, written by
the loader of that time: model class and every constructor argument with its default, data, train,
seed, output_dir)."""

import inspect
import json
from pathlib import Path

import pytest

from ginr_apps.config import ConfigError, load_config, model_kwargs
from ginr_apps.tasks import DataSettings

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "apps" / "configs"
BEFORE = json.loads((Path(__file__).parent / "data" / "experiments_before_issue_11.json").read_text())
# Settings of the old flat data section that belong to the other task now (each held its default then).
OTHER_TASK_DEFAULTS = {
    "images": {"category": None, "views": None, "query_rays": None, "test_repeats": 100},
    "nvs": {"protocol": None, "subsample": None, "jitter": False, "channel_permutation": False, "image_column": None},
}

# Settings added after that file was written (section -> name -> default): every experiment holds the default.
ADDED_SINCE = {
    "train": {
        "max_bad_steps": 0,  # issue 12: skip k non-finite steps (default: stop at the first)
        "tf32": True,  # issue 13: fp32 runs use TF32 matmuls on GPUs that have them
        "eval_every_epochs": None,  # issue 13: evaluations on epoch boundaries
        "decay_steps": 0,  # issue 14: a linear decay of the learning rate over the last steps
        "compile": False,  # issue 16: torch.compile of the encoder and the per-coordinate decoding
        "gradient_accumulation_steps": 1,  # issue 15: micro-batches of one step
        "report_to": "none",  # issue 15: experiment trackers
        "timeout_minutes": 60.0,  # issue 15: the process-group timeout
    },
    "data": {
        "train_repeats": 1,  # issue 13 (novel views only)
        "adaptive_epochs": 0,
        "extra_test_splits": [],  # issue 14: more held-out splits scored beside the test split
        "smooth_fraction": 0.0,  # issue 14: training crops from smooth regions (embedded photos)
    },
    "model": {"highest_band": False},  # issue 13: the second reading of w/o multiFM (LocINR only)
}
# Values changed on purpose since then: (experiments whose name starts so, section, key, before, now).
CHANGED_SINCE = [
    ("", "train", "mixed_precision", "bf16", "no"),  # issue 13: paper configs train in fp32, as the official code
    # issue 13: the official novel-view training protocol (two items per object and epoch, 128 rays each,
    # adaptive sampling in the first epoch)
    ("shapenet_cars", "data", "train_repeats", 1, 2),  # chairs: once per epoch, the default
    ("shapenet_lamps", "data", "train_repeats", 1, 3),
    ("shapenet", "data", "query_rays", None, 128),
    ("shapenet", "data", "adaptive_epochs", 0, 1),
    ("imagenette178", "train", "eval_every_epochs", None, 40),  # issue 13: Fig. 1's evaluation points
    ("imagenette178", "data", "jitter", True, "coordwise"),  # issue 13: the official per-image coordinate noise
    # issue 14: the default run's noise floor on smooth crops (a decay at the end, smooth crops in the mix)
    ("default", "train", "decay_steps", 0, 600),
    # issue 14: 2,700 (under 10 minutes); issue 16: faster steps, 2,900, then 3,300 (W_o folded into Eq. 7)
    ("default", "train", "max_steps", 3000, 3300),
    ("default", "data", "smooth_fraction", 0.0, 0.25),
    ("default", "data", "extra_test_splits", [], ["smooth"]),
    # issue 15: loader workers chosen from the cores (none on CPU or for in-memory data) unless a config sets them
    ("", "data", "num_workers", 0, None),
    # issue 16: cache-sized decoding chunks on CPU (one go on GPUs, as before; the same result)
    ("", "train", "decode_chunk_size", None, "auto"),
]
# Experiments renamed on purpose since then (old name -> new name): issue 13 names the light-field
# IPC and TransINR novel-view runs as the extras they are; the paper's baselines are the *_nerf_* runs.
RENAMED = {
    f"shapenet_{cat}_{family}_{v}view": f"shapenet_{cat}_{family}_lightfield_{v}view"
    for cat in ("cars", "chairs", "lamps")
    for family in ("ipc", "transinr")
    for v in range(1, 6)
}


def resolved(path: Path) -> dict:
    config = load_config(path)
    cls, kwargs = model_kwargs(config.model)
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    settings = json.loads(json.dumps(config.to_dict()))
    settings["model"] = {"class": cls.__name__, **json.loads(json.dumps({**defaults, **kwargs}))}
    return settings


def test_every_experiment_of_before_is_still_here():
    now = {p.stem for p in CONFIGS.glob("*.yaml")}
    kept = {RENAMED.get(name, name) for name in BEFORE}
    assert kept <= now and not set(RENAMED) & now
    assert now - kept == ADDED_EXPERIMENTS  # experiments added since, on purpose


# issue 13: the Learned Init baseline of Table 1
ADDED_EXPERIMENTS = {"celeba178_learned_init", "imagenette178_learned_init", "ffhq256_learned_init"}
# issue 13: the other reading of Table 3's w/o multiFM
ADDED_EXPERIMENTS |= {"imagenette178_locinr_wo_multifm_highest_band", "ffhq256_locinr_wo_multifm_highest_band"}
# issue 13: the paper's novel-view baselines, the official NeRF-style IPC and TransINR
ADDED_EXPERIMENTS |= {
    f"shapenet_{cat}_{family}_nerf_{v}view"
    for cat in ("cars", "chairs", "lamps")
    for family in ("ipc", "transinr")
    for v in range(1, 6)
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_experiment_resolves_to_the_same_settings(name):
    before, now = BEFORE[name], resolved(CONFIGS / f"{RENAMED.get(name, name)}.yaml")
    task = before["data"]["task"]
    for key, default in OTHER_TASK_DEFAULTS[task].items():
        assert before["data"].pop(key) == default
    for section, added in ADDED_SINCE.items():
        for key, default in added.items():
            if key in now[section]:
                before[section].setdefault(key, default)
    for prefix, section, key, old, new in CHANGED_SINCE:
        if name.startswith(prefix) and before[section].get(key) == old:
            assert now[section][key] == new
            before[section][key] = new
    if name in RENAMED:  # the run folder follows the file's name
        before["output_dir"] = f"runs/{RENAMED[name]}"
    assert now == before


def test_experiment_files_hold_only_differences():
    experiments = sorted(CONFIGS.glob("*.yaml"))
    lines = sum(len(p.read_text().splitlines()) for p in [*experiments, *(CONFIGS / "base").glob("*.yaml")])
    settings = sum(1 for p in experiments for line in p.read_text().splitlines() if line.startswith("  "))
    assert lines < 1500 and settings / len(experiments) < 6  # was 2,825 lines, ~20 settings per file
    for path in experiments:
        text = path.read_text()
        assert f"output_dir: runs/{path.stem}" not in text  # derived from the file's name


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
