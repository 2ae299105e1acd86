"""The 1989 era's rows of results/REPORT.md's headline (repro/report/headline.py applies the status rule).

The paper's numbers after 23 passes (section 5.3: train and test error, misses, MSE; the rejection
needed for 1% test error), each beside our plain `baseline` runs on USPS; Karpathy 2022's test error
for every row of his table, beside our rows on his protocol (`karpathy_protocol`, MNIST 16x16) and
on USPS (`karpathy_table`). A gap names the cause our faithfulness record states for it
(lecun1989/gaps.yaml: the cause, what was measured against it, what remains), where it states one.
The published values are single runs, so the status rule counts their own spread (`single_run`).
Under the headline, one line per ablation table, read from the tables this report has just written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from repro.report.headline import EraHeadline, HeadlineInput, HeadlineRow, Story, cause_text

from . import published
from .baseline import DATA_LABEL
from .published import KARPATHY_2022_ROWS, LECUN_1989

PAPER = "LeCun et al. 1989, section 5.3"
# Where each of his numbers is stated (published.py): repro.py's run in his repository's README, the four
# changes in modern.py's docstring, the two 50,000-digit rows in the blog post.
KARPATHY = {"baseline": "Karpathy 2022, lecun1989-repro README (repro.py)",
            **{row: "Karpathy 2022, modern.py docstring" for row in ("softmax_ce", "adamw", "augment", "dropout_relu")},
            **{row: "Karpathy 2022, blog post ('Cheating with data')" for row in ("more_data", "all_more_data")}}

# The causes of gaps on record, with what was measured against them and what remains: a data file
# (lecun1989/gaps.yaml), not strings kept here, so a cause a measurement rules out is edited in one place.
GAPS_FILE = Path(__file__).resolve().parents[1] / "gaps.yaml"


def gap_record() -> dict:
    return yaml.safe_load(GAPS_FILE.read_text())


def measured(runs: pd.DataFrame) -> dict[str, str]:
    """The numbers gaps.yaml's texts cite ({sdlm_test_error} ...), from the run records: the paper's
    optimizer (`optim=sdlm`, results/lecun1989/runs/baseline/sdlm) and the SGD baseline."""
    def pm(frame: pd.DataFrame, col: str, unit: str = "%", digits: int = 2) -> str:
        if not len(frame):
            return "(not measured)"
        v = frame[col].astype(float)
        sd = f" ± {v.std():.{digits}f}" if len(v) > 1 else ""
        return f"{v.mean():.{digits}f}{sd}{unit} ({len(v)} seeds)"

    sdlm = runs[(runs["table"] == "") & (runs["name"] == "sdlm") & (runs["data"] == "usps")
                & runs["test_error"].notna()] if len(runs) else runs
    base = baseline_runs(runs)
    return {"sdlm_test_error": pm(sdlm, "test_error"), "sdlm_test_misses": pm(sdlm, "test_misses", "", 1),
            "sgd_test_error": pm(base, "test_error")}


KARPATHY_ROWS = ("baseline", "softmax_ce", "adamw", "augment", "dropout_relu", "more_data", "all_more_data")


def _hardware(runs: pd.DataFrame) -> str:
    return "; ".join(sorted(set(runs["hardware"].astype(str)))) if len(runs) else ""


def _data(runs: pd.DataFrame, fallback: str) -> str:
    if not len(runs):
        return fallback
    r = runs.iloc[0]
    label = DATA_LABEL.get(r["data"], r["data"])
    # Records from before `n_train` was recorded say 0: the data set's name alone.
    return f"{label} ({int(r['n_train']):,} train digits)" if int(r["n_train"] or 0) > 0 else label


def baseline_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Our plain `baseline` runs of the paper's setting (USPS, all 7,291 training digits, no tricks, 23 passes,
    the test set read). Of several such rows: the one in the `baseline` folder (results/lecun1989/baseline.md),
    then the eager backend's (the plain PyTorch loop the fused kernels are checked against), then the one
    with the most seeds."""
    if not len(runs):
        return runs
    plain = runs[(runs["table"] == "") & (runs["name"] == "baseline") & (runs["data"] == "usps")
                 & (runs["tricks"] == "") & (runs["passes"] == 23) & runs["test_error"].notna()
                 & runs["n_train"].isin([0, 7291])]  # 0: records from before n_train was recorded
    if plain.empty:
        return plain

    def preference(kv):
        key, group = kv
        folder = Path(str(group["run"].iloc[0])).parent.name
        return (folder != "baseline", str(group["backend"].iloc[0]) != "eager", -len(group), key)

    groups = sorted(plain.groupby("row_key", sort=True), key=preference)
    return groups[0][1].sort_values("seed")


def _link(runs: pd.DataFrame, table: str = "") -> str:
    """Our table of these runs, relative to the results root: an experiment's, or the plain runs' folder's."""
    if table:
        return f"lecun1989/{table}.md"
    return f"lecun1989/{Path(str(runs['run'].iloc[0])).parent.name}.md" if len(runs) else ""


def _rejection(run: str) -> float | None:
    """The rejection for 1% test error a run recorded (lecun1989/rejection.py), or None (older records)."""
    try:
        value = json.loads((Path(run) / "metrics.json").read_text()).get("rejection", {})
        value = value.get("test_rejection_for_1pct_error") if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def paper_rows(runs: pd.DataFrame) -> list[HeadlineRow]:
    base = baseline_runs(runs)
    gaps, numbers = gap_record(), measured(runs)
    errors, mse = cause_text(gaps.get("paper_errors"), numbers), cause_text(gaps.get("paper_mse"), numbers)
    # Each of the paper's numbers is one run: its own spread counts in the status rule.
    common = {"data": _data(base, "USPS (7,291 train digits)"), "hardware": _hardware(base), "link": _link(base),
              "single_run": True}

    def values(column: str) -> tuple[float, ...]:
        return tuple(float(v) for v in base[column]) if len(base) else ()

    rows = [
        HeadlineRow("LeCun 1989: train error %", PAPER, f"{LECUN_1989['train_error']:.2f}", values("train_error"),
                    cause=errors, **common),
        HeadlineRow("LeCun 1989: test error %", PAPER, f"{LECUN_1989['test_error']:.1f}", values("test_error"),
                    cause=errors, **common),
        HeadlineRow("LeCun 1989: train misses", PAPER, str(LECUN_1989["train_misses"]), values("train_misses"),
                    digits=1, cause=errors, **common),
        HeadlineRow("LeCun 1989: test misses", PAPER, str(LECUN_1989["test_misses"]), values("test_misses"),
                    digits=1, cause=errors, **common),
        HeadlineRow("LeCun 1989: train MSE", PAPER, "2.5e-3", values("train_loss"), digits=4, cause=mse, **common),
        HeadlineRow("LeCun 1989: test MSE", PAPER, "1.8e-2", values("test_loss"), digits=4, cause=mse, **common),
    ]
    assert float(rows[4].published) == LECUN_1989["train_mse"] and float(rows[5].published) == LECUN_1989["test_mse"]
    rows.append(rejection_row(base, cause_text(gaps.get("rejection"), numbers)))
    return rows


def rejection_row(base: pd.DataFrame, cause: str = "") -> HeadlineRow:
    """The rejection needed for 1% test error: the paper's number where its text was found, else the
    secondary statement published.py quotes (named as such)."""
    paper = getattr(published, "REJECTION_PAPER", None)
    secondary = getattr(published, "REJECTION_SECONDARY", None) or {}
    if isinstance(paper, dict) and paper.get("rejection_for_1pct_error") is not None:
        value, source = paper["rejection_for_1pct_error"], PAPER
    else:
        value, source = secondary.get("rejection_for_1pct_error", 12.1), "secondary notes on the paper (published.py)"
    measured = [(r, v) for r, v in ((r, _rejection(r)) for r in base["run"])] if len(base) else []
    have = [(r, v) for r, v in measured if v is not None]
    kept = base[base["run"].isin([r for r, _ in have])] if have else base.iloc[0:0]
    return HeadlineRow("LeCun 1989: rejection % for 1% test error", source, f"{value}",
                       tuple(v for _, v in have), data=_data(base, "USPS (7,291 train digits)"),
                       hardware=_hardware(kept), link=_link(kept) if have else "", digits=1,
                       note="" if have else "the baseline records predate `rejection` in metrics.json",
                       cause=cause, single_run=True)


def karpathy_rows(runs: pd.DataFrame, table: str, rows: tuple[str, ...], data: str, where: str) -> list[HeadlineRow]:
    """His test error per row (each one run) beside our row of ``table`` (on ``data``)."""
    mine = runs[(runs["table"] == table)] if len(runs) else runs
    gaps = gap_record()
    out = []
    for row in rows:
        his = KARPATHY_2022_ROWS[row]
        ours = mine[(mine["name"] == row) & (mine["data"] == data)] if len(mine) else mine
        if len(ours) and ours["row"].nunique() > 1:  # several configurations share the name: the most seeds
            ours = max(ours.groupby("row", sort=True), key=lambda kv: len(kv[1]))[1]
        shortened = ""
        if len(ours) and his["passes"] is not None and int(ours["passes"].iloc[0]) < his["passes"]:
            shortened = f"{int(ours['passes'].iloc[0])} passes, his {his['passes']}"
        if data == "usps":
            entry = gaps.get("karpathy_on_usps")
        else:
            per_row = gaps.get("karpathy_protocol") or {}
            entry = per_row.get(row) or per_row.get("default")
        out.append(HeadlineRow(
            f"Karpathy 2022 `{row}`: test error % ({where})", KARPATHY[row], f"{his['test_error']:.2f}",
            tuple(float(v) for v in ours["test_error"]) if len(ours) else (),
            data=_data(ours, DATA_LABEL[data]), hardware=_hardware(ours), link=_link(ours, table),
            shortened=shortened, cause=cause_text(entry, {}), single_run=True))
    return out


def _pm(r: pd.Series, col: str = "test_error") -> str:
    sd = r.get(f"{col}_sd")
    sd = "" if sd is None or (isinstance(sd, float) and math.isnan(sd)) else f" ± {sd:.2f}"
    return f"{r[f'{col}_mean']:.2f}{sd}%"


def _read(out: Path, name: str) -> pd.DataFrame | None:
    path = out / "lecun1989" / f"{name}.csv"
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def stories(out: Path) -> list[Story]:
    """One line per ablation table, from the table this report wrote (none for a table not written)."""
    lines = []
    budget = _read(out, "usps_budget")
    if budget is not None and "kind" in budget and len(budget[budget["kind"] == "path"]):
        path = budget[budget["kind"] == "path"]
        first, best = path.iloc[0], path.iloc[-1]
        lines.append(Story("lecun1989/usps_budget.md", "usps_budget", (
            f"within the 1989 budget, every choice on validation, the best recipe `{best['row']}` "
            f"({best['tricks']}; {int(best['passes'])} passes) reaches {_pm(best)} test error "
            f"({int(best['test_seeds'])} seeds), from {_pm(first)} for the 1989 recipe")))
    for name, where in (("karpathy_table", "on USPS"), ("karpathy_protocol", "on his protocol, MNIST 16x16"),
                        ("karpathy_protocol_his", "on his protocol from his own starting weights")):
        frame = _read(out, name)
        if frame is None or frame.empty:
            continue
        home = frame[frame["data"] == "usps"] if name == "karpathy_table" else frame
        if home.empty:
            continue
        first, last = home.iloc[0], home.iloc[-1]
        his = "; his, on MNIST 16x16: " if name == "karpathy_table" else "; his: "
        theirs = (f"{his}{first['karpathy_test_error']:.2f}% → {last['karpathy_test_error']:.2f}%"
                  if pd.notna(first.get("karpathy_test_error")) and pd.notna(last.get("karpathy_test_error")) else "")
        lines.append(Story(f"lecun1989/{name}.md", name, (
            f"Karpathy's tricks {where}: `{first['row']}` {_pm(first)} → `{last['row']}` {_pm(last)} "
            f"test error ({int(last['seeds'])} seeds){theirs}")))
    each = _read(out, "ablate_each")
    if each is not None and {"baseline", "all"} <= set(each["row"]):
        lines.append(Story("lecun1989/ablate_each.md", "ablate_each", _largest_effect(each)))
    return lines


def _largest_effect(each: pd.DataFrame) -> str:
    """The largest single change: a trick alone on the 1989 recipe, or one trick taken out of all of them."""
    by = each.set_index("row")
    effects = []
    for row, r in by.iterrows():
        if row.startswith("only_"):
            effects.append((abs(r["test_error_mean"] - by.at["baseline", "test_error_mean"]), row, "baseline"))
        elif row.startswith("all_but_"):
            effects.append((abs(r["test_error_mean"] - by.at["all", "test_error_mean"]), row, "all"))
    if not effects:
        return "no single-change rows"
    _, row, ref = max(effects)
    trick = row.removeprefix("only_").removeprefix("all_but_")
    what = (f"adding `{trick}` alone to the 1989 recipe" if ref == "baseline"
            else f"taking `{trick}` out of all of Karpathy's tricks")
    collapsed = "train_error_mean" in by and by.at[row, "train_error_mean"] >= 50  # no better than a guess
    return (f"the largest single effect is {what}: test error {_pm(by.loc[ref])} (`{ref}`) → "
            f"{_pm(by.loc[row])} (`{row}`{', training collapses' if collapsed else ''})")


def headline(given: HeadlineInput) -> EraHeadline:
    runs = given.runs
    rows = paper_rows(runs)
    rows += karpathy_rows(runs, "karpathy_protocol", KARPATHY_ROWS, "mnist16", "his protocol")
    rows += karpathy_rows(runs, "karpathy_table", KARPATHY_ROWS[:5], "usps", "on USPS")
    return EraHeadline(year=1989, rows=rows, stories=stories(given.out))
