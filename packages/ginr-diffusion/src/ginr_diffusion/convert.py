"""Convert a PyTorch pickle of tensors that you trust (``.pth``, ``.bin``) to safetensors, once, on purpose.

    python -m ginr_diffusion.convert pt_inception-2015-12-05-6726825d.pth pt_inception-2015-12-05-6726825d.safetensors
    python -m ginr_diffusion.convert denoiser/diffusion_pytorch_model.bin denoiser/diffusion_pytorch_model.safetensors

ginr never unpickles a file it is handed: models, pipelines and the FID Inception weights load from
safetensors only, and a pickle is refused with the command above. This command is the one place
where a pickle is read, with torch's ``weights_only`` loader (tensors and plain containers, no
code), and only the file you name: the standard FID weights of pytorch-fid, or a denoiser saved
with ``safe_serialization=False``. The output holds the same tensors under the same names.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

__all__ = ["PICKLE_SUFFIXES", "check_no_pickles", "convert", "pickle_refusal", "safetensors_only"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def pickle_refusal(path: str | os.PathLike, target: str | os.PathLike | None = None) -> str:
    """The message that refuses the pickle ``path`` and says how to convert it to ``target``."""
    path = Path(path)
    target = Path(target) if target is not None else path.with_suffix(".safetensors")
    return (
        f"{path} is a pickle file: ginr loads safetensors only and never unpickles a file it is handed. If you "
        f"trust it, convert it once: python -m ginr_diffusion.convert {path} {target}"
    )


def check_no_pickles(folder: str | os.PathLike) -> None:
    """Raise ``ValueError`` (``pickle_refusal``) for a pickle weight file in ``folder`` or below that has no
    safetensors file beside it: what diffusers would otherwise unpickle."""
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix in PICKLE_SUFFIXES and not any(path.parent.glob("*.safetensors")):
            raise ValueError(pickle_refusal(path))


def safetensors_only(kwargs: dict) -> None:
    """Make diffusers' ``from_pretrained`` keyword arguments ``kwargs`` load safetensors only (in place)."""
    if kwargs.get("use_safetensors") is False or kwargs.get("allow_pickle"):
        raise ValueError(
            "ginr loads safetensors only (use_safetensors=False / allow_pickle=True are refused): convert the "
            "pickled weights once with python -m ginr_diffusion.convert X.bin X.safetensors"
        )
    kwargs["use_safetensors"] = True


def convert(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write the tensors of the pickle ``source`` to the safetensors file ``target`` (written whole or not at all)."""
    from safetensors.torch import save_file

    source, target = Path(source), Path(target)
    if target.suffix != ".safetensors":
        raise ValueError(f"{target}: the output must be a .safetensors file")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # what the weights_only loader refuses, or not a torch file at all
        raise ValueError(f"cannot read {source} as tensors ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ValueError(f"{source} holds no mapping of names to tensors (a state dict); nothing was written")
    partial = target.with_name(f".{target.name}.partial")
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(partial), metadata={"format": "pt"})
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a .pth / .bin pickle of tensors that you trust")
    parser.add_argument("target", type=Path, help="the .safetensors file to write")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source} is not a file")
    try:
        convert(args.source, args.target)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {args.target}")


if __name__ == "__main__":
    main()
