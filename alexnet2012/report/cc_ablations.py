"""The 2012 ablation table (experiment=cc_ablations) and the validation search behind two of its rows
(experiment=cc_ablations_tune), from the records of a sweep folder.

Runs are grouped into rows by their config exactly as repro/report/rows.py does (`resolve`: a different
config is a different row; the same config and seed twice is one result, the other listed as a
duplicate). Every row the experiment's sweep lists is shown, finished or not: a row without its seeds
is *owed* (running, interrupted, or not started), never silently absent. `channels_last` and
`torch_compile` leave the arithmetic as it is: their point is GPU speed, so on a CPU one seed only
checks that they agree with `baseline`, and the table marks them as owed to a GPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from repro.report import plots
from repro.report.collect import Skipped, find_run_dirs, read_history, record_era
from repro.report.experiment_table import row_description, row_order
from repro.report.markdown import fmt, table
from repro.report.rows import resolve, row_config
from repro.train.atomic import write_text_atomic
from repro.train.record import DivergedRun, RecordError, read_metrics, read_record

from .published import ALEXNET_2012_CLAIMS

TABLE, TUNE = "cc_ablations", "cc_ablations_tune"
SEEDS = (0, 1)  # every accuracy row (issue 42)
SPEED_ROWS = ("channels_last", "torch_compile")  # the same arithmetic: one CPU seed checks agreement
TUNED = {"adamw": "lr", "one_cycle": "peak"}  # row -> the trick parameter cc_ablations_tune chooses
CONF = Path(__file__).resolve().parents[2] / "conf" / "alexnet2012"


def sweep_kind(sweep: Path) -> str | None:
    """TABLE or TUNE when the sweep's first readable record names it, else None."""
    for path in find_run_dirs([sweep]):
        try:
            record = read_record(path)
        except RecordError:
            continue
        if record.get("era") in ("alexnet2012", None):
            table_name = record.get("table")
            return table_name if table_name in (TABLE, TUNE) else None
    return None


def read_runs(sweep: Path) -> tuple[pd.DataFrame, list[Skipped], list[Path]]:
    """The finished runs of ``sweep`` resolved into rows (rows.resolve), the skipped records (diverged,
    duplicates), and the run folders with no finished record (running or interrupted)."""
    rows, skipped, unfinished = [], [], []
    for path in find_run_dirs([sweep]):
        if record_era(path) not in ("alexnet2012", None):
            continue
        try:
            m = read_metrics(path)
        except DivergedRun as exc:
            record = read_record(path)
            skipped.append(Skipped(path, str(exc), config=row_config(record, path), name=str(record.get("name", "")),
                                   seed=record.get("seed")))
            continue
        except RecordError:
            unfinished.append(path)
            continue
        final = m["final"]
        rows.append({
            "run": str(path), "name": m["name"], "seed": int(m["seed"]), "data": m["data"],
            "passes": int(m["passes"]), "n_train": int(m.get("n_train") or 0),
            "n_test": int(m.get("n_test") or 0), "n_holdout": int(m.get("n_holdout") or 0),
            "tricks": ", ".join((m.get("recipe") or {}).get("tricks") or []),
            "test_error": float(final["val"]["error"]) if "val" in final else math.nan,
            "test_error_10_views": float(final["val10"]["error"]) if "val10" in final else math.nan,
            "holdout_error": float(final["holdout"]["error"]) if "holdout" in final else math.nan,
            "wall_time_s": float(m["wall_time_s"]),
            "hardware": str((m.get("environment") or {}).get("hardware", "unknown")),
            "finished_at": str(m.get("finished_at") or ""),
            "config": row_config(m, path),
        })
    runs, skipped = resolve(pd.DataFrame(rows), skipped)
    return runs, skipped, unfinished


def _unfinished_names(paths: list[Path]) -> dict[str, int]:
    """Row name -> how many unfinished run folders name it (their config.yaml, written when a run starts)."""
    counts: dict[str, int] = {}
    for path in paths:
        try:
            name = (yaml.safe_load((path / "config.yaml").read_text()) or {}).get("name")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if name:
            counts[str(name)] = counts.get(str(name), 0) + 1
    return counts


def _param(config: dict, row: str) -> float | None:
    value = config.get(f"trick2012.{row}.{TUNED[row]}") if row in TUNED else None
    return None if value is None else float(value)


# ----------------------------------------------------------------------------- the search


def grid() -> list[tuple[str, str, float]]:
    """(row file, trick, value) of every point cc_ablations_tune's sweep lists (its row files)."""
    experiment = yaml.safe_load((CONF / "experiment" / f"{TUNE}.yaml").read_text())
    points = []
    for option in str(experiment["hydra"]["sweeper"]["params"][f"+row/{TUNE}"]).split(","):
        row = yaml.safe_load((CONF / "row" / TUNE / f"{option.strip()}.yaml").read_text())
        trick = row["name"]
        points.append((option.strip(), trick, float(row["trick2012"][trick][TUNED[trick]])))
    return points


def picks(runs: pd.DataFrame) -> dict[str, tuple[float, float, bool]]:
    """trick -> (picked value, its holdout error, at an edge of the grid) from the search's finished runs:
    the lowest holdout error (mean over seeds where a point has several); ties go to the smaller value."""
    out = {}
    values = {t: sorted({v for _, tr, v in grid() if tr == t}) for t in TUNED}
    for trick in TUNED:
        mine = runs[runs["name"] == trick] if len(runs) else runs
        if not len(mine):
            continue
        by = mine.assign(value=[_param(c, trick) for c in mine["config"]]).groupby("value")["holdout_error"].mean()
        by = by.dropna()
        if by.empty:
            continue
        best = min(by.index, key=lambda v: (by[v], v))
        out[trick] = (float(best), float(by[best]), best in (values[trick][0], values[trick][-1]))
    return out


def write_tune(sweep: Path, stem: Path) -> list[Path]:
    runs, skipped, unfinished = read_runs(sweep)
    chosen = picks(runs)
    rows, csv = [], []
    for option, trick, value in grid():
        at = pd.Series([_param(c, trick) == value for c in runs["config"]], index=runs.index, dtype=bool) if len(runs) else None
        here = runs[(runs["name"] == trick) & at] if len(runs) else runs
        errors = list(here["holdout_error"]) if len(here) else []
        diverged = [s for s in skipped if s.diverged and s.name == trick and s.config and _param(s.config, trick) == value]
        picked = chosen.get(trick, (None,))[0] == value
        state = ("diverged" if diverged else "owed: not finished (running, interrupted or not started)")
        cell = fmt(sum(errors) / len(errors)) if errors else state
        rows.append([f"`{trick}`", TUNED[trick], f"{value:g}", ", ".join(str(s) for s in here["seed"]) if len(here) else "—",
                     f"{int(here['n_train'].iloc[0]):,} / {int(here['n_holdout'].iloc[0]):,}" if len(here) else "—",
                     cell, fmt(float(here["wall_time_s"].mean()) / 60, 1) if len(here) else "—",
                     "; ".join(sorted(set(here["hardware"]))) if len(here) else "—", "**picked**" if picked else ""])
        csv.append({"trick": trick, "parameter": TUNED[trick], "value": value, "row_file": option,
                    "seeds": len(errors), "holdout_error": sum(errors) / len(errors) if errors else None,
                    "diverged": bool(diverged), "picked": picked})
    tested = int(runs["n_test"].sum()) if len(runs) else 0
    lines = []
    for trick, param in TUNED.items():
        points = [c for c in csv if c["trick"] == trick]
        done = sum(1 for c in points if c["seeds"] or c["diverged"])
        if trick in chosen:
            value, error, edge = chosen[trick]
            lines.append(f"- `{trick}`: **{param} = {value:g}** (holdout error {error:.2f}%)"
                         + (f", provisional: {done} of {len(points)} points finished" if done < len(points) else "")
                         + (": at an edge of the grid, so the search does not bracket it (extend the grid)" if edge else "")
                         + f"; set `trick2012.{trick}.{param}: {value:g}` in `conf/alexnet2012/row/{TABLE}/{trick}.yaml`.\n")
        else:
            lines.append(f"- `{trick}`: no finished point yet: no pick.\n")
    md = "".join([
        f"# `{TUNE}`: the values no source fixes for two `{TABLE}` rows, chosen on a validation split\n\n",
        f"Generated by `repro report` from the records under `{sweep}`. Each point trains layers-18pct on the "
        f"`{TABLE}` schedule with one seed, on the training images less a stratified held-out split "
        "(`data.val_size`, drawn with its own `data.val_seed`); the error that chooses is that split's "
        "(`holdout`, centre view). The 10,000 test images are never evaluated (`data.evaluate_test=false`"
        + (f"; **{tested:,} test-image evaluations found in these records: they are not used**" if tested else "")
        + "). Values are multiples of the layers' own rates (epsW 1e-3 for every layer of this net). AdamW's "
        "decoupled weight decay is the layers' `wc` (cuda-convnet's), from the source, so not searched; "
        "one-cycle's start and end rates and warm-up are the trick's.\n\n",
        "**Picks** (the lowest holdout error; ties to the smaller value):\n\n", *lines, "\n",
        table(["trick", "parameter", "value", "seeds", "train / held-out images", "holdout error %",
               "wall time (min)", "hardware", ""], rows),
        "".join(f"\nNot counted: {s.path.name}: {s.reason}\n" for s in skipped if not s.diverged),
    ])
    write_text_atomic(stem.with_suffix(".md"), md)
    write_text_atomic(stem.with_suffix(".csv"), pd.DataFrame(csv).to_csv(index=False, lineterminator="\n"))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]


# ----------------------------------------------------------------------------- the ablation table


def sweep_rows() -> list[str]:
    """The rows conf/alexnet2012/experiment/cc_ablations.yaml's sweep lists, in its order."""
    experiment = yaml.safe_load((CONF / "experiment" / f"{TABLE}.yaml").read_text())
    return [r.strip() for r in str(experiment["hydra"]["sweeper"]["params"][f"+row/{TABLE}"]).split(",")]


def _se(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def _summary(runs: pd.DataFrame, order: list[str], labels: dict[str, str]) -> list[dict]:
    base = runs[runs["row"] == labels.get("baseline", "")] if len(runs) else runs
    base_errors = list(base["test_error"]) if len(base) else []
    out = []
    for label in order:
        mine = runs[runs["row"] == label]
        errors = list(mine["test_error"])
        mean = sum(errors) / len(errors)
        sd = math.sqrt(sum((e - mean) ** 2 for e in errors) / (len(errors) - 1)) if len(errors) > 1 else None
        diff = se = None
        if base_errors and label != labels.get("baseline"):
            diff = mean - sum(base_errors) / len(base_errors)
            se_row, se_base = _se(errors), _se(base_errors)
            se = math.hypot(se_row, se_base) if se_row is not None and se_base is not None else None
        ten = [e for e in mine["test_error_10_views"] if not math.isnan(e)]
        out.append({"row": label, "name": mine["name"].iloc[0], "seeds": sorted(int(s) for s in mine["seed"]),
                    "errors": errors, "mean": mean, "sd": sd, "diff": diff, "se": se,
                    "ten_views": sum(ten) / len(ten) if ten else None,
                    "base_sd": (math.sqrt(sum((e - sum(base_errors) / len(base_errors)) ** 2 for e in base_errors)
                                          / (len(base_errors) - 1)) if len(base_errors) > 1 else None),
                    "wall_min": float(mine["wall_time_s"].mean()) / 60, "hardware": "; ".join(sorted(set(mine["hardware"]))),
                    "passes": "/".join(str(p) for p in sorted(set(mine["passes"]))), "tricks": mine["tricks"].iloc[0],
                    "config": mine["config"].iloc[0]})
    return out


def _delta(s: dict) -> str:
    if s["diff"] is None:
        return "reference" if s["name"] == "baseline" else "—"
    text = f"{s['diff']:+.2f}"
    if s["se"]:
        return text + f" ({s['diff'] / s['se']:+.1f} SE)"
    return text + " (1 seed: no SE)"


def _status(s: dict | None, name: str, running: int) -> str:
    if name in SPEED_ROWS:
        if s is None:
            return "speed row, owed to a GPU; its CPU agreement check not run yet"
        agree = (s["base_sd"] is not None and s["diff"] is not None and abs(s["diff"]) <= 2 * s["base_sd"])
        check = ("agrees with baseline (within 2 baseline sd)" if agree else
                 "check: differs from baseline by more than 2 baseline sd" if s["base_sd"] is not None and s["diff"] is not None
                 else "agreement not judged yet (baseline needs 2 seeds)")
        return f"speed row, owed to a GPU (wall times there); CPU seed {', '.join(map(str, s['seeds']))}: {check}"
    missing = [seed for seed in SEEDS if s is None or seed not in s["seeds"]]
    if not missing:
        return "done"
    why = f"{running} run(s) started, not finished (running or interrupted)" if running else "not run yet"
    return f"owed: seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} ({why})"


def _tuned_note(s: dict | None, name: str, chosen: dict) -> str:
    if name not in TUNED:
        return ""
    param = TUNED[name]
    ran = _param(s["config"], name) if s is not None else None
    if name not in chosen:
        return (f"{param} chosen by `experiment={TUNE}` (no finished search records: "
                + (f"ran with {ran:g}, not yet chosen on validation)" if ran is not None else "not chosen yet)"))
    value = chosen[name][0]
    if ran is None:
        return f"{param} = {value:g} picked on validation ({TUNE}.md)"
    same = math.isclose(ran, value)
    return (f"{param} = {ran:g}, as picked on validation ({TUNE}.md)" if same else
            f"ran with {param} = {ran:g}, but the search picked {value:g} ({TUNE}.md): rerun this row")


def write_ablations(sweep: Path, stem: Path) -> list[Path]:
    runs, skipped, unfinished = read_runs(sweep)
    listed = sweep_rows()  # every row the experiment's sweep lists, run or not
    names = sorted(set(runs["name"])) if len(runs) else []
    ordered_names = row_order(TABLE, names)
    order = [label for n in ordered_names
             for label in sorted(set(runs.loc[runs["name"] == n, "row"]))] if len(runs) else []
    labels = {}
    for label in order:  # a name's label, when one config has it (the baseline's reference)
        labels.setdefault(runs.loc[runs["row"] == label, "name"].iloc[0], label)
    summary = {s["row"]: s for s in _summary(runs, order, labels)} if len(runs) else {}
    shown_keys = _varying(summary)
    tune_dir = sweep.parent / TUNE
    chosen = picks(read_runs(tune_dir)[0]) if tune_dir.is_dir() else {}
    running = _unfinished_names(unfinished)
    body, csv = [], []
    for name in listed + [n for n in ordered_names if n not in listed]:
        mine = [summary[label] for label in order if summary[label]["name"] == name] or [None]
        for s in mine:
            claim = ALEXNET_2012_CLAIMS.get(name)
            keys = shown_keys.get(name, [])
            settings = " ".join(f"{k}={s['config'].get(k, '—')}" for k in keys) if s else ""
            errors = ("; ".join(fmt(e) for e in s["errors"]) if s else "—")
            cell = (f"{s['mean']:.2f}" + (f" ± {s['sd']:.2f}" if s["sd"] is not None else "") if s else "—")
            note = _tuned_note(s, name, chosen)
            body.append([f"`{name}`" + (f" {settings}" if settings else ""), row_description(TABLE, name),
                         ", ".join(map(str, s["seeds"])) if s else "—", cell, errors,
                         fmt(s["ten_views"]) if s else "—", _delta(s) if s else "—",
                         fmt(s["wall_min"], 1) if s else "—", s["hardware"] if s else "—",
                         _status(s, name, running.get(name, 0)) + (f"; {note}" if note else ""),
                         _claim_cell(claim)])
            csv.append({"row": name, "settings": settings, "seeds": len(s["seeds"]) if s else 0,
                        "test_error_mean": s["mean"] if s else None, "test_error_sd": s["sd"] if s else None,
                        "test_error_10_views": s["ten_views"] if s else None,
                        "diff_to_baseline": s["diff"] if s else None,
                        "diff_in_se": (s["diff"] / s["se"]) if s and s["se"] else None,
                        "wall_time_min": s["wall_min"] if s else None, "hardware": s["hardware"] if s else "",
                        "passes": s["passes"] if s else "", "status": _status(s, name, running.get(name, 0)),
                        "kind": "speed" if name in SPEED_ROWS else "accuracy",
                        "paper_claim": claim["claim"] if claim else ""})
    figures = _figures(runs, order, stem)
    md = "".join([
        f"# `{TABLE}`: layers-18pct with each 2012 choice taken out and each modern change put in\n\n",
        f"Generated by `repro report` from the records under `{sweep}`. Test error in % on the 10,000 CIFAR-10 "
        "test images, centre view (the whole image; the centre patch for the cropped rows, whose ten-view error "
        "is a column of its own), mean ± sample sd over seeds. *Δ vs baseline*: the row's mean minus "
        "`baseline`'s, in percentage points, and in standard errors of that difference "
        "(√(SE_row² + SE_baseline²), SE = sd/√seeds). Every row runs cuda-convnet's layers-18pct on a shortened "
        "schedule (30 passes, rates /10 after 20 and 25; the recipe's own is 140), seeds 0 and 1. Runs are "
        "grouped by config as `repro/report/rows.py` groups them; a row missing seeds is *owed*, with the reason.\n\n",
        table(["row", "what it is", "seeds", "test error %", "per seed", "10 views", "Δ vs baseline (pp)",
               "wall time (min)", "hardware", "status", "the paper's claim (its setting, not ours)"], body),
        "\n## Notes\n\n", _notes(chosen),
        "".join(f"\n**{caption}**\n\n![{caption}]({path.name})\n" for caption, path in figures),
        "".join(f"\nNot counted: {s.path.name}: {s.reason}\n" for s in skipped),
    ])
    write_text_atomic(stem.with_suffix(".md"), md)
    write_text_atomic(stem.with_suffix(".csv"), pd.DataFrame(csv).to_csv(index=False, lineterminator="\n"))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), *(p for _, p in figures)]


def _varying(summary: dict) -> dict[str, list[str]]:
    """Row name -> the config keys that differ between its rows (a name with one config: none)."""
    by_name: dict[str, list[dict]] = {}
    for s in summary.values():
        by_name.setdefault(s["name"], []).append(s["config"])
    out = {}
    for name, configs in by_name.items():
        every = set().union(*configs)
        out[name] = sorted(k for k in every if len({c.get(k) for c in configs}) > 1 and not k.startswith("recipe."))
    return out


def _claim_cell(claim: dict | None) -> str:
    if not claim:
        return "—"
    quote = f" “{claim['quote']}”" if claim.get("quote") else " (text not reached: see the notes)"
    return f"{claim['claim']} ({claim['source']}; {claim['setting']}).{quote}"


def _notes(chosen: dict) -> str:
    unreached = sorted({c["source"] for c in ALEXNET_2012_CLAIMS.values() if not c.get("quote")})
    tuned = ", ".join(f"`{t}` {TUNED[t]} = {v:g}" for t, (v, _, _) in chosen.items()) or "none finished yet"
    return "".join([
        "- Values from their sources: dropout p = 0.5 (AlexNet, section 4.2); label smoothing 0.1 (Szegedy et al. "
        "2016); PCA lighting α ~ N(0, 0.1) (AlexNet, section 4.1); pad 4 (He et al. 2016, section 4.2); 24x24 "
        "patches (cuda-convnet's cropped CIFAR provider). AdamW's decoupled weight decay: the layers' `wc`.\n",
        f"- Chosen on validation (`experiment={TUNE}`, {TUNE}.md; 5,000 held-out training images, one seed per "
        f"point, never the test images): {tuned}.\n",
        "- The paper's claims are about its own setting (ILSVRC-2010/2012 for sections 3.3 and 3.4, the 1.2 "
        "million-image ImageNet; CIFAR-10 with its four-layer net for the 13% / 11%); ours is layers-18pct on "
        "CIFAR-10 for 30 passes. Quotes are as reached through the project's reference search; "
        + (f"the text of {', '.join(unreached)} was not reached, so those claims are stated as the paper's numbers "
           "without a quotation (not quoted from memory).\n" if unreached else "every quoted claim was reached.\n"),
        f"- `{'`, `'.join(SPEED_ROWS)}`: the same arithmetic up to rounding; their point is GPU speed, owed to a GPU. "
        "On the CPU one seed only checks that they agree with `baseline`.\n",
    ])


def _figures(runs: pd.DataFrame, order: list[str], stem: Path) -> list[tuple[str, Path]]:
    if len(order) < 2:
        return []
    named = runs.assign(name=runs["row"])
    path = plots.error_by_row(order, named, {}, f"{TABLE}: test error per row", stem.with_name(f"{stem.name}_error.png"))
    figures = [("Test error per row (dots: seeds; bars: mean ± sd)", path)]
    curves = {row: pd.concat([read_history(r) for r in runs.loc[runs["row"] == row, "run"]], ignore_index=True)
              for row in order}
    if any("val_error" in c for c in curves.values()):
        path = plots.learning_curves(curves, f"{TABLE}: learning curves", stem.with_name(f"{stem.name}_curves.png"),
                                     splits=("val",))
        figures.append(("Learning curves: test error after each pass, centre view (mean over seeds)", path))
    return figures
