"""repro/ is the era-agnostic core: nothing in it imports an era or
modern_tricks (each era's report plug-in imports repro, never the other way).
modern_tricks/ is shared by the eras: it imports none of them (what a trick
needs from an era, e.g. `rebalance`'s parameter count, the era's recipe supplies)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What is checked, relative to the repository root: files, and folders (every .py below them).
CHECKED = ("repro",)
FORBIDDEN = ("lecun1989", "alexnet2012", "modern_tricks")
ERAS = ("lecun1989", "alexnet2012")


def checked_files(root: Path = ROOT, checked: tuple[str, ...] = CHECKED) -> list[Path]:
    files: list[Path] = []
    for name in checked:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def forbidden_imports(path: Path, root: Path = ROOT, forbidden: tuple[str, ...] = FORBIDDEN) -> list[str]:
    """'file:line: imports X' for each import (anywhere in the file) of a forbidden package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [f"{path.relative_to(root)}:{node.lineno}: imports {m}" for m in modules
                  if m.split(".")[0] in forbidden]
    return found


def test_repro_imports_no_era_and_no_modern_tricks():
    files = checked_files()
    assert all((ROOT / name).exists() for name in CHECKED) and len(files) > 5
    offences = [line for path in files for line in forbidden_imports(path)]
    assert not offences, "repro/ must not import an era or modern_tricks:\n" + "\n".join(offences)


def test_modern_tricks_imports_no_era():
    files = checked_files(checked=("modern_tricks",))
    assert len(files) > 5 and ROOT / "modern_tricks" / "architecture.py" in files
    offences = [line for path in files for line in forbidden_imports(path, forbidden=ERAS)]
    assert not offences, "modern_tricks/ must not import an era:\n" + "\n".join(offences)


def test_the_check_finds_every_form_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport lecun1989.report\nfrom modern_tricks import TRICKS\n"
                      "def f():\n    from alexnet2012.report import figure1\nfrom . import markdown\n"
                      "import lecun1989_extra\n")
    assert forbidden_imports(sample, tmp_path) == [
        "sample.py:2: imports lecun1989.report", "sample.py:3: imports modern_tricks",
        "sample.py:5: imports alexnet2012.report",
    ]


def test_the_era_check_finds_an_import_inside_a_function(tmp_path):
    # The form modern_tricks/architecture.py used to have: an era imported inside a trick's check.
    sample = tmp_path / "trick.py"
    sample.write_text("from repro.config import ConfigError\nimport modern_tricks\n"
                      "def check(recipe):\n    from lecun1989.model import build_model\n")
    assert forbidden_imports(sample, tmp_path, forbidden=ERAS) == ["trick.py:4: imports lecun1989.model"]
