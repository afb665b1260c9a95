"""docs/apps.md is each app's own --help: it cannot drift from the flags."""

import re
import sys
from pathlib import Path

from ginr_apps import helpdoc

DOCS = Path(__file__).resolve().parents[2] / "docs" / "apps.md"
RENDERED_WITH = (3, 11)  # argparse's layout changes between Python versions; CI runs this one


def test_the_apps_page_is_the_apps_own_help():
    rendered, page = helpdoc.render(), DOCS.read_text()
    stale = "docs/apps.md is stale: run python apps/ginr_apps/helpdoc.py docs/apps.md"
    if sys.version_info[:2] == RENDERED_WITH:
        assert page == rendered, stale
    else:  # the same flags, whatever the layout
        assert set(re.findall(r"--[a-z][a-z-]+", page)) == set(re.findall(r"--[a-z][a-z-]+", rendered)), stale
    for script, _ in helpdoc.APPS:
        assert f"## apps/{script}" in rendered and f"usage: {script}" in rendered
    assert "--dry-run DIR" in rendered and "--inception-weights" in rendered and "--resume" in rendered
