"""Issue 21's search: how low does USPS test error go within the 1989 budget (9,760 free
parameters, the 7,291 USPS training digits)? A greedy search, one stage at a time, on the
validation split only (`+protocol=validation`: 2,000 training digits held out, the test
digits never evaluated).

    python -m lecun1989.budget_search --threads 2 --runs-dir multirun/lecun1989/budget_search

Start: Karpathy 2022's six tricks (his best row on 7,291 digits). Each stage tries a few
changes to the incumbent recipe (the incumbent itself is always a candidate), each on
`--seeds` seeds; the candidate with the lowest mean validation error becomes the
incumbent of the next stage (ties: the one listed first, the incumbent first of all).
Candidates already run (same tricks and settings) are not rerun, and a rerun of the
command skips every finished run (their records are kept), so an interrupted search
continues where it stopped. The table of every candidate goes to
results/lecun1989/search/budget_search.{md,csv}; the experiment `usps_budget` then retrains the
path it found on all 7,291 digits and reads the test set once per row.

Every run is a fused one (fused/many.py: several runs per process, one core each).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from repro.train.atomic import write_text_atomic

from .fused.many import reporting_stops

# Beside the era's tables, in search/: results/REPORT.md links it as a search, not as a table of runs.
RESULTS = Path(__file__).resolve().parents[1] / "results" / "lecun1989" / "search"
# Karpathy 2022's six tricks (conf/lecun1989/row/karpathy_table/dropout_relu.yaml): the start.
KARPATHY_SIX = ("softmax_ce", "adamw", "augment_shift", "dropout", "relu", "more_passes")


@dataclass(frozen=True)
class Recipe:
    """A point of the search: the tricks selected and their parameters (`trick.<name>.<param>`)."""

    tricks: tuple[str, ...]
    params: tuple[tuple[str, str], ...] = ()

    def overrides(self) -> list[str]:
        mine = {k.split(".")[0] for k, _ in self.params}
        missing = mine - set(self.tricks)
        if missing:  # a parameter of a trick that is not selected: a mistake in a stage below
            raise ValueError(f"parameters for unselected tricks {sorted(missing)}")
        return [f"trick=[{','.join(sorted(self.tricks))}]", *(f"trick.{k}={v}" for k, v in self.params)]

    def with_tricks(self, add: Sequence[str] = (), drop: Sequence[str] = ()) -> Recipe:
        tricks = tuple(sorted((set(self.tricks) - set(drop)) | set(add)))
        return Recipe(tricks, tuple((k, v) for k, v in self.params if k.split(".")[0] in tricks))

    def setting(self, **params: object) -> Recipe:
        """These parameters set (keys `<trick>.<param>`), the others kept."""
        merged = dict(self.params)
        merged.update({k.replace("__", "."): str(v) for k, v in params.items()})
        return Recipe(self.tricks, tuple(sorted(merged.items())))

    def label(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.params)
        return "+".join(sorted(self.tricks)) + (f" [{params}]" if params else "")


@dataclass(frozen=True)
class Candidate:
    name: str  # what it changes, for the table
    make: Callable[[Recipe], Recipe]


_c = Candidate  # short, for the STAGES table below


KEEP = _c("incumbent", lambda r: r)

# The stages, in order. Distortion first (the biggest lever on small digit sets: Simard et al. 2003),
# then its strength, the length and shape of training (augmented data supports more passes), weight
# averaging, the layers within the budget, and regularisation last (it interacts with all the rest).
STAGES: tuple[tuple[str, tuple[Candidate, ...]], ...] = (
    ("augmentation", (
        KEEP,
        _c("augment_distort instead of augment_shift", lambda r: r.with_tricks(add=["augment_distort"], drop=["augment_shift"])),
        _c("+ augment_distort (with the shifts)", lambda r: r.with_tricks(add=["augment_distort"])),
        _c("augment_shift 2 px", lambda r: r.setting(augment_shift__shift=2)),
    )),
    # Tried with the distortions added whether or not the first stage took them: a milder
    # distortion may help where the default strength did not.
    ("distortion strength", (
        KEEP,
        _c("+ affine distortion only (rotate 10, scale 0.1, shear 0.1; no elastic field)",
           lambda r: r.with_tricks(add=["augment_distort"]).setting(augment_distort__elastic_alpha=0.0)),
        _c("+ weaker distortion (rotate 5, scale 0.05, shear 0.05, alpha 4)", lambda r: r.with_tricks(
            add=["augment_distort"]).setting(augment_distort__rotate=5.0, augment_distort__scale=0.05,
                                             augment_distort__shear=0.05, augment_distort__elastic_alpha=4.0)),
        _c("+ weak affine only (rotate 5, scale 0.05, shear 0.05)", lambda r: r.with_tricks(
            add=["augment_distort"]).setting(augment_distort__rotate=5.0, augment_distort__scale=0.05,
                                             augment_distort__shear=0.05, augment_distort__elastic_alpha=0.0)),
    )),
    ("passes and schedule", (
        KEEP,
        _c("160 passes", lambda r: r.setting(more_passes__epochs=160)),
        _c("160 passes, cosine to 0", lambda r: r.with_tricks(add=["cosine_lr"]).setting(more_passes__epochs=160)),
        _c("240 passes, cosine to 0", lambda r: r.with_tricks(add=["cosine_lr"]).setting(more_passes__epochs=240)),
        _c("160 passes, one-cycle", lambda r: r.with_tricks(add=["one_cycle"]).setting(more_passes__epochs=160)),
        _c("80 passes, cosine to 0, AdamW lr 1e-3", lambda r: r.with_tricks(add=["cosine_lr"]).setting(adamw__lr=0.001)),
    )),
    ("weight averaging", (
        KEEP,
        _c("+ swa over the last 25%", lambda r: r.with_tricks(add=["swa"])),
        _c("+ swa over the last 50%", lambda r: r.with_tricks(add=["swa"]).setting(swa__start=0.5)),
    )),
    ("layers within 9,760 parameters", (
        KEEP,
        _c("rebalance: H2 full (12 of 12 maps), H3 24 (9,742)", lambda r: r.with_tricks(add=["rebalance"])),
        _c("rebalance: H2 15 maps (8 of 12 each), H3 21 (9,589)", lambda r: r.with_tricks(add=["rebalance"]).setting(
            rebalance__h2_maps=15, rebalance__h3_units=21, rebalance__h2_scheme="three_groups")),
        _c("rebalance: H1 15, H2 15 (10 of 15 each), H3 17 (9,602)", lambda r: r.with_tricks(add=["rebalance"]).setting(
            rebalance__h1_maps=15, rebalance__h2_maps=15, rebalance__h3_units=17, rebalance__h2_scheme="three_groups")),
    )),
    ("regularisation", (
        KEEP,
        _c("dropout 0.1", lambda r: r.setting(dropout__p=0.1)),
        _c("dropout 0.4", lambda r: r.setting(dropout__p=0.4)),
        _c("+ label smoothing 0.1", lambda r: r.with_tricks(add=["label_smoothing"])),
    )),
    # A second look at the augmentation, on the final incumbent: longer training and weight
    # averaging may change what it can absorb (greedy stages miss such interactions otherwise).
    ("augmentation, revisited", (
        KEEP,
        _c("+ augment_distort (defaults)", lambda r: r.with_tricks(add=["augment_distort"]).setting(
            augment_distort__rotate=10.0, augment_distort__scale=0.1, augment_distort__shear=0.1,
            augment_distort__elastic_alpha=8.0)),
        _c("+ weaker distortion (rotate 5, scale 0.05, shear 0.05, alpha 4)", lambda r: r.with_tricks(
            add=["augment_distort"]).setting(augment_distort__rotate=5.0, augment_distort__scale=0.05,
                                             augment_distort__shear=0.05, augment_distort__elastic_alpha=4.0)),
        _c("without augment_distort", lambda r: r.with_tricks(drop=["augment_distort"])),
    )),
    # The longest schedule won its stage by a clear margin; does the trend go on, and is the
    # rate or the decay that Karpathy chose (AdamW 3e-4, weight decay 0.01) still right at that length?
    ("rate and length, a second look", (
        KEEP,
        _c("480 passes", lambda r: r.setting(more_passes__epochs=480)),
        _c("AdamW lr 1e-3", lambda r: r.setting(adamw__lr=0.001)),
        _c("AdamW weight decay 0.05", lambda r: r.setting(adamw__weight_decay=0.05)),
    )),
)


@dataclass
class Result:
    stage: str
    candidate: str
    recipe: Recipe
    errors: list[float] = field(default_factory=list)
    params: int = 0
    passes: int = 0
    train_s: float = 0.0
    commits: tuple[str, ...] = ()  # the git commits and hardware the records name
    hardware: tuple[str, ...] = ()
    chosen: bool = False  # the stage's choice: the next stage's incumbent

    @property
    def mean(self) -> float:
        return sum(self.errors) / len(self.errors) if self.errors else math.nan

    @property
    def sd(self) -> float:
        n = len(self.errors)
        return math.sqrt(sum((e - self.mean) ** 2 for e in self.errors) / (n - 1)) if n > 1 else math.nan


def _commit(env: dict) -> str:
    """The record's commit, short, with "+changes" when the tree had uncommitted changes."""
    git = env.get("git") or {}
    return str(git.get("commit", "unknown"))[:10] + ("+changes" if git.get("dirty") else "")


def _run(recipe: Recipe, seeds: Sequence[int], sweep_dir: Path, threads: int, extra: Sequence[str] = ()) -> list[dict]:
    from .fused.many import run_many, sweep_jobs

    jobs = sweep_jobs([*recipe.overrides(), "+protocol=validation", "trainer.progress=false",
                       "resume=true", *extra,
                       f"seed={','.join(map(str, seeds))}"], sweep_dir)
    return run_many(jobs, threads)


def search(runs_dir: Path, seeds: Sequence[int], threads: int, extra: Sequence[str] = (), log=print) -> list[Result]:
    incumbent = Recipe(tuple(sorted(KARPATHY_SIX)))
    done: dict[Recipe, Result] = {}
    table: list[Result] = []
    for s, (stage, candidates) in enumerate(STAGES):
        tried: list[Result] = []
        for c, cand in enumerate(candidates):
            recipe = cand.make(incumbent)
            if any(t.recipe == recipe for t in tried):
                continue  # this stage's change does not apply to the incumbent (it equals another candidate)
            if recipe not in done:
                t0 = time.perf_counter()
                metrics = _run(recipe, seeds, runs_dir / f"{s}_{stage.replace(' ', '_')}" / f"{c}", threads, extra)
                envs = [m.get("environment") or {} for m in metrics]
                res = Result(stage, cand.name, recipe, [m["final"]["holdout"]["error"] for m in metrics],
                             metrics[0]["counts"]["free_parameters"], metrics[0]["passes"],
                             sum(m["train_time_s"] for m in metrics) / len(metrics),
                             tuple(sorted({_commit(e) for e in envs})),
                             tuple(sorted({str(e.get("hardware", "unknown")) for e in envs})))
                done[recipe] = res
                log(f"[{stage}] {cand.name}: validation error {res.mean:.2f} ± {res.sd:.2f}% "
                    f"({len(seeds)} seeds, {time.perf_counter() - t0:.0f} s)")
            tried.append(replace(done[recipe], stage=stage, candidate=cand.name))  # reused runs, this stage's name
        # Ties go to the candidate listed first: the incumbent (a change must lower the mean validation
        # error), else the stage's earlier candidate.
        best = min(tried, key=lambda r: r.mean)
        log(f"[{stage}] chosen: {best.candidate} ({best.recipe.label()})")
        incumbent = best.recipe
        table += [replace(r, chosen=r is best) for r in tried]
    return table


def frame(results: Sequence[Result], seeds: Sequence[int]) -> pd.DataFrame:
    return pd.DataFrame([{
        "stage": r.stage, "candidate": r.candidate, "chosen": r.chosen,
        "validation_error_mean": r.mean, "validation_error_sd": r.sd, "seeds": len(r.errors),
        "free_parameters": r.params, "passes": r.passes, "train_time_s": r.train_s,
        "tricks": ",".join(r.recipe.tricks), "parameters": " ".join(f"trick.{k}={v}" for k, v in r.recipe.params),
        "errors": " ".join(f"{e:.2f}" for e in r.errors),
        "commits": " ".join(r.commits), "hardware": "; ".join(r.hardware),
    } for r in results])


def markdown(df: pd.DataFrame, seeds: Sequence[int], command: str) -> str:
    from repro.report.markdown import mean_sd, table

    lines = [
        "# `budget_search`: the greedy search of issue 21, on validation only\n\n",
        "Generated by `python -m lecun1989.budget_search` (lecun1989/budget_search.py); do not edit by hand. "
        "Every number is the error on the **validation split** (`+protocol=validation`: 2,000 of the 7,291 USPS "
        "training digits held out, stratified, `data.val_seed=0`; trained on the other 5,291; the test digits "
        "are never evaluated in these runs). "
        f"Mean ± sample sd over seeds {', '.join(map(str, seeds))}. Each stage tries changes to the incumbent; the "
        "lowest mean becomes the next stage's incumbent (a tie goes to the candidate listed first: the incumbent, "
        "else the earlier change). A candidate that equals one "
        "already run reuses its runs.\n\n",
        f"Command: `{command}`\n\n",
        f"Records: commit(s) {', '.join(sorted(set(' '.join(df['commits']).split())))}; hardware: "
        f"{'; '.join(sorted(set(df['hardware'])))}. Train time is per run, on one core (several runs at once).\n\n",
    ]
    body = [[r["stage"], r["candidate"] + (" **(chosen)**" if r["chosen"] else ""),
             mean_sd(r["validation_error_mean"], r["validation_error_sd"]), r["errors"], f"{r['free_parameters']:,}",
             str(r["passes"]), f"{r['train_time_s']:.0f}", f"`{r['tricks']}` {r['parameters']}".strip()]
            for _, r in df.iterrows()]
    lines.append(table(["stage", "candidate", "validation error %", "per seed", "parameters", "passes",
                        "train s (one core)", "recipe"], body))
    return "".join(lines)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seeds as comma-separated integers, e.g. 0,1,2") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seeds must be distinct and >= 0")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecun1989.budget_search", description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("multirun/lecun1989/budget_search"),
                        help="where the run records go (reruns skip finished runs)")
    parser.add_argument("--seeds", default="0,1,2,3,4", type=_seeds, help="seeds per candidate (default 0,1,2,3,4)")
    parser.add_argument("--threads", type=int, default=2, help="runs at once, one core each")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="added to every run (a smoke test: trainer.max_epochs=1); repeatable")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where budget_search.{md,csv} go")
    args = parser.parse_args(argv)
    seeds = args.seeds
    results, stopped = reporting_stops(
        lambda: search(args.runs_dir, seeds, args.threads, args.override),
        "rerun the same command to continue (finished runs are read back, interrupted ones resume from their "
        "checkpoints)")
    if stopped is not None:
        return stopped
    df = frame(results, seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m lecun1989.budget_search " + " ".join(argv if argv is not None else sys.argv[1:])
    write_text_atomic(args.out / "budget_search.md", markdown(df, seeds, command.strip()))
    write_text_atomic(args.out / "budget_search.csv", df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    print(f"wrote {args.out / 'budget_search.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
