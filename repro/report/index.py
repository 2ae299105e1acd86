"""results/REPORT.md: one page linking every generated table, plot and benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from repro.train.atomic import write_text_atomic

from .markdown import table


def write_index(out_root: Path, written: Sequence[Path], tricks: Sequence[tuple[str, str, str]] = (),
                kept: Sequence[Path] = (), head: str = "") -> Path:
    """``written``: the files this report wrote; ``tricks``: (name, summary,
    origin) rows for the catalogue of modern changes; ``kept``: tables already
    there that this report did not regenerate (their records were not found):
    still linked, marked so, never silently dropped; ``head``: the headline section
    (repro/report/headline.py), first on the page."""
    out_root = Path(out_root)
    lines = [
        "# repro: generated results\n\n",
        "Everything linked here is generated from run records or benchmark scripts (regenerate the tables and "
        "plots with `repro report`); nothing is typed by hand.\n\n",
    ]
    if head:
        lines.append(head + "\n")
    by_dir: dict[Path, list[Path]] = {}
    stale = {Path(p) for p in kept} - {Path(p) for p in written}
    for path in sorted(set(written) | stale):
        by_dir.setdefault(path.parent, []).append(path)
    for folder, paths in sorted(by_dir.items()):
        rel_dir = folder.relative_to(out_root).as_posix()
        lines.append(f"## {rel_dir}/\n\n")
        for p in paths:
            if p in stale:
                lines.append(f"- [{p.name}]({rel_dir}/{p.name}) (kept from an earlier report: its run records "
                             "were not found this time)\n")
            elif p.suffix == ".md":
                lines.append(f"- [{p.name}]({rel_dir}/{p.name}) (table; CSV beside it)\n")
        pngs = [p for p in paths if p.suffix == ".png"]
        if pngs:
            lines.append("- plots: " + ", ".join(f"[{p.stem}]({rel_dir}/{p.name})" for p in pngs) + "\n")
        lines.append("\n")
    bench = sorted((out_root / "bench").glob("*.md")) if (out_root / "bench").is_dir() else []
    if bench:
        lines.append("## bench/\n\nSpeed and kernel benchmarks (written by the scripts in `bench/`, hardware named in each):\n\n")
        lines += [f"- [{p.name}](bench/{p.name})\n" for p in bench]
        lines.append("\n")
    searches = sorted(out_root.glob("*/search/*.md"))
    if searches:
        lines.append("## Searches\n\nHyper-parameter searches on validation data (each names the command that wrote it):\n\n")
        lines += [f"- [{p.parent.parent.name}/{p.name}]({p.relative_to(out_root).as_posix()})\n" for p in searches]
        lines.append("\n")
    if tricks:
        lines.append("## The modern tricks\n\nSelected with `trick=[...]`, applied in a fixed order "
                     "(`modern_tricks/compose.py`):\n\n")
        lines.append(table(["trick", "what it changes", "origin"], [[f"`{n}`", s, o] for n, s, o in tricks]))
    index = out_root / "REPORT.md"
    write_text_atomic(index, "".join(lines))
    return index
