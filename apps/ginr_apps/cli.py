"""What the apps share on the command line: argument types, one-line errors, checks of what a path holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

__all__ = ["KINDS", "at_least", "checked_source", "fail"]


def at_least(minimum: int):
    """An argparse ``type``: an integer >= ``minimum`` (``--frames 0`` is refused with the flag's name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


# what each kind of artifact is, and the folder of a run that holds it
KINDS = {
    "inr": ("a trained INR (the model/ folder of an apps/train.py run, or its Hub id)", "model"),
    "pipeline": ("a prior's pipeline (the pipeline/ folder of an apps/train_prior.py run, or its Hub id)", "pipeline"),
}


def fail(message: str) -> NoReturn:
    """End an app with one line on stderr and exit status 2 (a usage error, as argparse's)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def checked_source(source: str, kind: str) -> str:
    """``source`` if it holds an artifact of ``kind`` (``"inr"`` or ``"pipeline"``): else one line saying what it
    is and what to pass instead (a mistyped path, a run folder, the other kind), and exit 2. A Hub id that is
    not cached offline passes through: loading it says why it cannot."""
    from ginr_core import inspect_artifact

    wanted, part = KINDS[kind]
    path = Path(source).expanduser()
    if not path.exists():
        if source.startswith((".", "/", "~")) or source.count("/") != 1:
            fail(f"{source}: no such folder (expected {wanted})")
        held = inspect_artifact(source, local_files_only=True)
    else:
        if not path.is_dir():
            fail(f"{source} is a file; expected {wanted}")
        held = inspect_artifact(path)
        if held is None:
            inside = [sub for k, (_, sub) in KINDS.items() if inspect_artifact(path / sub) is not None]
            if part in inside:
                fail(f"{source} is a run folder; pass its {part}/ folder: {path / part}")
            other = f"; it is a run folder of another kind (its {inside[0]}/ folder)" if inside else ""
            fail(f"{source} holds no ginr model (no config.json or model_index.json){other}; expected {wanted}")
    if held is not None and held.kind != kind:
        where = f"({path / 'inr'})" if path.exists() else f'(from_pretrained("{source}", subfolder="inr"))'
        hint = f"; its INR is the inr/ sub-folder {where}" if held.kind == "pipeline" else ""
        fail(f"{source} holds {KINDS[held.kind][0].split(' (')[0]} ({held.class_name}), not {wanted}{hint}")
    return source
