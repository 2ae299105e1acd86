"""The 2012 era's rows of results/REPORT.md's headline (repro/report/headline.py applies the status rule).

cuda-convnet's CIFAR-10 errors (26%, 18%, 11%: its layer files' first lines) beside our runs of
each recipe; the AlexNet paper's Figure 1 (the tanh net needs about six times the ReLU net's
epochs to reach 25% training error) from whatever finished figure1 records exist; its ILSVRC-2012
top-1 / top-5 errors, which need a data set this machine does not have. Records are read from the
era's run-table sweep folders, as its tables read them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from repro.report.collect import find_run_dirs
from repro.report.headline import (NO_DATA, NOT_YET, OWED_TO_GPU, EraHeadline, HeadlineInput, HeadlineRow, Story,
                                   cause_text)
from repro.report.rows import group_records
from repro.train.record import DivergedRun, RecordError, read_metrics

from .cudaconvnet import TABLE as CUDACONVNET, _published
from .fig1_runs import read_fig1_runs
from .figure1 import TABLE as FIGURE1, headline_pair, pairs, summary
from .figure1_rates import chosen_rates
from .published import ALEXNET_2012, CUDACONVNET_CIFAR10

CIFAR10 = "CIFAR-10 (50,000 train / 10,000 test images)"
# The causes of gaps on record, what was measured against them and what remains: a data file, not strings here.
GAPS_FILE = Path(__file__).resolve().parents[1] / "gaps.yaml"


def gap_record() -> dict:
    return yaml.safe_load(GAPS_FILE.read_text(encoding="utf-8")) or {}

GPU_SCRIPT = "bench/gpu_session.sh"
# The recipes whose full schedule is meant for a GPU, and the command that owes it: 18pct is a step of
# gpu_session.sh's cifar10 part (bench/gpu_parts.py); 11pct's 520 epochs are in no part yet.
OWED = {"layers-18pct": f"bash {GPU_SCRIPT} cifar10",
        "layers-conv-local-11pct": "alexnet2012 experiment=cc_conv_local_11pct trainer.device=cuda"}


def _records(sweeps: list[Path]) -> list[tuple[Path, Path, dict]]:
    """(sweep, run folder, metrics) of every finished, non-diverged record under ``sweeps``."""
    found = []
    for sweep in sweeps:
        for path in find_run_dirs([sweep]):
            try:
                found.append((sweep, path, read_metrics(path)))
            except (DivergedRun, RecordError):
                continue
    return found


def _hardware(records) -> str:
    return "; ".join(sorted({str((m.get("environment") or {}).get("hardware", "unknown")) for _, _, m in records}))


def cudaconvnet_rows(records) -> list[HeadlineRow]:
    """Each recipe's stated error beside one row of ours, the runs grouped into rows as every table groups
    them (repro.report.rows.group_records: one configuration per row, a duplicate of a configuration and
    seed never a second seed). Of the rows of a recipe: its full schedule's (named as the recipe) before a
    shortened one's (`<recipe>-shortened`); of several configurations under that name, the one with the
    most seeds, then the most passes. The others are named in the row's note, never mixed in."""
    mine = [r for r in records if r[2].get("table") == CUDACONVNET]
    sweep_of = {path: sweep for sweep, path, _ in mine}
    record_of = {path: m for _, path, m in mine}
    grouped, _ = group_records((path, m) for _, path, m in mine)
    gaps = gap_record()
    rows = []
    for recipe, pub in CUDACONVNET_CIFAR10.items():
        full = [g for g in grouped if g.name == recipe]
        shortened = [g for g in grouped if g.name != recipe and _published(g.name)[0] == recipe]
        candidates = full or shortened
        # The recipe's stated error is for its own test: 10 views for the one that tests so (11pct).
        split = "val10" if recipe.endswith("11pct") else "val"

        def passes(g) -> int:
            return max(int(record_of[p]["passes"]) for p in g.runs)

        row = max(candidates, key=lambda g: (len(g.seeds), passes(g), g.label), default=None)
        used = [(sweep_of[p], p, record_of[p]) for p in row.runs] if row else []
        values = tuple(float(m["final"][split]["error"]) for _, _, m in used if split in m["final"])
        passes_run = sorted({int(m["passes"]) for _, _, m in used})
        shortened_text = "" if full or not used else f"{'/'.join(map(str, passes_run))} passes, run `{row.name}`"
        missing = OWED_TO_GPU if recipe in OWED else NOT_YET
        others = [g.label for g in candidates if g is not row]
        note = "" if values else (f"`{OWED[recipe]}`" if recipe in OWED else "")
        if others:  # another configuration under the recipe's name: said, not averaged in
            note = "; ".join(x for x in (note, f"row `{row.label}`; not counted: "
                                         + ", ".join(f"`{o}`" for o in others)) if x)
        rows.append(HeadlineRow(
            f"cuda-convnet `{recipe}`: test error %", f"cuda-convnet {recipe}.cfg, first line",
            f"{pub['test_error']:.0f}",
            values, data=CIFAR10, hardware=_hardware(used), link=f"alexnet2012/{used[0][0].name}.md" if used else "",
            missing=missing, shortened=shortened_text, note=note, cause=cause_text(gaps.get(recipe))))
    return rows


def figure1_row(records, sweeps: list[Path]) -> HeadlineRow:
    """tanh / ReLU epochs to 25% training error, one ratio per seed, from the pair of rows the Figure 1 page
    puts first (figure1.pairs): the rates the search chose per net once it has settled and both nets have a
    run there, else one common rate (said as not the caption's protocol: shortened). Where tanh never got
    there in some seed, the mean over seeds is a lower bound (figure1.summary)."""
    figure1 = [s for s in sweeps if s.name.startswith("figure1") and s.name != "figure1_rates"]
    search = [s for s in sweeps if s.name == "figure1_rates"]
    runs = [r for r in read_fig1_runs(figure1, FIGURE1, untabled=True).runs if not r.diverged] if figure1 else []
    chosen = chosen_rates(search) if search else {}
    pair = headline_pair(pairs(runs, chosen))
    ratios = pair.ratios if pair else []
    paths = {run.path for run in pair.runs} if pair else set()
    used = [r for r in records if r[1] in paths]
    link = f"alexnet2012/{figure1[0].name}.md" if figure1 else ""
    common = {"data": CIFAR10, "hardware": _hardware(used), "link": link if used else "", "digits": 1}
    number = "AlexNet 2012, Figure 1: tanh / ReLU epochs to 25% train error"
    source = "Krizhevsky et al. 2012, section 3.1, Figure 1"
    published = f"{ALEXNET_2012['figure1_ratio']:.0f}"
    # The caption chose each net's rate: a ratio at one common rate is not its experiment yet.
    protocol = "" if not pair or pair.chosen else "one rate for both nets, not chosen per net (figure1_rates.md)"
    if any(r.is_bound for r in ratios):
        return HeadlineRow(number, source, published, ours_text=summary(ratios),
                           bound=sum(r.value for r in ratios) / len(ratios),
                           shortened="; ".join(filter(None, ["tanh still above 25% at its cap", protocol])),
                           **common)
    started = any(find_run_dirs([s]) for s in figure1)
    note = "" if ratios else ("runs started, none finished yet: in progress or interrupted" if started else "")
    return HeadlineRow(number, source, published, tuple(r.value for r in ratios), note=note,
                       shortened=protocol if ratios else "", **common)


def ilsvrc_rows(records) -> list[HeadlineRow]:
    """The paper's one-CNN ILSVRC-2012 validation errors (ten views), beside any finished ImageNet run's."""
    imagenet = [r for r in records if r[2].get("data") == "imagenet" and "val10" in r[2]["final"]]
    common = {"data": "ILSVRC-2012 (not here: registration at image-net.org)" if not imagenet else "ILSVRC-2012",
              "hardware": _hardware(imagenet), "missing": NO_DATA, "digits": 1,
              "link": f"alexnet2012/{imagenet[0][0].name}.md" if imagenet else ""}
    source = "Krizhevsky et al. 2012, Table 2 (1 CNN, val)"
    return [
        HeadlineRow("AlexNet 2012: ILSVRC-2012 top-1 error %", source, f"{ALEXNET_2012['ilsvrc2012_top1']:.1f}",
                    tuple(float(m["final"]["val10"]["error"]) for _, _, m in imagenet), **common),
        HeadlineRow("AlexNet 2012: ILSVRC-2012 top-5 error %", source, f"{ALEXNET_2012['ilsvrc2012_top5']:.1f}",
                    tuple(float(m["final"]["val10"]["top5_error"]) for _, _, m in imagenet
                          if "top5_error" in m["final"]["val10"]), **common),
    ]


def stories(out: Path) -> list[Story]:
    """The ablations-at-a-glance line of the 2012 table, read from the cc_ablations.csv this report wrote."""
    try:
        frame = pd.read_csv(out / "alexnet2012" / "cc_ablations.csv")
    except (OSError, ValueError):
        return []
    done = frame[frame["test_error_mean"].notna()]
    base = done[done["row"] == "baseline"]
    owed = frame[frame["status"].astype(str).str.startswith("owed") | frame["test_error_mean"].isna()]
    tail = f"; {len(owed)} of {len(frame)} rows owed seeds" if len(owed) else ""
    if base.empty:
        return [Story("alexnet2012/cc_ablations.md", "cc_ablations",
                      f"layers-18pct with each 2012 choice out and each modern change in: baseline not finished yet{tail}")]
    b = base.iloc[0]
    others = done[(done["row"] != "baseline") & (done["kind"] == "accuracy") & done["diff_to_baseline"].notna()]
    text = f"layers-18pct (30 passes, CPU), `baseline` {b['test_error_mean']:.2f}% test error ({int(b['seeds'])} seeds)"
    if len(others):
        r = others.loc[others["diff_to_baseline"].abs().idxmax()]
        se = f", {r['diff_in_se']:+.1f} SE" if pd.notna(r["diff_in_se"]) else ""
        settings = f" {r['settings']}" if isinstance(r.get("settings"), str) and r["settings"] else ""
        text += (f"; the largest change is `{r['row']}`{settings}: {r['test_error_mean']:.2f}% "
                 f"({r['diff_to_baseline']:+.2f} pp{se})")
        norm = others[others["row"] == "no_response_norm"]
        if len(norm):
            n = norm.iloc[0]
            text += (f"; without response norm {n['diff_to_baseline']:+.2f} pp (the paper's four-layer CIFAR-10 net: "
                     "13% without, 11% with)")
    return [Story("alexnet2012/cc_ablations.md", "cc_ablations", text + tail)]


def headline(given: HeadlineInput) -> EraHeadline:
    sweeps = sorted(Path(s) for s in given.sweeps)
    records = _records(sweeps)
    rows = cudaconvnet_rows(records) + [figure1_row(records, sweeps)] + ilsvrc_rows(records)
    return EraHeadline(year=2012, rows=rows, stories=stories(Path(given.out)))

