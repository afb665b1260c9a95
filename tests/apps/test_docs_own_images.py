"""docs/images.md, "Train on your own images": its commands run as written, on a small folder at tiny sizes."""

import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TINY = ["train.max_steps=2", "train.eval_every=2", "train.checkpoint_every=2", "train.batch_size=4"]


def _section_commands() -> list[str]:
    text = (ROOT / "docs" / "images.md").read_text()
    section = text.split("## Train on your own images", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_own_images_commands_of_the_docs_run(tmp_path, app):
    folder = tmp_path / "my_photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)).save(
            folder / f"{i}.{'png' if i % 2 else 'jpg'}"
        )
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    commands = _section_commands()
    assert [c.split()[:2] for c in commands] == [["accelerate", "launch"], ["python", "apps/evaluate.py"]]
    for command in commands:
        words = [w.replace("~/my_photos", str(folder)).replace("runs/my_photos", str(tmp_path / "run"))
                 for w in shlex.split(command)]  # fmt: skip
        if words[:2] == ["accelerate", "launch"]:
            app(*words[2:], *TINY, launcher=launcher, env={"ACCELERATE_USE_CPU": "1"})
        else:
            app(*words[1:])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    evaluation = json.loads((tmp_path / "run" / "eval" / "eval.json").read_text())
    assert metrics["test"]["images"] == 2 == evaluation["images"]  # the same held-out files, scored by both
    assert set(evaluation["resolutions"]) == {"32", "64"}
