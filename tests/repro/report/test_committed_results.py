"""Committed results regenerate: `repro report` on the committed run records
gives, byte for byte, every table and plot under results/ (and no other).

results/bench/ is written by the benchmark scripts and results/<era>/search/ by the search scripts
(lecun1989/budget_search.py), not by `repro report` (REPORT.md links both, so they are copied in);
run records live in */runs/.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from repro.cli import main

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "results"


def generated_files(root: Path) -> dict[str, Path]:
    """Files `repro report` owns under ``root``: everything but bench/, searches and run records."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != "bench"
            and not {"runs", "search"} & set(p.relative_to(root).parts)}


def test_committed_results_regenerate_byte_identical(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    shutil.copytree(RESULTS / "bench", out / "bench")
    for search in RESULTS.glob("*/search"):
        shutil.copytree(search, out / search.relative_to(RESULTS))
    monkeypatch.chdir(ROOT)  # the records' paths in the tables are relative to the repository root
    assert main(["report", "--out", str(out)]) == 0, capsys.readouterr().err
    committed, regenerated = generated_files(RESULTS), generated_files(out)
    assert sorted(regenerated) == sorted(committed), "results/ holds tables `repro report` no longer writes, or lacks some"
    assert any(name.endswith(".png") for name in committed)
    differing = [name for name, path in committed.items() if regenerated[name].read_bytes() != path.read_bytes()]
    report = []
    for name in differing:
        if Path(name).suffix in (".md", ".csv"):
            diff = difflib.unified_diff(committed[name].read_text().splitlines(),
                                        regenerated[name].read_text().splitlines(),
                                        f"results/{name}", "regenerated", lineterm="", n=0)
            report += list(diff)[:30]
    assert not differing, (f"not what their records give (rerun `repro report`, or find what changed): "
                           f"{', '.join(differing)}\n" + "\n".join(report))
