"""Issue 21's greedy search (lecun1989/budget_search.py), its runs replaced by made-up errors.

The runs themselves are ordinary fused runs (tested elsewhere); here: the recipes are
canonical, each stage picks the lowest mean validation error (a tie keeps the incumbent),
no recipe is run twice, and every candidate composes to a valid run of the validation
protocol within the 1989 budget.
"""

import re

import pytest

import lecun1989.fused.many as many
from lecun1989 import budget_search as bs
from lecun1989.budget_search import KARPATHY_SIX, STAGES, Recipe

START = Recipe(tuple(sorted(KARPATHY_SIX)))


def test_overrides_are_canonical():
    r = Recipe(("relu", "adamw"), (("adamw.lr", "0.001"),))
    assert r.overrides() == ["trick=[adamw,relu]", "trick.adamw.lr=0.001"]
    assert Recipe(("adamw", "relu"), r.params).overrides() == r.overrides()
    assert START.overrides() == ["trick=[adamw,augment_shift,dropout,more_passes,relu,softmax_ce]"]


def test_parameters_of_an_unselected_trick_are_refused():
    with pytest.raises(ValueError, match=r"parameters for unselected tricks \['swa'\]"):
        Recipe(("adamw",), (("swa.start", "0.5"),)).overrides()


def test_with_tricks_sorts_and_drops_the_removed_tricks_parameters():
    r = START.setting(augment_shift__shift=2, dropout__p=0.1)
    swapped = r.with_tricks(add=["augment_distort"], drop=["augment_shift"])
    assert swapped.tricks == ("adamw", "augment_distort", "dropout", "more_passes", "relu", "softmax_ce")
    assert swapped.params == (("dropout.p", "0.1"),)
    assert r.with_tricks(add=["augment_distort"]).params == r.params  # nothing dropped: kept
    assert Recipe(("b", "a")).with_tricks() == Recipe(("a", "b"))  # the same recipe whatever the listing order


def test_setting_merges_and_sorts():
    r = START.setting(more_passes__epochs=160).setting(adamw__lr=0.001, more_passes__epochs=240)
    assert r.params == (("adamw.lr", "0.001"), ("more_passes.epochs", "240"))
    assert r.tricks == START.tricks
    assert r.label() == "adamw+augment_shift+dropout+more_passes+relu+softmax_ce [adamw.lr=0.001 more_passes.epochs=240]"
    assert START.setting(dropout__p=0.1) == START.setting(dropout__p=0.1)  # hashable and equal: one run


# Made-up validation errors: distortion instead of shifts, 160 passes with a cosine schedule,
# the default rebalance, an affine-only distortion and dropout 0.1 each help; nothing else matters (ties).
def score(tricks, get) -> float:
    s = 5.0
    if "augment_distort" in tricks and "augment_shift" not in tricks:
        s -= 1.0
    if "augment_distort" in tricks and float(get("augment_distort", "elastic_alpha", 8.0)) == 0.0:
        s -= 0.0625
    if "cosine_lr" in tricks and int(get("more_passes", "epochs", 80)) == 160:
        s -= 0.5
    if "rebalance" in tricks and int(get("rebalance", "h3_units", 24)) == 24:
        s -= 0.25
    if "dropout" in tricks and float(get("dropout", "p", 0.25)) == 0.1:
        s -= 0.125
    return s


def recipe_score(recipe: Recipe) -> float:
    params = dict(recipe.params)
    return score(recipe.tricks, lambda t, p, default: params.get(f"{t}.{p}", default))


def fake_metrics(error, seeds, params=9760, passes=80):
    # Seed s is off by (s - mean seed) / 10: the mean is the error, the sd is not 0.
    mid = sum(seeds) / len(seeds)
    return [{"final": {"train": {"error": 0.0}, "holdout": {"error": error + (s - mid) / 10}},
             "counts": {"free_parameters": params}, "passes": passes, "train_time_s": 10.0 + s} for s in seeds]


# Three small stages of the same kinds as budget_search.STAGES (which is tuned as the search goes):
# swaps, a setting that applies only with a trick selected, duplicates, and a way back to the start.
STAGES_T = (
    ("one", (bs.KEEP,
             bs._c("distort instead of shift", lambda r: r.with_tricks(add=["augment_distort"], drop=["augment_shift"])),
             bs._c("+ distort", lambda r: r.with_tricks(add=["augment_distort"])),
             bs._c("shift 2", lambda r: r.setting(augment_shift__shift=2)))),
    ("two", (bs.KEEP,
             bs._c("affine only", lambda r: r.setting(augment_distort__elastic_alpha=0.0)
                   if "augment_distort" in r.tricks else r),
             bs._c("dropout 0.1", lambda r: r.setting(dropout__p=0.1)),
             bs._c("dropout 0.1, again", lambda r: r.setting(dropout__p="0.1")))),
    ("three", (bs.KEEP,
               bs._c("+ swa", lambda r: r.with_tricks(add=["swa"])),
               bs._c("back to the start", lambda r: START))),
)


@pytest.fixture
def stages(monkeypatch):
    monkeypatch.setattr(bs, "STAGES", STAGES_T)


def fake_runs(monkeypatch, error=recipe_score):
    calls = []

    def run(recipe, seeds, sweep_dir, threads, extra=()):
        calls.append(recipe)
        return fake_metrics(error(recipe), seeds)

    monkeypatch.setattr(bs, "_run", run)
    return calls


def test_each_stage_keeps_the_lowest_mean_and_a_tie_keeps_the_incumbent(stages, monkeypatch, tmp_path):
    calls = fake_runs(monkeypatch)
    results = bs.search(tmp_path, [0, 1, 2], threads=1, log=lambda *_: None)
    assert [(r.stage, r.candidate, r.mean, r.chosen) for r in results] == [
        ("one", "incumbent", pytest.approx(5.0), False),
        ("one", "distort instead of shift", pytest.approx(4.0), True),
        ("one", "+ distort", pytest.approx(5.0), False),
        ("one", "shift 2", pytest.approx(5.0), False),
        ("two", "incumbent", pytest.approx(4.0), False),
        ("two", "affine only", pytest.approx(3.9375), False),
        ("two", "dropout 0.1", pytest.approx(3.875), True),  # "dropout 0.1, again" is the same recipe: skipped
        ("three", "incumbent", pytest.approx(3.875), True),  # a tie with swa keeps the incumbent
        ("three", "+ swa", pytest.approx(3.875), False),
        ("three", "back to the start", pytest.approx(5.0), False),
    ]
    best = results[7]
    assert best.recipe == Recipe(("adamw", "augment_distort", "dropout", "more_passes", "relu", "softmax_ce"),
                                 (("dropout.p", "0.1"),))
    assert best.errors == pytest.approx([3.775, 3.875, 3.975]) and best.sd == pytest.approx(0.1)
    # No recipe is run twice: each stage's incumbent, and the start met again in stage three, reuse their runs.
    assert len(calls) == len(set(calls)) == 4 + 2 + 1
    assert calls[0] == START


def test_a_candidate_equal_to_another_is_skipped(stages, monkeypatch, tmp_path):
    calls = fake_runs(monkeypatch, error=lambda r: 5.0)  # all tie: the start stays the incumbent throughout
    results = bs.search(tmp_path, [0, 1], threads=1, log=lambda *_: None)
    # Without augment_distort "affine only" returns the incumbent, and "back to the start" is the incumbent.
    assert [(r.stage, r.candidate, r.chosen) for r in results] == [
        ("one", "incumbent", True), ("one", "distort instead of shift", False), ("one", "+ distort", False),
        ("one", "shift 2", False), ("two", "incumbent", True), ("two", "dropout 0.1", False),
        ("three", "incumbent", True), ("three", "+ swa", False)]
    assert all(r.recipe == START for r in results if r.chosen)
    assert len(calls) == len(set(calls)) == 4 + 1 + 1


def test_the_table_has_a_row_per_candidate_tried(stages, monkeypatch, tmp_path):
    fake_runs(monkeypatch)
    seeds = [0, 1, 2]
    results = bs.search(tmp_path, seeds, threads=1, log=lambda *_: None)
    df = bs.frame(results, seeds)
    assert len(df) == len(results) == 10
    assert df["chosen"].tolist() == [False, True, False, False, False, False, True, True, False, False]
    first = df.iloc[0]
    assert (first["candidate"], first["validation_error_mean"], first["seeds"], first["errors"]) == (
        "incumbent", pytest.approx(5.0), 3, "4.90 5.00 5.10")
    assert (first["free_parameters"], first["passes"], first["train_time_s"]) == (9760, 80, pytest.approx(11.0))
    assert df.iloc[6]["parameters"] == "trick.dropout.p=0.1"
    md = bs.markdown(df, seeds, "python -m lecun1989.budget_search --seeds 0,1,2")
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| stage")]
    assert len(rows) == 10 and [i for i, ln in enumerate(rows) if "**(chosen)**" in ln] == [1, 6, 7]
    assert rows[0] == ("| one | incumbent | 5.00 ± 0.10 | 4.90 5.00 5.10 | 9,760 | 80 | 11 | "
                       "`adamw,augment_shift,dropout,more_passes,relu,softmax_ce` |")
    assert rows[6].endswith("| `adamw,augment_distort,dropout,more_passes,relu,softmax_ce` trick.dropout.p=0.1 |")
    assert "Command: `python -m lecun1989.budget_search --seeds 0,1,2`" in md


def test_every_candidate_composes_to_a_validation_run_within_the_budget(monkeypatch, tmp_path):
    """The real STAGES and the real `_run` (its Hydra overrides), with only the training replaced:
    each job's config is the recipe under `+protocol=validation`, and the tricks compose (the
    budget check included) to what the recipe says."""
    from lecun1989.model import build_model
    from lecun1989.recipe import recipe_from_config

    seen = []

    def run_many(jobs, threads):
        out = []
        for config, run_dir in jobs:
            recipe, _ = recipe_from_config(config)  # refuses a recipe over the budget
            assert (config["data"]["val_size"], config["data"]["evaluate_test"]) == (2000, False)
            assert config["trainer"]["progress"] is False and recipe.trainer.max_epochs == 1  # the extra override
            trick = config["trick"]
            error = score(set(trick), lambda t, p, default: trick[t].get(p, default))
            n = build_model(recipe.model, 0).counts()["free_parameters"]
            seen.append((config["seed"], n, run_dir.parent.relative_to(tmp_path)))
            out += fake_metrics(error, [config["seed"]], params=n, passes=recipe.trainer.epochs)
        return out

    monkeypatch.setattr(many, "run_many", run_many)
    results = bs.search(tmp_path, [0, 1], threads=1, extra=["trainer.max_epochs=1"], log=lambda *_: None)
    recipes = {r.recipe for r in results}
    assert len(seen) == 2 * len(recipes) and [s for s, _, _ in seen[:2]] == [0, 1]
    assert str(seen[0][2]) == "0_augmentation/0"
    assert max(n for _, n, _ in seen) <= 9760
    # The composed run's error is the recipe's: its overrides mean what the recipe says.
    for r in results:
        assert r.errors == [recipe_score(r.recipe)] * 2, r.candidate
    assert [r.stage for r in results if r.chosen] == [s for s, _ in bs.STAGES]
    # A candidate that states its parameter count, "(9,742)", states the model's.
    stated = [(r.candidate, r.params) for r in results if re.search(r"\(\d,\d{3}\)$", r.candidate)]
    assert len(stated) >= 3
    for name, n in stated:
        assert name.endswith(f"({n:,})"), (name, n)
