"""The headline of results/REPORT.md: every published number beside ours, with one status rule.

Each era's reporter supplies its rows (`Reporter.headline`, see reporter.py): the published
number as its source states it, our per-seed values from the run records, the data set and
hardware, and, where the era knows them, why a number is absent, whether our schedule was
shorter, and the cause of a gap its faithfulness record names. This module owns the rule that
turns a row into its status (`status`), the page section (`section`) and the README's copy of
it (`readme_block`, `replace_block`), so every era is judged the same way.
"""

from __future__ import annotations

import math
import posixpath
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .markdown import table

# Why a published number has no value of ours: the era says which (the first that applies).
NO_DATA = "no data here"  # the data set is not on this machine (ILSVRC-2012: registration at image-net.org)
OWED_TO_GPU = "owed to a GPU"  # the run is meant for a GPU (a script in bench/) and has not been made
NOT_YET = "not yet measured"  # nothing stops it: the records do not exist (yet)
MISSING_STATUSES = (NO_DATA, OWED_TO_GPU, NOT_YET)
SHORTENED, REPRODUCED, GAP = "shortened", "reproduced", "gap"

RULE = (
    "**Status**, one rule for every row, first match wins: *no data here*, *owed to a GPU* or *not yet measured* "
    "when no finished record gives the number (the era says which: the data set is not available here, the run "
    "is meant for a GPU, or it has simply not been run); *shortened* when our schedule was shorter than the "
    "published one (a lower bound — a run still short of the mark at its cap — is *shortened* below the published "
    "value and *reproduced* at or above it, where the published claim 'this much or more' holds); *reproduced* when our mean lies within 2 standard errors of the published value (2 or more seeds), "
    "where the standard error is that of the difference: SE = sd/√n for a published mean, and "
    "SE = sd·√(1 + 1/n) where the published value is a single run (the 1989 paper's numbers, each of Karpathy "
    "2022's rows: a single run's distance from the mean of our n runs has that spread), "
    "or within the published value's stated precision (half a unit of its last stated digit: "
    "5.0 means 4.95 to 5.05); otherwise *gap*, followed by the cause the era's faithfulness record names where "
    "it names one. Δ is ours minus published (in those standard errors where there are 2 or more seeds)."
)


def stated_precision(text: str) -> float:
    """Half a unit of the last digit ``text`` states: "5.0" -> 0.05, "0.14" -> 0.005, "2.5e-3" -> 0.00005,
    "26" -> 0.5."""
    exponent = Decimal(text.strip()).as_tuple().exponent
    return 0.5 * 10.0 ** int(exponent)


@dataclass(frozen=True)
class HeadlineRow:
    """One published number and ours. ``values``: one per seed (empty: none measured)."""

    number: str  # what is compared, e.g. "LeCun et al. 1989: test error %"
    source: str  # where it is stated (paper, section / file)
    published: str  # the value as the source states it: "5.0", "2.5e-3", "26"
    values: tuple[float, ...] = ()
    data: str = ""  # the data set we used (or would use)
    hardware: str = ""  # what our runs ran on
    link: str = ""  # our table, relative to the results root ("lecun1989/baseline.md")
    digits: int = 2  # decimals of ours
    missing: str = NOT_YET  # the status when ``values`` is empty: one of MISSING_STATUSES
    note: str = ""  # said beside ours: why it is missing, or how it was measured
    shortened: str = ""  # non-empty: how our schedule is shorter than the published one
    cause: str = ""  # markdown: the cause of a gap, from the era's faithfulness record ("" when none is named)
    ours_text: str = ""  # ours as text where a number does not say it (a lower bound), replaces the mean
    bound: float | None = None  # ours is only a lower bound (a run short of the mark at its cap): this one
    # The published value is one run (not a mean): its own spread counts, so the difference's standard
    # error is sd*sqrt(1 + 1/n) rather than sd/sqrt(n) (RULE).
    single_run: bool = False

    def __post_init__(self) -> None:
        if self.missing not in MISSING_STATUSES:
            raise ValueError(f"missing must be one of {MISSING_STATUSES}, not {self.missing!r}")
        stated_precision(self.published)  # a published value that is not a number is refused here

    @property
    def value(self) -> float:
        return float(self.published)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) >= 2 else None

    @property
    def se(self) -> float | None:
        """The standard error of ours minus published: sd/sqrt(n) against a published mean, sd*sqrt(1 + 1/n)
        against a single published run (whose own spread is our runs' sd)."""
        if self.sd is None:
            return None
        n = len(self.values)
        return self.sd * math.sqrt(1 + 1 / n) if self.single_run else self.sd / math.sqrt(n)


def cause_text(entry: dict | None, numbers: dict[str, str] | None = None) -> str:
    """One entry of an era's faithfulness record of gaps (lecun1989/gaps.yaml, alexnet2012/gaps.yaml) as the
    status cell's cause: the cause, what was tried, what remains; `{name}`s filled from ``numbers``."""
    if not entry:
        return ""
    parts = [entry["cause"]]
    if entry.get("tried"):
        parts.append("tried: " + "; ".join(entry["tried"]))
    if entry.get("remains"):
        parts.append("remains: " + "; ".join(entry["remains"]))
    return "; ".join(parts).format(**(numbers or {}))


def status(row: HeadlineRow) -> str:
    """The row's status by the one rule (RULE), as the table shows it."""
    if not row.values and not row.ours_text:
        return row.missing
    if row.bound is not None:  # "more than x": the published claim holds when x already reaches it
        return REPRODUCED if row.bound >= row.value else SHORTENED
    if row.shortened:
        return SHORTENED
    if row.values:
        diff = abs(row.mean - row.value)
        if row.se is not None and diff <= 2 * row.se:
            return REPRODUCED
        if diff <= stated_precision(row.published) + 1e-12:
            return REPRODUCED
    return f"{GAP}: {row.cause}" if row.cause else f"{GAP} (no cause on record)"


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def ours_cell(row: HeadlineRow) -> str:
    if row.ours_text:
        text = row.ours_text
    elif not row.values:
        return f"— ({row.note})" if row.note else "—"
    else:
        n = len(row.values)
        sd = f" ± {_num(row.sd, row.digits)}" if row.sd is not None else ""
        text = f"{_num(row.mean, row.digits)}{sd} ({n} seed{'s' if n != 1 else ''})"
    text = f"[{text}]({row.link})" if row.link else text
    return f"{text}; {row.note}" if row.note else text


def delta_cell(row: HeadlineRow) -> str:
    if not row.values:
        return "—"
    diff = row.mean - row.value
    text = f"{diff:+.{row.digits}f}"
    if row.se is not None:
        text += f" ({diff / row.se:+.1f} SE)" if row.se > 0 else " (sd 0)"
    return text


def data_cell(row: HeadlineRow) -> str:
    return " · ".join(x for x in (row.data, row.hardware) if x) or "—"


@dataclass(frozen=True)
class Story:
    """One line under the headline: what an ablation table shows, linking to it."""

    link: str  # the table, relative to the results root
    title: str  # the table's name as the link shows it
    text: str


@dataclass(frozen=True)
class EraHeadline:
    """What one era puts on the headline: its rows and the lines about its ablation tables."""

    year: int  # orders the eras on the page
    rows: Sequence[HeadlineRow] = ()
    stories: Sequence[Story] = ()


@dataclass(frozen=True)
class HeadlineInput:
    """What `repro report` read, handed to an era's headline: its finished records (duplicates
    of a configuration and seed dropped, as in its tables), its run-table sweep folders, and the
    results root its tables were just written to (the stories read them)."""

    runs: pd.DataFrame
    sweeps: Sequence[Path] = ()
    out: Path = Path("results")


HeadlineFn = Callable[[HeadlineInput], EraHeadline]

HEADER = ["published number", "source", "published", "ours (mean ± sd, seeds)", "Δ", "data set · hardware", "status"]


def headline_table(rows: Sequence[HeadlineRow]) -> str:
    return table(HEADER, [[r.number, r.source, r.published, ours_cell(r), delta_cell(r), data_cell(r), status(r)]
                          for r in rows])


def section(eras: Sequence[EraHeadline]) -> str:
    """The markdown of the headline and the stories (links relative to the results root); "" when empty."""
    eras = sorted(eras, key=lambda e: e.year)
    rows = [r for e in eras for r in e.rows]
    stories = [s for e in eras for s in e.stories]
    if not rows and not stories:
        return ""
    parts = ["## Published numbers beside ours\n\n",
             "Generated by `repro report` from the run records and each era's published numbers "
             "(`<era>/report/headline.py`); nothing typed by hand. " + RULE + "\n\n"]
    if rows:
        parts.append(headline_table(rows))
    if stories:
        parts.append("\n### The ablations at a glance\n\n")
        parts += [f"- [{s.title}]({s.link}): {s.text}\n" for s in stories]
    return "".join(parts)


def headline(reporters: Mapping[str, object], runs: pd.DataFrame,
             sweeps: Sequence[tuple[Path, str | None]], out: Path) -> str:
    """The headline section from every era's reporter that supplies one.

    ``runs``: every finished record read (all eras); ``sweeps``: (sweep folder, its era, None when
    none of its records is finished) of the run-table sweeps read; ``out``: the results root the tables
    were written to."""
    from .rows import resolve

    eras = []
    for era, reporter in sorted(reporters.items()):
        fn = getattr(reporter, "headline", None)
        if fn is None:
            continue
        mine = runs[runs["era"] == era] if len(runs) else pd.DataFrame()
        if len(mine):  # one result per configuration and seed, as the tables count them
            mine = pd.concat([resolve(group)[0] for _, group in mine.groupby("table", sort=True)])
        # Its sweeps: those whose records name it, and those with no finished record yet under its own roots.
        roots = [Path(r).resolve() for r in getattr(reporter, "run_tables", ())]
        own = [s for s, e in sweeps if e == era or (e is None and any(r in Path(s).resolve().parents for r in roots))]
        eras.append(fn(HeadlineInput(mine, own, Path(out))))
    return section(eras)


# The README shows the same section between these markers, refreshed by `repro report`.
START = "<!-- generated by `repro report` (the headline of results/REPORT.md): do not edit between these markers -->"
END = "<!-- repro report: end of headline -->"
_LINK = re.compile(r"\]\((?![a-z]+:|#|/)([^)]+)\)")  # a relative link (not a URL, an anchor or an absolute path)


def readme_block(text: str, results: str = "results") -> str:
    """The section as the README shows it: links made relative to the repository root, headings one level deeper."""

    def relink(m: re.Match) -> str:
        path, sep, anchor = m.group(1).partition("#")
        return f"]({posixpath.normpath(posixpath.join(results, path))}{sep}{anchor})"

    text = _LINK.sub(relink, text.strip())
    text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
    return f"{START}\n\n{text}\n\n{END}"


def replace_block(readme: str, block: str) -> str:
    """``readme`` with its marked block replaced by ``block``; ValueError when the markers are missing."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError("README.md has no headline markers")
    return readme[:start] + block + readme[end + len(END):]


def current_block(readme: str) -> str | None:
    start, end = readme.find(START), readme.find(END)
    return readme[start:end + len(END)] if 0 <= start <= end else None


def section_of_report(report_md: str) -> str:
    """The headline section of a written REPORT.md (up to the first `## ` heading after it)."""
    start = report_md.find("## Published numbers beside ours")
    if start < 0:
        return ""
    rest = report_md[start:]
    nxt = re.search(r"^## (?!Published numbers beside ours)", rest, flags=re.M)
    return rest[: nxt.start()] if nxt else rest



def refresh_readme(readme: Path, text: str) -> bool:
    """Rewrite ``readme``'s marked block to show ``text`` (the headline section); False when it has no
    markers (nothing written). Written only when it changes."""
    from repro.train.atomic import write_text_atomic

    try:
        old = Path(readme).read_text()
        new = replace_block(old, readme_block(text))
    except (OSError, ValueError):
        return False
    if new != old:
        write_text_atomic(Path(readme), new)
    return True
