"""Named experiments: every row composes to the recipe it claims, and the sweep
runs in parallel without two runs ever sharing or overwriting a record."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.cli import CONF_DIR
from lecun1989.cli import run
from lecun1989.recipe import recipe_from_config
from repro.report.collect import collect
from repro.train.loop import ResumeError
from repro.train.record import RunDir
from repro.train.run import exclusive

KARPATHY = "softmax_ce", "adamw", "augment_shift", "dropout", "relu"
# row -> (tricks in the order applied, passes, data, train digits)
KARPATHY_ROWS = {
    "baseline": ((), 23, "usps", 7291),
    "softmax_ce": (("softmax_ce",), 23, "usps", 7291),
    "adamw": (("softmax_ce", "adamw", "more_passes"), 46, "usps", 7291),
    "augment": (("augment_shift", "softmax_ce", "adamw", "more_passes"), 60, "usps", 7291),
    "dropout_relu": (("augment_shift", "dropout", "relu", "softmax_ce", "adamw", "more_passes"), 80, "usps", 7291),
    "mnist_baseline": ((), 23, "mnist16", 7291),
    "more_data": (("more_data", "more_passes"), 100, "mnist16", 50000),
    "all_more_data": (("augment_shift", "more_data", "dropout", "relu", "softmax_ce", "adamw", "more_passes"), 12,
                      "mnist16", 50000),
}


def composed(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return OmegaConf.to_container(compose("lecun1989", overrides=list(overrides)), resolve=True)


def sweep_rows(experiment):
    params = yaml.safe_load(Path(CONF_DIR, "experiment", f"{experiment}.yaml").read_text())["hydra"]["sweeper"]["params"]
    (key, value), = params.items()
    return key.lstrip("+"), value.split(",")


@pytest.mark.parametrize("experiment", ["karpathy_table", "ablate_each"])
def test_every_row_file_is_swept_and_every_swept_row_exists(experiment):
    group, rows = sweep_rows(experiment)
    assert group == f"row/{experiment}"
    assert sorted(rows) == sorted(p.stem for p in Path(CONF_DIR, group).glob("*.yaml"))


@pytest.mark.parametrize("row", sorted(KARPATHY_ROWS))
def test_karpathy_rows_compose_to_his_recipes(row):
    cfg = composed("experiment=karpathy_table", f"+row/karpathy_table={row}")
    recipe, applied = recipe_from_config(cfg)
    tricks, passes, data, n_train = KARPATHY_ROWS[row]
    assert cfg["name"] == row and cfg["table"] == "karpathy_table" and cfg["trainer"]["backend"] == "auto"
    assert tuple(a.name for a in applied) == tricks
    assert (recipe.trainer.epochs, recipe.data.name, recipe.data.n_train) == (passes, data, n_train)


def test_ablate_each_rows_are_baseline_each_alone_all_but_one_and_all():
    _, rows = sweep_rows("ablate_each")
    every = set(KARPATHY) | {"more_passes"}
    for row in rows:
        recipe, applied = recipe_from_config(composed("experiment=ablate_each", f"+row/ablate_each={row}"))
        names = {a.name for a in applied}
        if row == "baseline":
            assert names == set()
        elif row == "all":
            assert names == every
        elif row.startswith("only_"):
            assert names == {row[len("only_"):]}
        else:
            assert names == every - {row[len("all_but_"):]}
        assert recipe.data.name == "usps"
        assert recipe.trainer.epochs == (80 if "more_passes" in names else 23)


def test_slurm_launcher_config_composes():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("lecun1989", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.cpus_per_task == 1 and launcher.gpus_per_node == 0


def lecun1989(*args):
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True, timeout=900)


def test_mini_sweep_runs_every_row_in_parallel_and_never_overwrites(usps_root, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "experiment=ablate_each", "seed=0", "trainer.max_epochs=1", f"data.root={usps_root}",
            "data.verify=false", "model.init_fan_in_power=0.5", f"hydra.sweep.dir={sweep}"]
    out = lecun1989(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    _, rows = sweep_rows("ablate_each")
    runs, skipped = collect([sweep])
    assert skipped == [] and sorted(runs["name"]) == sorted(rows) and set(runs["passes"]) == {1}
    assert len(set(runs["run"])) == len(rows)  # one directory per job
    only_relu = json.loads(next(sweep.glob("*_only_relu_seed0")).joinpath("metrics.json").read_text())
    assert [t["name"] for t in only_relu["tricks"]] == ["relu"] and only_relu["recipe"]["model"]["activation"] == "relu"
    assert only_relu["backend"] == "fused_cpu"  # every per-example trick runs on the C++ kernel
    assert json.loads(next(sweep.glob("*_only_augment_shift_seed0")).joinpath("metrics.json").read_text())["backend"] == "fused_cpu"

    # The same sweep, or any other, into the same folder: refused whole before any job (the folder holds a
    # sweep: sweep.yaml), no record changes. Two rows stand for a changed one.
    before = {p: p.read_bytes() for p in sweep.rglob("metrics.json")}
    for extra in ((), (f"+row/ablate_each={','.join(rows[:2])}",)):
        again = lecun1989(*args, *extra)
        assert again.returncode == 2 and "already holds a sweep (sweep.yaml)" in again.stderr, again.stderr[-3000:]
        assert {p: p.read_bytes() for p in sweep.rglob("metrics.json")} == before
    # resume=true with the same arguments is how an interrupted sweep is finished: finished jobs are read
    # back, untouched.
    resumed = lecun1989(*args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {p: p.read_bytes() for p in sweep.rglob("metrics.json")} == before
    assert len(list(sweep.glob("*_seed0"))) == len(rows)  # no folder of its own for a re-run row


def test_a_run_directory_in_use_is_refused(usps_root, tmp_path):
    cfg = composed(f"data.root={usps_root}", "data.verify=false", "trainer.epochs=1", "trainer.progress=false")
    d = tmp_path / "r"
    d.mkdir()
    with exclusive(RunDir(d)):
        with pytest.raises(ResumeError, match="in use by another run"):
            run(cfg, d)
    assert not (d / "metrics.json").exists()
    run(cfg, d)
    assert RunDir(d).is_complete()


@pytest.mark.integration
def test_one_pass_karpathy_table_on_the_real_data(shared_data_root, tmp_path):
    """CI's mini sweep: every row of the table for one pass, on USPS and MNIST."""
    sweep = tmp_path / "kt"
    out = lecun1989("-m", "experiment=karpathy_table", "seed=0", "trainer.max_epochs=1",
                    f"data.root={shared_data_root}", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr[-3000:]
    runs, skipped = collect([sweep])
    assert skipped == [] and sorted(runs["name"]) == sorted(KARPATHY_ROWS)
    by = runs.set_index("name")
    assert by.loc["more_data", "n_train"] == 50000 and by.loc["more_data", "data"] == "mnist16"
    assert set(by["backend"]) == {"fused_cpu"}  # every row is per-example: all on the C++ kernel
    # One pass already learns (measured: 4-15% test error), except mnist_baseline: with the paper's
    # U[-2.4/F, 2.4/F] init one pass of 7,291 MNIST digits is still on the plateau (88.7%; 4-5% after 23).
    learned = runs[runs["name"] != "mnist_baseline"]
    assert (learned["test_error"] < 20).all(), runs[["name", "test_error"]]
