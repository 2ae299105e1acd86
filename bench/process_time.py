"""Whole-process time of the README's main job and of its parts (issue 22), for bench/lecun1989_speed.py.

A user waits for the whole process, not for the training loop: interpreter and
torch start-up, Hydra's composition, data loading, the kernel library's load,
training, evaluation after each pass, the run record. Each command here runs as
its own process, exactly as a user types it, ``repeats`` times (the median is
reported, so one slow start on a busy machine does not decide the row):

- ``python -c "import torch"``: the floor of any torch program on this machine;
- ``lecun1989 --help``: our imports and Hydra, no run;
- ``lecun1989`` (the README's main job), with the run's own record (metrics.json)
  splitting its wall time into training, evaluation and the rest (start-up,
  data, model, record writing).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def _main_job(env: dict[str, str], overrides: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        wall = _timed([str(BIN / "lecun1989"), *overrides, f"hydra.run.dir={run_dir}"], env)
        metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"process_s": wall, "train_s": metrics["train_time_s"], "eval_s": metrics["eval_time_s"],
            "backend": metrics.get("backend", "?"), "test_error": metrics["final"]["test"]["error"]}


def measure(repeats: int, data_root: str | None, overrides: list[str]) -> list[dict]:
    """Rows: one per command, medians over ``repeats`` processes."""
    env = dict(os.environ)
    if data_root:
        env["REPRO_DATA_ROOT"] = data_root
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    torch_s = [_timed([sys.executable, "-c", "import torch"], env) for _ in range(repeats)]
    help_s = [_timed([str(BIN / "lecun1989"), "--help"], env) for _ in range(repeats)]
    jobs = [_main_job(env, overrides) for _ in range(repeats)]
    med = {k: statistics.median(j[k] for j in jobs) for k in ("process_s", "train_s", "eval_s")}
    job_cmd = " ".join(["lecun1989", *overrides])
    rows = [
        {"command": 'python -c "import torch"', "process_s": statistics.median(torch_s)},
        {"command": "lecun1989 --help", "process_s": statistics.median(help_s)},
        {"command": job_cmd, "process_s": med["process_s"], "train_s": med["train_s"], "eval_s": med["eval_s"],
         "rest_s": med["process_s"] - med["train_s"] - med["eval_s"], "eval_over_train": med["eval_s"] / med["train_s"],
         "backend": jobs[0]["backend"], "test_error": jobs[0]["test_error"]},
    ]
    for r in rows:
        r["repeats"] = repeats
        print(f"{r['command']}: {r['process_s']:.2f} s (median of {repeats})", flush=True)
    return rows


def markdown_rows(rows: list[dict]) -> list[list[str]]:
    def s(v):
        return "" if v is None or v != v else f"{v:.2f}"

    return [[f"`{r['command']}`", s(r["process_s"]), s(r.get("train_s")), s(r.get("eval_s")), s(r.get("rest_s")),
             "" if r.get("eval_over_train") is None else f"{100 * r['eval_over_train']:.0f}%", r.get("backend", "")]
            for r in rows]


HEADER = ["command", "whole process (s)", "training (s)", "evaluation (s)", "rest: start-up, data, record (s)",
          "evaluation / training", "backend"]
