"""Size figures of the code base, for architecture work: run it before and after a change.

    python benchmarks/code_metrics.py

Prints the lines of Python in packages/ and apps/ (configs excluded), the number of source files
(packages, apps, tests, benchmarks) that name a built-in family or task by its string, and the
longest functions in apps/ counted in statements (every ``ast.stmt`` node inside the function), and
what a new task and a new family touch: the files of the plug-in packages in tests/plugins/ (a task
with its own tokenizer, data, loss and metric; a family) and how many files of ginr name them (0:
nothing of ginr was edited for them).
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILY = re.compile(r"""["'](locinr|ipc|transinr)["']""")
TASK = re.compile(r"""["'](images|nvs)["']|\bd_in\s*==\s*6\b""")
PLUGINS = {  # what an addition is: (its package, the names it registers)
    "a new task (+ tokenizer)": ("tests/plugins/ginr-signals", ("signals", "signal-patches", "ginr_signals")),
    "a new family": ("tests/plugins/ginr-mean-film", ("mean-film", "ginr_mean_film")),
}


def tracked(*folders: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if line.endswith(".py") and (ROOT / line).is_file()]


def statements(node: ast.AST) -> int:
    return sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - 1


def main() -> None:
    code = tracked("packages", "apps")
    print(f"lines of Python in packages/ + apps/: {sum(len(p.read_text().splitlines()) for p in code)}")
    apps = tracked("apps")
    print(f"lines of Python in apps/: {sum(len(p.read_text().splitlines()) for p in apps)}")
    configs = subprocess.run(["git", "ls-files", "apps/configs"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"experiment files in apps/configs/ (base files included): {len(configs.split())}")
    sources = tracked("packages", "apps", "tests", "benchmarks")
    naming_family = [p for p in sources if FAMILY.search(p.read_text())]
    naming_task = [p for p in sources if TASK.search(p.read_text())]
    print(f"source files naming a family by its string: {len(naming_family)}")
    print(f"source files naming a task by its string or branching on d_in == 6: {len(naming_task)}")
    functions = []
    for path in tracked("apps"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((statements(node), f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    for count, where in sorted(functions, reverse=True)[:5]:
        print(f"longest functions in apps/: {count} statements  {where}")
    ginr = tracked("packages", "apps")
    for what, (folder, names) in PLUGINS.items():
        own = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True).stdout.split()
        named = re.compile("|".join(rf"""["']{re.escape(n)}["']|\b{re.escape(n)}\.""" for n in names))
        naming = [p for p in ginr if named.search(p.read_text())]
        print(f"{what}: {len(own)} files of its own ({folder}); files of ginr that name it: {len(naming)}")


if __name__ == "__main__":
    main()
