"""Many fused runs in one process, one per thread (lecun1989/fused/many.py): each job
writes exactly the record a single run of its config and seed writes."""

import json

import pytest
import torch

from lecun1989.cli import run
from lecun1989.fused.many import run_many, sweep_jobs
from repro.config import ConfigError

from .test_experiment import small

KARPATHY = "trick=[softmax_ce,adamw,augment_shift,dropout,relu,more_passes]"
# What legitimately differs between two runs of one config: when and how fast they ran.
TIMING = {"train_time_s", "eval_time_s", "wall_time_s", "samples_per_s", "finished_at", "environment"}


def comparable(metrics):
    return {k: v for k, v in metrics.items() if k not in TIMING}


def test_runs_on_threads_write_what_single_runs_write(usps_root, tmp_path):
    configs = [small(usps_root, KARPATHY, "trick.more_passes.epochs=3", f"seed={s}") for s in (0, 1)]
    configs.append(small(usps_root, "trainer.epochs=3", "seed=2"))  # the paper's recipe beside them
    single = [run(c, tmp_path / "single" / str(i)) for i, c in enumerate(configs)]
    many = run_many([(c, tmp_path / "many" / str(i)) for i, c in enumerate(configs)], threads=2)
    for i, (a, b) in enumerate(zip(single, many)):
        assert a["backend"] == b["backend"] == "fused_cpu"
        assert comparable(a) == comparable(b)
        wa, wb = (torch.load(tmp_path / kind / str(i) / "checkpoint.pt", weights_only=True)["model"]
                  for kind in ("single", "many"))
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        on_disk = json.loads((tmp_path / "many" / str(i) / "metrics.json").read_text())
        assert comparable(on_disk) == comparable(json.loads((tmp_path / "single" / str(i) / "metrics.json").read_text()))
    assert single[0]["final"] != single[1]["final"]  # the seeds differ: the comparison is not of copies


def test_eager_jobs_are_refused_by_name(usps_root, tmp_path):
    jobs = [(small(usps_root, "trainer.backend=eager"), tmp_path / "a"), (small(usps_root), tmp_path / "b")]
    with pytest.raises(ConfigError, match="fused_cpu jobs only"):
        run_many(jobs)
    assert not (tmp_path / "b" / "metrics.json").exists()  # refused before any job ran


def test_sweep_jobs_are_named_and_ordered_as_hydra_names_them(usps_root, tmp_path):
    jobs = sweep_jobs(["experiment=karpathy_table", "seed=0,1", f"data.root={usps_root}"], tmp_path)
    names = [d.name for _, d in jobs]
    assert names[:3] == ["0_baseline_seed0", "1_baseline_seed1", "2_softmax_ce_seed0"] and len(names) == 16
    assert {c["table"] for c, _ in jobs} == {"karpathy_table"}


def test_ctrl_c_stops_every_run_saves_them_and_starts_no_more(usps_root, tmp_path, monkeypatch):
    """The first SIGINT (sent here from the first run's 2nd pass) reaches the runs on the worker
    threads: each finishes its step, saves a checkpoint and stops; the queued jobs never start;
    resume=true then finishes all of them with the records an uninterrupted sweep writes."""
    import os
    import signal
    import threading

    from repro.train import interrupt
    from repro.train.loop import TrainingInterrupted

    import lecun1989.cli as cli

    # 100 passes of the fixture's 60 digits: long enough that both threads' runs are still going at
    # the signal (run 0's second pass).
    configs = [small(usps_root, KARPATHY, "trick.more_passes.epochs=100", f"seed={s}") for s in range(5)]
    jobs = [(c, tmp_path / "sweep" / str(i)) for i, c in enumerate(configs)]
    sent = threading.Event()

    def run_and_interrupt(config, run_dir):
        def on_step(step):
            if run_dir.name == "0" and step == 2 * 60 and not sent.is_set():  # 60 digits a pass: one chunk
                sent.set()
                os.kill(os.getpid(), signal.SIGINT)
        return run(config, run_dir, on_step=[on_step])

    monkeypatch.setattr(cli, "run", run_and_interrupt)
    with pytest.raises(KeyboardInterrupt) as stopped:
        run_many(jobs, threads=2)
    assert isinstance(stopped.value, TrainingInterrupted)
    assert not interrupt.sweep_interrupted()  # the record is put back: later runs in this process train
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    started = sorted(d.name for _, d in jobs if d.exists())
    assert started == ["0", "1"]  # the two running runs; the queued three never began
    assert all((tmp_path / "sweep" / n / "checkpoint.pt").exists() for n in started)
    assert not any((tmp_path / "sweep" / n / "metrics.json").exists() for n in started)
    monkeypatch.setattr(cli, "run", run)
    resumed = run_many([({**c, "resume": True}, d) for c, d in jobs], threads=2)
    straight = run_many([(c, tmp_path / "straight" / str(i)) for i, c in enumerate(configs)], threads=2)
    assert [comparable(a)["final"] for a in resumed] == [comparable(b)["final"] for b in straight]
