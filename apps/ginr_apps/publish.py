"""Publish a trained ginr model or latent prior to the Hugging Face Hub.

    python apps/publish.py runs/default --repo-id <user>/locinr-photos           # a run folder: its model/
    python apps/publish.py runs/default --repo-id <user>/locinr-photos --dry-run staged/   # no network
    python apps/publish.py runs/prior --repo-id <user>/ginr-prior-digits --private      # its pipeline/
    python apps/publish.py runs/default/model --repo-id <user>/locinr --revision v1

SOURCE is a run folder of ``apps/train.py`` (``model/``) or ``apps/train_prior.py`` (``pipeline/``), or
such a ``model/`` / ``pipeline/`` folder itself. The repository receives the safetensors weights and
configuration (for a prior, the whole diffusers pipeline folder), a model card whose YAML metadata
is Hub metadata (``library_name: ginr``, tags, license, datasets when the data is a Hub dataset, and
``model-index`` results: the test score that the run measured (its task's metric), the FID that
``apps/evaluate_prior.py`` wrote, the class accuracy of samples that ``benchmarks/prior_quality_bar.py``
wrote), with a usage snippet for this repository, plus the run's ``metrics.json``, those evaluation
files and its preview picture. Only what ginr wrote is published: regular files of the run with one
link (no symbolic or hard link), the files a model or pipeline folder holds and nothing else, each
JSON file parsed and checked to hold what ginr writes there, and a card regenerated from the run's
measurements (a model folder without its run gets one without results; a folder's own README.md is
never published).

``--space`` publishes the browser demo (``apps/demo.py``) as a Gradio Space instead: ``app.py``, the
demo's module, ``requirements.txt``, a Space card, and the files of the models named by ``--model``,
``--nvs-model`` and ``--prior`` (run or model folders, checked as a model's are), nothing else::

    python apps/publish.py --space --repo-id <user>/ginr-demo --model runs/default --dry-run staged-space/

``--dry-run DIR`` writes exactly the folder that would be uploaded and lists it, without network (into a
temporary folder first, renamed to DIR when whole); a Space is staged so only, then uploaded with
``hf upload <user>/ginr-demo DIR --repo-type space``. Uploading needs a token with write access
(``hf auth login`` or ``HF_TOKEN``, or ``--token``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ginr_core.hub import CONFIG_FILE, WEIGHTS_FILE, read_json

from .cards import inr_model_card, prior_model_card, unmeasured_model_card
from .tasks import task_for_model

PREVIEWS = ("reconstructions.png", "novel_views.png", "samples.png")
NUMBER = (int, float)
# what a run measured, published beside its model: per kind, each file with the keys ginr writes into it
REPORTS = {
    "inr": {"metrics.json": {"steps": int, "train_minutes": NUMBER, "hardware": str, "command": str, "data": dict}},
    "pipeline": {
        "metrics.json": {"steps": int, "train_minutes": NUMBER},
        "eval/fid.json": {"fid": NUMBER, "num_samples": int, "reference": str, "split": str,
                          "reference_images": int, "guidance_scale": NUMBER, "num_inference_steps": int},
        "eval/sample_metrics.json": {"reference": str, "split": str, "num_samples": int, "num_inference_steps": int,
                                     "class_accuracy": dict, "classifier": str, "latent_frechet": NUMBER,
                                     "latent_frechet_diagonal_gaussian": NUMBER, "nearest_training_rms_min": NUMBER,
                                     "nearest_training_rms_min_held_out": NUMBER},
    },
}  # fmt: skip
RUN_FILES = tuple(dict.fromkeys(name for reports in REPORTS.values() for name in reports))
# what save_pretrained of a LatentINRPipeline writes (its README.md cards apart: the repository gets its own)
PIPELINE_FILES = ("model_index.json", "denoiser/config.json", "denoiser/diffusion_pytorch_model.safetensors",
                  "scheduler/scheduler_config.json", "inr/config.json", "inr/model.safetensors")  # fmt: skip
INR_CONFIG_META = {"_class_name", "_family", "_ginr_version", "_preprocessing"}  # what save_pretrained adds
DIFFUSERS_CONFIG_META = {"_class_name", "_diffusers_version"}
ALWAYS_PRESENT = {".gitattributes", "README.md"}  # what a new, empty Hub repository holds
# what a published file may be: the kinds of file a run writes, each with a size limit
LIMITS = {".safetensors": 50 << 30, ".json": 16 << 20, ".png": 32 << 20}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PublishError(Exception):
    """What stops a publication, said so that the user knows what to do."""


@dataclass
class Artefact:
    """A trained thing to publish: an INR (``kind="inr"``) or a ``LatentINRPipeline`` (``kind="pipeline"``)."""

    kind: str
    folder: Path
    class_name: str
    run: Path | None = None

    def run_file(self, name: str) -> Path | None:
        """``<run>/<name>`` if the run wrote it."""
        path = self.run / name if self.run is not None else None
        return path if path is not None and path.is_file() else None

    def run_json(self, name: str) -> dict | None:
        """``<run>/<name>`` parsed, checked to hold what ginr writes into it (``REPORTS``), or None if absent."""
        path = self.run_file(name)
        if path is None:
            return None
        try:
            data = read_json(path, name)
        except ValueError as error:
            raise PublishError(str(error)) from None
        for key, kind in REPORTS[self.kind].get(name, {}).items():
            value = data.get(key)
            finite = not isinstance(value, float) or math.isfinite(value)
            if isinstance(value, bool) or not isinstance(value, kind) or not finite:
                expected = "a finite number" if kind is NUMBER else f"a {kind.__name__}"
                raise PublishError(
                    f"{path}: {key} is {value!r}, expected {expected} as ginr writes it; a report that ginr did "
                    "not write is not published: remove the file or write it again with the app that makes it"
                )
        return data

    @property
    def preview(self) -> Path | None:
        return next((p for name in PREVIEWS if (p := self.run_file(name)) is not None), None)


def find_artefact(source: str | Path) -> Artefact:
    """What SOURCE holds: a model folder, a pipeline folder, or a run folder with one of them."""
    from ginr_core import inspect_artifact, list_families

    source = Path(source)
    if not source.exists():
        raise PublishError(f"{source} does not exist")
    ginr_classes = {cls.__name__ for cls in list_families().values()}
    for folder, run in ((source, None), (source / "model", source), (source / "pipeline", source)):
        if not folder.is_dir():
            continue
        for index in (CONFIG_FILE, "model_index.json"):  # never read through a link either
            if (folder / index).is_symlink():
                checked_file((folder / index).absolute(), source.absolute())
        try:
            held = inspect_artifact(folder)
        except ValueError as error:  # an index file that is not a JSON object
            raise PublishError(str(error)) from None
        if held is None:
            continue
        if held.kind == "inr":
            if held.class_name not in ginr_classes:
                raise PublishError(
                    f"{folder / 'config.json'} names {held.class_name!r}, not a ginr model "
                    f"({', '.join(sorted(ginr_classes))})"
                )
            if not (folder / "model.safetensors").is_file():
                raise PublishError(f"{folder} has a config.json but no model.safetensors: nothing to publish")
            return Artefact("inr", folder, held.class_name, run or _run_of(folder))
        if held.class_name != "LatentINRPipeline":
            raise PublishError(
                f"{folder} is a diffusers pipeline of class {held.class_name!r}, not a ginr LatentINRPipeline"
            )
        return Artefact("pipeline", folder, held.class_name, run or _run_of(folder))
    checkpoints = sorted((source / "checkpoints").glob("step-*")) if (source / "checkpoints").is_dir() else []
    if checkpoints:
        raise PublishError(
            f"{source} holds checkpoints (latest: {checkpoints[-1].name}) but no final model/ or pipeline/: the run "
            f"did not finish. Resume it (apps/train.py or apps/train_prior.py with --output-dir {source} --resume) "
            "and publish the folder it writes."
        )
    raise PublishError(
        f"{source} is not a ginr run or model folder: expected config.json + model.safetensors (a model), "
        "model_index.json (a prior's pipeline), or a run folder holding model/ or pipeline/"
    )


def _run_of(folder: Path) -> Path | None:
    return folder.parent if (folder.parent / "metrics.json").is_file() else None


def model_card(artefact: Artefact, repo_id: str) -> str:
    """The card of ``artefact`` published as ``repo_id``, built from what its run measured."""
    metrics, preview = artefact.run_json("metrics.json"), artefact.preview
    try:
        if artefact.kind == "inr":
            from ginr_core import GeneralizableINR

            model = GeneralizableINR.from_pretrained(artefact.folder)
            _check_finite(model, artefact.folder / WEIGHTS_FILE)
            _check_config(artefact.folder / CONFIG_FILE, set(model.config) | INR_CONFIG_META)
            if metrics is not None and "test" in metrics:
                key = task_for_model(model).metric.key  # the task's score
                score = metrics["test"].get(key) if isinstance(metrics["test"], dict) else None
                if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                    raise PublishError(
                        f"{artefact.run_file('metrics.json')}: test.{key} is {score!r}, not a finite number; a run "
                        "that did not train to a usable model is not published"
                    )
                try:
                    card = str(inr_model_card(model, metrics, repo_id=repo_id))
                except (KeyError, TypeError, ValueError) as error:
                    raise PublishError(
                        f"{artefact.run_file('metrics.json')} lacks what a model card needs "
                        f"({type(error).__name__}: {error}); was it edited by hand?"
                    ) from None
            else:  # no run's test score beside it: a card without results (never the folder's own README.md)
                card = str(unmeasured_model_card(model, repo_id))
        else:
            from ginr_diffusion import LatentINRPipeline

            pipe = LatentINRPipeline.from_pretrained(artefact.folder)
            _check_finite(pipe.denoiser, artefact.folder / "denoiser")
            _check_finite(pipe.inr, artefact.folder / "inr")
            _check_config(artefact.folder / "model_index.json", _init_arguments(type(pipe)))
            _check_config(artefact.folder / "denoiser" / "config.json", _init_arguments(type(pipe.denoiser)))
            _check_config(
                artefact.folder / "scheduler" / "scheduler_config.json", _init_arguments(type(pipe.scheduler))
            )
            _check_config(artefact.folder / "inr" / CONFIG_FILE, set(pipe.inr.config) | INR_CONFIG_META)
            fid, samples = artefact.run_json("eval/fid.json"), artefact.run_json("eval/sample_metrics.json")
            card = str(prior_model_card(pipe, metrics or {}, fid, repo_id, samples))
    except PublishError:
        raise
    except Exception as error:  # weights that do not load are not published
        raise PublishError(
            f"{artefact.folder} does not load ({type(error).__name__}: {error}); a model that does not load is never "
            "published"
        ) from None
    if preview is not None:
        card = card.rstrip() + f"\n\n## Preview\n\n![{preview.stem.replace('_', ' ')}]({preview.name})\n"
    return card


def checked_file(path: Path, root: Path) -> Path:
    """``path`` if it may be published: a regular file (not a link) inside ``root`` (no link on the
    way either), of a kind a run writes and within its size limit. Raises ``PublishError`` naming it."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise PublishError(f"{path} is outside {root}; only files of the run are published") from None
    walked = root
    for part in relative.parts:
        walked = walked / part
        if walked.is_symlink():
            raise PublishError(
                f"{walked} is a symbolic link (to {os.readlink(walked)}); links are never followed when publishing: "
                "replace it by the file itself, or remove it"
            )
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise PublishError(f"{path} is not a regular file; nothing else is published")
    if info.st_nlink > 1:
        raise PublishError(
            f"{path} has {info.st_nlink} hard links: it is also a file elsewhere, perhaps outside the run, and only "
            f"files with one link are published; if it is the run's own, replace it by a copy "
            f"(cp {path} {path}.copy && mv {path}.copy {path})"
        )
    limit = LIMITS.get(path.suffix)
    if limit is None:
        raise PublishError(
            f"{path}: a {path.suffix or 'suffix-less'} file is not something a ginr run writes (published kinds: "
            f"{', '.join(LIMITS)}); remove it from the folder"
        )
    if info.st_size > limit:
        raise PublishError(f"{path} has {_size(info.st_size)}, more than the {_size(limit)} a {path.suffix} may have")
    if path.suffix == ".png" and path.read_bytes()[:8] != PNG_MAGIC:
        raise PublishError(f"{path} is not a PNG image")
    return path


def _files(artefact: Artefact) -> dict[str, Path]:
    """Repository path -> local file, every one checked (``checked_file``); the card is added apart."""
    root = (artefact.run or artefact.folder).absolute()
    folder = artefact.folder.absolute()
    if artefact.kind == "inr":
        chosen = {name: folder / name for name in (WEIGHTS_FILE, CONFIG_FILE)}
    else:
        chosen = {}
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if any(part.startswith(".") for part in path.relative_to(folder).parts) or name.endswith("README.md"):
                continue  # hidden files and the component cards (the repository gets its own card)
            if path.is_symlink() or path.is_file():
                chosen[name] = checked_file(path, root if path.is_relative_to(root) else folder)
                if name not in PIPELINE_FILES:
                    raise PublishError(
                        f"{path} is not a file that a ginr pipeline holds ({', '.join(PIPELINE_FILES)}); "
                        "nothing else is published: move it out of the folder"
                    )
    extras = [artefact.run_file(name) for name in REPORTS[artefact.kind]] + [artefact.preview]
    chosen.update({extra.name: extra.absolute() for extra in extras if extra is not None})
    files = {name: checked_file(path, root if path.is_relative_to(root) else folder) for name, path in chosen.items()}
    for name in REPORTS[artefact.kind]:
        artefact.run_json(name)  # each report parsed and checked before it is published
    return files


def _init_arguments(cls) -> set[str]:
    """The keys a diffusers config of ``cls`` holds: its constructor's arguments and diffusers' own."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"} | (
        DIFFUSERS_CONFIG_META
    )


def _check_config(path: Path, allowed: set[str]) -> None:
    """``path`` holds only keys that ginr writes there (what loading checks, it checks the values)."""
    unknown = sorted(set(read_json(path, path.name)) - allowed)
    if unknown:
        raise PublishError(
            f"{path} holds keys that ginr does not write there ({', '.join(unknown[:5])}); a configuration "
            "is published only as ginr wrote it: remove them"
        )


def _check_finite(module, where: Path) -> None:
    from .guards import NonFiniteError, check_finite

    try:
        check_finite(module, str(where))
    except NonFiniteError as error:
        raise PublishError(f"{error}: a model with NaN or Inf weights is never published") from None


def stage(artefact: Artefact, repo_id: str, folder: str | Path) -> list[Path]:
    """Write into ``folder`` exactly what the repository receives; returns the files, sorted."""
    folder = Path(folder)
    files = _files(artefact)  # checked before anything is loaded or written
    card = model_card(artefact, repo_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / name, follow_symlinks=False)
    (folder / "README.md").write_text(card)
    return sorted(p for p in folder.rglob("*") if p.is_file())


SPACE_ROLES = {"model": "inr", "nvs_model": "inr", "prior": "pipeline"}  # demo flag -> the kind it takes
SPACE_APP = """\
# The ginr demo as a Hugging Face Space: the models are folders of this repository.
from pathlib import Path

from ginr_demo import DemoModels, build_demo

HERE = Path(__file__).parent
MODELS = {models}


def _load(role, folder):
    if role == "prior":
        from ginr_diffusion import LatentINRPipeline

        return LatentINRPipeline.from_pretrained(HERE / folder)
    from ginr_core import GeneralizableINR

    return GeneralizableINR.from_pretrained(HERE / folder)


demo = build_demo(DemoModels(**{{role: _load(role, folder) for role, folder in MODELS.items()}}))
demo.queue(default_concurrency_limit=1)

if __name__ == "__main__":
    demo.launch()
"""
SPACE_REQUIREMENTS = """\
torch>=2.4
ginr-core @ git+https://github.com/ginr-project/ginr#subdirectory=packages/ginr-core
ginr-data[embedded] @ git+https://github.com/ginr-project/ginr#subdirectory=packages/ginr-data
ginr-diffusion @ git+https://github.com/ginr-project/ginr#subdirectory=packages/ginr-diffusion
gradio>=5
"""


def stage_space(models: dict[str, Path], repo_id: str, folder: str | Path) -> list[Path]:
    """Write into ``folder`` the demo as a Gradio Space: its app, requirements, card and each model's files
    (``models``: demo role -> a run or model folder) under ``models/<role>/``; returns the files, sorted."""
    import gradio

    from . import demo

    if not models:
        raise PublishError("a Space needs at least one model: --model, --nvs-model or --prior")
    folder = Path(folder)
    staged = {}
    for role, source in models.items():
        artefact = find_artefact(source)
        if artefact.kind != SPACE_ROLES[role]:
            flag = "--" + role.replace("_", "-")
            raise PublishError(f"{flag} {source} holds {artefact.class_name}; {flag} takes a {SPACE_ROLES[role]}")
        reports = {Path(name).name for name in RUN_FILES} | set(PREVIEWS)
        for name, path in _files(artefact).items():
            if name not in reports:  # the Space holds the models, not their runs' reports
                staged[f"models/{role}/{name}"] = path
    layout = {role: f"models/{role}" for role in models}
    title = repo_id.split("/")[-1]
    card = (
        f"---\ntitle: {title}\nsdk: gradio\nsdk_version: {gradio.__version__}\napp_file: app.py\n"
        f"tags:\n- ginr\n- implicit-neural-representation\n---\n\n# {title}\n\nThe ginr demo "
        f"(`apps/demo.py`) of {', '.join(f'`{v}`' for v in layout.values())}.\n"
    )
    texts = {"app.py": SPACE_APP.format(models=json.dumps(layout)), "requirements.txt": SPACE_REQUIREMENTS,
             "README.md": card, "ginr_demo.py": Path(demo.__file__).read_text()}  # fmt: skip
    for name, source in staged.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / name, follow_symlinks=False)
    for name, text in texts.items():
        (folder / name).write_text(text)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _stage_atomically(target: Path, write) -> list[Path]:
    """``write(folder)`` into a temporary folder beside ``target``, renamed to ``target`` only when whole."""
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        files = write(partial)
        if target.exists():
            target.rmdir()  # checked empty before
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return [target / p.relative_to(partial) for p in files]


def _existing_class(api, repo_id: str, revision: str | None) -> tuple[bool, str | None, list[str]]:
    """Whether ``repo_id`` exists, the ginr class it holds (None if none), and its files."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        files = api.list_repo_files(repo_id, revision=revision)
    except RepositoryNotFoundError:
        return False, None, []
    except RevisionNotFoundError:  # a new branch of an existing repository: compare with main
        files, revision = api.list_repo_files(repo_id), None
    for index in ("model_index.json", "config.json"):
        if index in files:
            path = hf_hub_download(repo_id, index, revision=revision, token=api.token)
            return True, json.loads(Path(path).read_text()).get("_class_name"), files
    return True, None, files


def publish(
    artefact: Artefact,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload ``artefact`` to ``repo_id`` (created if needed) and return the commit URL."""
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    if constants.HF_HUB_OFFLINE:
        raise PublishError(
            "publishing needs the Hub, but HF_HUB_OFFLINE is set: unset it, or write the folder with "
            "--dry-run DIR and upload it later (hf upload REPO_ID DIR)"
        )
    token = token or get_token()
    if not token:
        raise PublishError(
            "no Hugging Face token: log in with `hf auth login`, set HF_TOKEN, or pass --token "
            "(a token with write access to the repository)"
        )
    api = HfApi(token=token)
    try:
        exists, held, files = _existing_class(api, repo_id, revision)
        if exists and held is not None and held != artefact.class_name:
            raise PublishError(
                f"{repo_id} already holds a {held}; this is a {artefact.class_name}. Publish it to another "
                "--repo-id (or delete that repository first)"
            )
        foreign = sorted(set(files) - ALWAYS_PRESENT)
        if exists and held is None and foreign:
            raise PublishError(
                f"{repo_id} already holds files that are not a ginr model ({', '.join(foreign[:5])}); "
                "publish to another --repo-id"
            )
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ginr-publish-") as staged:
            stage(artefact, repo_id, staged)
            commit = api.upload_folder(
                folder_path=staged,
                repo_id=repo_id,
                revision=revision,
                commit_message=commit_message or f"Upload {artefact.class_name} trained with ginr",
            )
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = {401: " (the token was rejected: log in again)", 403: " (the token cannot write there)"}.get(status, "")
        raise PublishError(f"the Hub refused the upload to {repo_id}: HTTP {status}{hint}: {error}") from None
    except (PublishError, KeyboardInterrupt):
        raise
    except Exception as error:  # connection failures and the like
        raise PublishError(f"cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}: {error})") from None
    return str(commit)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, nargs="?", help="a run folder, or its model/ or pipeline/ folder")
    parser.add_argument("--repo-id", required=True, help="<user or organisation>/<name> on the Hub")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", help="branch to upload to (created from main if new)")
    parser.add_argument("--commit-message")
    parser.add_argument("--token", help="Hub token (default: the logged-in one, or HF_TOKEN)")
    parser.add_argument("--dry-run", type=Path, metavar="DIR", help="write the folder to DIR and list it; no upload")
    parser.add_argument("--space", action="store_true", help="publish the demo as a Gradio Space of the models below")
    parser.add_argument("--model", type=Path, help="--space: the image INR (a run or model folder)")
    parser.add_argument("--nvs-model", type=Path, help="--space: the light-field model")
    parser.add_argument("--prior", type=Path, help="--space: the prior's pipeline (a run or pipeline folder)")
    args = parser.parse_args(argv)
    space = {role: getattr(args, role) for role in SPACE_ROLES if getattr(args, role) is not None}
    if args.space == (args.source is not None) or (space and not args.space):
        parser.error("pass a SOURCE to publish, or --space with --model / --nvs-model / --prior (not both)")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(args.repo_id)
        if args.repo_id.count("/") != 1:
            raise HFValidationError("it has no namespace")
    except HFValidationError as error:
        parser.error(f"--repo-id must look like <user>/<name> (user or organisation), got {args.repo_id!r}: {error}")
    try:
        dry = args.dry_run
        if dry is not None and dry.exists() and (not dry.is_dir() or any(dry.iterdir())):
            raise PublishError(f"--dry-run {args.dry_run} exists and is not an empty folder; nothing was written")
        if args.space:
            if args.dry_run is None:
                raise PublishError(
                    "--space stages a Space with --dry-run DIR; upload it then: hf upload REPO_ID DIR --repo-type space"
                )
            files = _stage_atomically(args.dry_run, lambda folder: stage_space(space, args.repo_id, folder))
            print(f"the Space {args.repo_id} would receive {len(files)} files:")
            for path in files:
                print(f"  {path.relative_to(args.dry_run.absolute())}  {_size(path.stat().st_size)}")
            return str(args.dry_run)
        artefact = find_artefact(args.source)
        if args.dry_run is not None:
            files = _stage_atomically(args.dry_run, lambda folder: stage(artefact, args.repo_id, folder))
            print(f"{args.repo_id} would receive {len(files)} files ({artefact.class_name} from {artefact.folder}):")
            for path in files:
                print(f"  {path.relative_to(args.dry_run.absolute())}  {_size(path.stat().st_size)}")
            return str(args.dry_run)
        url = publish(
            artefact,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            token=args.token,
            commit_message=args.commit_message,
        )
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"published {artefact.class_name} from {artefact.folder} to https://huggingface.co/{args.repo_id}: {url}")
    return url


def run() -> None:
    """The console entry point (``apps/publish.py``, ``ginr-publish``)."""
    main()
