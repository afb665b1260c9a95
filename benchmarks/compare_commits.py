"""A training step of ginr_core at a git revision against the working tree's, alternating in one process.

    python benchmarks/compare_commits.py                          # b03742b vs now: LocINR, IPC, TransINR at 178 px
    python benchmarks/compare_commits.py --rev HEAD~2 --models locinr --steps 10
    python benchmarks/compare_commits.py --preset photos-32 --batch-size 4 --steps 2   # a few seconds: smoke run

The revision's ``packages/ginr-core/src/ginr_core`` is extracted (``git archive``) into a temporary
folder as the package ``ginr_core_<sha>`` and imported by path beside the installed (working tree)
``ginr_core``: two copies of the code, each with its own family registry, in one process. For each
family both models are built from the same preset (CPU, fp32) and hold the same weights (the
working tree's state dict loaded into the old model; names or shapes that differ are reported);
both get the same inputs (``--batch-size`` images, every pixel of the grid as coordinates, decoded
in chunks of ``4096 // batch`` coordinates: the CPU "auto" of ``train_step.py``) and an Adam
optimiser each. After one forward pass of each in eval mode (the outputs must agree, ~1e-5) and
``--warm-up`` steps each, the old and the new step alternate for ``--steps`` pairs (the order
swapped every pair), so that a busy moment of a shared machine slows both alike. Printed: each
pair's times and ratio, the median of the ratios new/old and the ratio of the fastest steps.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F

import ginr_core


def _load_sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py as module ``name`` (once), loaded by path: no sys.path entry needed."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


chunk_size_of = _load_sibling("_common").chunk_size_of
ROOT = Path(__file__).resolve().parents[1]
SOURCE = "packages/ginr-core/src/ginr_core"  # the package's folder in the repository
ABSOLUTE_IMPORT = re.compile(r"^(\s*)(from|import)(\s+)ginr_core\b", re.MULTILINE)


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout


def import_revision(rev: str, into: Path) -> ModuleType:
    """``ginr_core`` as of ``rev``, extracted under ``into`` and imported as the package ``ginr_core_<sha>``."""
    sha = git("rev-parse", "--short", f"{rev}^{{commit}}").decode().strip()
    name = f"ginr_core_{sha}"
    with tarfile.open(fileobj=io.BytesIO(git("archive", "--format=tar", sha, SOURCE))) as tar:
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    package = into / name
    (into / SOURCE).rename(package)
    rewritten = 0
    for path in package.rglob("*.py"):  # absolute imports of ginr_core would load the working tree's code
        text, count = ABSOLUTE_IMPORT.subn(rf"\1\2\3{name}", path.read_text())
        if count:
            if re.search(rf"^\s*import\s+{name}\b(?!\s+as\b)", text, re.MULTILINE):
                raise SystemExit(f"{path.relative_to(package)}: 'import ginr_core' needs rewriting by hand")
            path.write_text(text)
            rewritten += count
    if rewritten:
        print(f"rewrote {rewritten} absolute ginr_core import(s) in the extracted copy")
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: its submodules' relative imports look the package up there
    spec.loader.exec_module(module)
    return module


def same_weights(old: torch.nn.Module, new: torch.nn.Module) -> list[str]:
    """Load ``new``'s state dict into ``old``; the names / shapes that differ (nothing loaded for those)."""
    old_state, new_state = old.state_dict(), new.state_dict()
    problems = [f"only in the old model: {k}" for k in old_state if k not in new_state]
    problems += [f"only in the new model: {k}" for k in new_state if k not in old_state]
    problems += [
        f"shape of {k}: old {tuple(old_state[k].shape)}, new {tuple(v.shape)}"
        for k, v in new_state.items()
        if k in old_state and old_state[k].shape != v.shape
    ]
    old.load_state_dict(
        {k: v for k, v in new_state.items() if k in old_state and old_state[k].shape == v.shape}, strict=False
    )
    return problems


def make_step(model: torch.nn.Module, images, coords, target, chunk_size: int | None):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

    def step() -> tuple[float, float]:
        """One forward + backward + Adam update: (seconds, loss)."""
        start = time.perf_counter()
        loss = F.mse_loss(model(images, coords, chunk_size=chunk_size).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start, loss.item()

    return step


def compare(family: str, old_core: ModuleType, args) -> dict:
    torch.manual_seed(0)
    new = ginr_core.get_model_class(family).from_preset(args.preset)
    old = old_core.get_model_class(family).from_preset(args.preset)
    problems = same_weights(old, new)
    for problem in problems:
        print(f"  {family}: {problem}")
    if new.d_in != 2:
        raise SystemExit(f"{args.preset}: a light-field preset; this script times image presets only")
    size = new.image_size[0]
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(args.batch_size, 3, size, size, generator=generator)
    target = images.permute(0, 2, 3, 1).reshape(args.batch_size, -1, 3)
    coords = ginr_core.image_coords(size, size).view(1, -1, 2)  # every pixel, one grid shared by the batch
    chunk_size = chunk_size_of(args.chunk_size, args.batch_size, torch.device("cpu"))

    with torch.no_grad():
        out_new = new.eval()(images, coords, chunk_size=chunk_size)
        out_old = old.eval()(images, coords, chunk_size=chunk_size)
    max_diff = (out_new - out_old).abs().max().item()
    del out_new, out_old
    models = {"old": old, "new": new}
    steps = {which: make_step(m.train(), images, coords, target, chunk_size) for which, m in models.items()}
    warm_up = {}
    for which, step in steps.items():  # allocations, Adam state; the same dropout masks for both
        for _ in range(args.warm_up):
            torch.manual_seed(2)
            warm_up[which] = step()
    times = {"old": [], "new": []}
    for pair in range(args.steps):
        order = ("old", "new") if pair % 2 == 0 else ("new", "old")
        for which in order:
            times[which].append(steps[which]()[0])
        print(
            f"  {family:<9} pair {pair + 1}: old {times['old'][-1]:7.3f} s  new {times['new'][-1]:7.3f} s  "
            f"new/old {times['new'][-1] / times['old'][-1]:.3f}",
            flush=True,
        )
    result = {
        "model": family,
        "weight_problems": problems,
        "max_abs_diff_eval": max_diff,
        "warm_up_loss": {k: v[1] for k, v in warm_up.items()},  # the last warm-up step's
        "median_ratio": statistics.median(n / o for n, o in zip(times["new"], times["old"])),
        "fastest_ratio": min(times["new"]) / min(times["old"]),
        "fastest_old": min(times["old"]),
        "fastest_new": min(times["new"]),
    }
    del steps, models, old, new
    gc.collect()
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="b03742b", help="the git revision to compare with (default: b03742b)")
    parser.add_argument("--models", nargs="+", default=["locinr", "ipc", "transinr"], help="model families")
    parser.add_argument("--preset", default="ffhq-178", help="model preset (default: the paper's 178 px setting)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="timed pairs (one old step and one new step each)")
    parser.add_argument(
        "--chunk-size",
        default="auto",
        help="coordinates per decoding chunk, 'none' (one go) or 'auto' (default: 4096 // batch, the CPU chunk of "
        "train_step.py and of decode(chunk_size='auto'); the same number is passed to both models)",
    )
    parser.add_argument("--warm-up", type=int, default=1, help="untimed steps of each model first (default: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.warm_up < 1 or args.steps < 1:
        parser.error("--warm-up and --steps take at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = [f for f in args.models if f not in ginr_core.list_families()]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {sorted(ginr_core.list_families())}")
    results = []
    with tempfile.TemporaryDirectory(prefix="ginr-compare-") as tmp:
        old_core = import_revision(args.rev, Path(tmp))
        print(
            f"old: {args.rev} as {old_core.__name__}; new: ginr_core from {Path(ginr_core.__file__).parent}\n"
            f"torch={torch.__version__} {torch.get_num_threads()} threads, CPU fp32, preset={args.preset} "
            f"batch={args.batch_size} full grid, chunk_size={args.chunk_size} "
            f"({chunk_size_of(args.chunk_size, args.batch_size, torch.device('cpu'))} coordinates), {args.steps} pairs"
        )
        for family in args.models:
            r = compare(family, old_core, args)
            results.append(r)
            print(
                f"{family:<9} median new/old {r['median_ratio']:.3f}  fastest new/old {r['fastest_ratio']:.3f} "
                f"({r['fastest_new']:.3f} s / {r['fastest_old']:.3f} s)  "
                f"eval max|new-old| {r['max_abs_diff_eval']:.2e}  "
                f"warm-up loss old {r['warm_up_loss']['old']:.6f} new {r['warm_up_loss']['new']:.6f}"
                + ("  WEIGHTS DIFFER (see above)" if r["weight_problems"] else ""),
                flush=True,
            )
    return results


if __name__ == "__main__":
    main()
