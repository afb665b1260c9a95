"""The apps' reference page, ``docs/apps.md``, made from their own ``--help`` so that it cannot drift.

    python apps/ginr_apps/helpdoc.py docs/apps.md      # regenerate after changing an app's flags

``tests/apps/test_helpdoc.py`` fails when the committed page differs from what this renders.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from pathlib import Path

# (script, what it is for), in the order a user meets them
APPS = [
    ("train.py", "train an INR on images or light fields (Accelerate: one CPU to many GPUs)"),
    ("evaluate.py", "PSNR of a trained INR at several resolutions, or per number of support views"),
    ("render.py", "orbit renders of a light-field model"),
    ("analyze.py", "the paper's analyses of a trained model: locality maps, test-time optimisation"),
    ("analyze.py locality", "what each latent token controls (Fig. 5, Fig. 12)"),
    ("analyze.py fit", "test-time optimisation against FFNets fitted from scratch (Fig. 7)"),
    ("train_prior.py", "train a diffusion prior over a frozen INR's latent tokens"),
    ("sample.py", "images from a trained prior"),
    ("evaluate_prior.py", "FID of a prior's samples"),
    ("publish.py", "publish a model or prior to the Hugging Face Hub"),
    ("demo.py", "a browser demo (Gradio) of reconstruction, locality, novel views and generation"),
]
WIDTH = "100"  # argparse wraps help to $COLUMNS: fixed, so the page is the same everywhere

HEADER = """# Apps reference

The apps in `apps/` are scripts that compose the packages. Each takes `--help`; this page is that
output (regenerate it with `python apps/ginr_apps/helpdoc.py docs/apps.md`). Training apps run
under `accelerate launch` (one CPU, one GPU or many); the others run with `python`. Every app that
takes a model or pipeline accepts a local folder or a Hub repo id.
"""


def help_text(script: str) -> str:
    """What ``python apps/<script> --help`` prints (``script`` may name a subcommand: ``analyze.py fit``)."""
    script, *command = script.split()
    module = importlib.import_module(f"ginr_apps.{Path(script).stem}")
    saved_argv0, saved_columns = sys.argv[0], os.environ.get("COLUMNS")
    sys.argv[0], os.environ["COLUMNS"] = script, WIDTH
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            module.main([*command, "--help"])
    finally:
        sys.argv[0] = saved_argv0
        if saved_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved_columns
    return out.getvalue().rstrip() + "\n"


def render() -> str:
    parts = [HEADER]
    parts += [f"- `apps/{script}`: {what}" for script, what in APPS]
    for script, what in APPS:
        parts.append(f"\n## apps/{script}\n\n{what[0].upper() + what[1:]}.\n\n```text\n{help_text(script)}```")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
