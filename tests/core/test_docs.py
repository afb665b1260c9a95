"""The code in the documentation runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.fixture
def unregister_example_family():
    from ginr_core.models import registry

    yield
    registry._FAMILIES.pop("mean-film", None)  # the page's example registered itself in this process


@pytest.mark.parametrize("page", ["architecture.md"])
def test_documentation_examples_run(page, tmp_path, unregister_example_family):
    blocks = _python_blocks(DOCS / page)
    assert blocks, f"no python example in {page}"
    plugin = ROOT / "tests" / "plugins" / "ginr-mean-film" / "src" / "ginr_mean_film" / "__init__.py"
    assert plugin.read_text() in blocks, "the plug-in example on the page is not the tested plug-in file"
    task = (ROOT / "tests" / "plugins" / "ginr-signals" / "src" / "ginr_signals" / "__init__.py").read_text()
    assert task in blocks, "the task example on the page is not the tested plug-in file"
    run = (ROOT / "tests" / "plugins" / "ginr-signals" / "src" / "ginr_signals" / "signals.yaml").read_text()
    assert f"```yaml\n{run}```" in (DOCS / page).read_text(), "the task's run on the page is not its signals.yaml"
    namespace: dict = {"__name__": "docs_example"}
    for block in blocks:
        if block != task:  # tests/apps/test_plugin_task.py runs that one as the installed package it is
            exec(compile(block, str(DOCS / page), "exec"), namespace)
    # the plug-in example round-trips through the Hub mixin like the built-in models
    model_cls = namespace["MeanFiLMINR"]
    model = model_cls(hidden_dim=32)
    model.save_pretrained(tmp_path)
    loaded = model_cls.from_pretrained(tmp_path)
    assert loaded.config["hidden_dim"] == 32 and loaded.latent_dim == 64


@pytest.mark.slow
def test_readme_api_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tour saves "locinr-ffhq" into the working directory
    (tour,) = _python_blocks(ROOT / "README.md")
    namespace: dict = {}
    exec(compile(tour, "README.md", "exec"), namespace)
    assert namespace["big"].shape == (1, 3, 356, 356)
    assert (tmp_path / "locinr-ffhq" / "model.safetensors").is_file()
