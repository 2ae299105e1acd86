"""Does the suite bite? Plant small deliberate bugs in a copy of the repository and run,
for each, the narrow set of test files that should notice it: caught (a test failed, named
in the table) or missed. Writes results/bench/mutation_check.{md,csv}.

    python bench/mutation_check.py                    # code at HEAD, tests/ and .ci/ as in the working tree
    python bench/mutation_check.py --tests-from head  # the suite as committed (the "before" column)
    python bench/mutation_check.py --only lecun_pad_zero,report_delta_first_baseline

The working tree is never touched: the committed files (`git archive HEAD`) are unpacked into
a temporary folder, tests/ and .ci/ overlaid from the working tree (tracked and untracked,
not ignored; `--tests-from head` skips that), and each mutant is applied there, run, and
reverted. Every test set is first run unmutated: a set that fails clean marks its mutants
"invalid" rather than "caught". Imports resolve to the copy (PYTHONPATH, cwd); the native
builds are cached in one folder for the whole check ($REPRO_BUILD_DIR, seeded from build/).

Add a mutant: one entry in MUTANTS, a textual patch (the `old` text must occur exactly once
in the committed file) or an environment change, and the test files that should catch it.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _argtypes import count  # noqa: E402  (numeric arguments checked as parsed: repro/argtypes.py)


@dataclass(frozen=True)
class Mutant:
    id: str
    what: str  # the planted bug, in words
    tests: tuple[str, ...]  # pytest arguments: the files (or node ids) that should catch it
    path: str = ""  # the committed file patched ("" = environment only)
    old: str = ""
    new: str = ""
    env: dict[str, str] = field(default_factory=dict)


L89, A12 = "tests/lecun1989", "tests/alexnet2012"
MUTANTS: tuple[Mutant, ...] = (
    # --- the paper recipes as conf/ composes them
    Mutant("lecun_pad_zero", "conf/lecun1989/model/lecun1989.yaml: pad_value 0 instead of -1",
           (f"{L89}/test_paper_recipe.py", f"{L89}/test_experiment.py"),
           "conf/lecun1989/model/lecun1989.yaml", "pad_value: -1.0 ", "pad_value: 0.0  "),
    Mutant("lecun_init_sqrt", "conf/lecun1989/model/lecun1989.yaml: init_fan_in_power 0.5 instead of 1.0",
           (f"{L89}/test_paper_recipe.py", f"{L89}/test_experiment.py"),
           "conf/lecun1989/model/lecun1989.yaml", "init_fan_in_power: 1.0 ", "init_fan_in_power: 0.5 "),
    Mutant("alexnet_dropout_zero", "conf/alexnet2012/model/alexnet2012.yaml: dropout 0 instead of 0.5",
           (f"{A12}/test_paper_recipe.py", f"{A12}/test_experiment.py"),
           "conf/alexnet2012/model/alexnet2012.yaml", "dropout: 0.5 ", "dropout: 0.0 "),
    Mutant("alexnet_lrn_k_one", "conf/alexnet2012/model/alexnet2012.yaml: LRN k 1 instead of 2",
           (f"{A12}/test_paper_recipe.py", f"{A12}/test_experiment.py"),
           "conf/alexnet2012/model/alexnet2012.yaml", "lrn_k: 2.0 ", "lrn_k: 1.0 "),
    # --- H2 connectivity
    Mutant("dense_mask_all_ones", "lecun1989/connectivity.py: dense_mask returns all ones",
           (f"{L89}/test_model.py", f"{L89}/test_connectivity_oracle.py"),
           "lecun1989/connectivity.py", "mask.scatter_(1, inputs, 1.0)", "mask.fill_(1.0)"),
    # --- the report
    Mutant("report_delta_first_baseline", "experiment table: the Δ column takes the first baseline whatever the data set",
           (f"{L89}/test_report.py", "tests/repro/report/test_committed_results.py"),
           "repro/report/experiment_table.py", 'ref = refs.get(r["data"])', "ref = next(iter(refs.values()), None)"),
    # (Counting records instead of distinct seeds in summary.py is no longer a bug: rows.resolve drops
    # duplicate (config, seed) runs before the summary, so both counts agree. The bug moved there.)
    Mutant("report_duplicates_counted", "report rows: duplicates keyed by run folder, so a copied run is a second seed",
           (f"{L89}/test_report.py", "tests/repro/report"),
           "repro/report/rows.py", 'ident = (runs.at[i, "row_key"], int(runs.at[i, "seed"]))',
           'ident = (runs.at[i, "run"], int(runs.at[i, "seed"]))'),
    # --- composing tricks
    Mutant("compose_first_setter_wins", "composer: [adamw, cosine_lr, one_cycle] silently becomes one_cycle",
           ("tests/modern_tricks/test_tricks.py",),
           "modern_tricks/compose.py", "            set_by[f] = trick", "            set_by.setdefault(f, trick)"),
    # --- resume
    Mutant("ddp_rank0_rng", "checkpoint: every DDP rank resumes with rank 0's RNG",
           ("tests/repro/train/test_distributed.py",),
           "repro/train/checkpoint.py", 'ckpt["rng_per_rank"][world.rank]', 'ckpt["rng_per_rank"][0]'),
    Mutant("ddp_no_world_check", "checkpoint: the world-size check removed",
           ("tests/repro/train/test_distributed.py",),
           "repro/train/checkpoint.py", "if saved_world != world.size:", "if False:"),
    Mutant("resume_keeps_rng", "checkpoint: resume never restores the global RNG",
           (f"{A12}/test_experiment.py", "tests/repro/train/test_loop.py"),
           "repro/train/checkpoint.py", '    torch.set_rng_state(rng["rng"])', "    pass"),
    # --- tests whose names promise learning
    Mutant("convnet_zero_lr", "cuda-convnet nets: weights never move (per-layer weight rate x 0)",
           ("tests/modern_tricks/test_cifar2012.py",),
           "alexnet2012/convnet/model.py", '"lr": layer.eps_w * lr_scale', '"lr": 0.0 * layer.eps_w * lr_scale'),
    # --- error messages
    Mutant("report_error_message", "repro report: the missing-folder error names nothing",
           (f"{A12}/test_report.py",),
           "repro/report/collect.py", 'f"no such run directory: {root}"', '"no such run directory"'),
    # --- CI
    Mutant("ci_without_shared_data", "CI with ../shared/data missing (every real-data test would skip)",
           ("tests/repro/data/test_shared_data.py",),
           env={"REPRO_SHARED_DATA": "/nonexistent/shared/data", "REPRO_REQUIRE_SHARED_DATA": "1"}),
    # --- the loop
    Mutant("eval_every_off_by_one", "loop: eval_every=k evaluates after passes 1, k+1, ... instead of k, 2k, ...",
           (f"{L89}/test_experiment.py", "tests/repro/train/test_loop.py"),
           "repro/train/loop.py", "if (epoch + 1) % r.cfg.eval_every == 0 or last:",
           "if epoch % r.cfg.eval_every == 0 or last:"),
    Mutant("resume_skips_optimizer", "checkpoint: the optimizer state is not restored",
           ("tests/repro/train/test_loop.py",),
           "repro/train/checkpoint.py", '    task.optimizer.load_state_dict(ckpt["optimizer"])', "    pass"),
    # --- model math (strong before)
    Mutant("scaled_tanh_constant", "lecun1989: scaled tanh 1.7 instead of 1.7159",
           (f"{L89}/test_model.py",), "lecun1989/model.py", "1.7159 * torch.tanh", "1.7 * torch.tanh"),
    Mutant("connections_without_biases", "lecun1989: connection count leaves out the biases",
           (f"{L89}/test_model.py",), "lecun1989/model.py", "(fan[layer] + 1)", "fan[layer]"),
    Mutant("mse_zero_targets", "lecun1989 loss: targets 0/1 instead of -1/+1",
           (f"{L89}/test_paper_recipe.py", f"{L89}/test_trick_effects.py"),
           "lecun1989/loss.py", "torch.full((labels.shape[0], classes), -1.0", "torch.full((labels.shape[0], classes), 0.0"),
    Mutant("pack_error_message", "alexnet2012-pack: the refusal stops naming the folder",
           (f"{A12}/test_experiment.py", f"{A12}/test_data.py"),
           "alexnet2012/pack.py", 'f"{out_dir} already holds a pack', 'f"the folder already holds a pack'),
    Mutant("alexnet_no_bias_ones", "AlexNet init: biases 0 everywhere instead of 1 in conv2, conv4, conv5, fc6, fc7",
           (f"{A12}/test_paper_recipe.py", f"{A12}/test_model.py"),
           "alexnet2012/model.py", "layer.bias.fill_(1.0 if name in PAPER_BIAS_ONE else 0.0)", "layer.bias.fill_(0.0)"),
)


# Bugs planted since issue 24 (the others are the issue's, as far as it names them).
ADDED_SINCE = frozenset({"eval_every_off_by_one", "resume_skips_optimizer", "scaled_tanh_constant",
                         "connections_without_biases", "mse_zero_targets", "pack_error_message", "alexnet_no_bias_ones"})


def unpack_head(dest: Path) -> None:
    data = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def overlay_worktree(dest: Path, folders: tuple[str, ...]) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *folders],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run_tests(repo: Path, tests: tuple[str, ...], env: dict[str, str], timeout: int) -> tuple[str, str, float]:
    """(outcome, failing tests, seconds): outcome is passed, failed or timeout."""
    tests = tuple(t for t in tests if (repo / t.split("::")[0]).exists())  # an older suite may lack some files
    if not tests:
        return "passed", "", 0.0  # no test to catch it
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "REPRO_REQUIRE_SHARED_DATA", "PYTEST_ADDOPTS")}
    full_env = {**base, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", **env}
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rfE", *tests],
                              cwd=repo, env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", time.monotonic() - start
    seconds = time.monotonic() - start
    failing = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.M)
    if done.returncode == 0:
        return "passed", "", seconds
    return "failed", "; ".join(dict.fromkeys(f.split(" - ")[0] for f in failing)) or f"exit {done.returncode}", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests-from", choices=("worktree", "head"), default="worktree",
                        help="the suite under test: the working tree's tests/ and .ci/ (default) or HEAD's")
    parser.add_argument("--only", default="", help="comma-separated mutant ids")
    parser.add_argument("--timeout", type=count(), default=300, help="seconds per mutant (default 300)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench", help="folder for mutation_check.{md,csv}")
    parser.add_argument("--name", default="mutation_check", help="file stem (default mutation_check)")
    args = parser.parse_args(argv)

    chosen = [m for m in MUTANTS if not args.only or m.id in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="repro_mutation_"))
    repo = work / "repo"
    build = work / "build"
    try:
        unpack_head(repo)
        if args.tests_from == "worktree":
            overlay_worktree(repo, ("tests", ".ci"))
        for family in ("lecun1989_fused", "alexnet2012_kernels"):  # reuse compiled extensions where sources match
            if (ROOT / "build" / family).is_dir():
                shutil.copytree(ROOT / "build" / family, build, dirs_exist_ok=True, symlinks=True)
        common = {"REPRO_BUILD_DIR": str(build), "REPRO_CACHE": str(work / "cache"),
                  "REPRO_OUTPUTS": str(work / "outputs")}
        shared = ROOT.parent / "shared" / "data"
        if shared.is_dir():
            common["REPRO_SHARED_DATA"] = str(shared)
            common["REPRO_DATA_ROOT"] = str(shared)

        clean: dict[tuple[str, ...], tuple[str, str]] = {}
        rows = []
        for m in chosen:
            if m.tests not in clean:
                outcome, failing, secs = run_tests(repo, m.tests, common, args.timeout)
                clean[m.tests] = (outcome, failing)
                print(f"[clean] {' '.join(m.tests)}: {outcome} ({secs:.0f} s) {failing}", flush=True)
            target = repo / m.path if m.path else None
            original = target.read_text() if target else None
            if target and original.count(m.old) != 1:
                rows.append((m, "invalid", f"patch text found {original.count(m.old)} times in {m.path}", 0.0))
                continue
            if clean[m.tests][0] != "passed":
                rows.append((m, "invalid", f"tests fail unmutated: {clean[m.tests][1]}", 0.0))
                continue
            try:
                if target:
                    target.write_text(original.replace(m.old, m.new))
                outcome, failing, secs = run_tests(repo, m.tests, {**common, **m.env}, args.timeout)
            finally:
                if target:
                    target.write_text(original)
            verdict = {"failed": "caught", "passed": "MISSED", "timeout": "timeout"}[outcome]
            rows.append((m, verdict, failing, secs))
            print(f"{verdict:>7}  {m.id}  ({secs:.0f} s)  {failing}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    write(rows, args)
    return 0


def write(rows, args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    caught = sum(v == "caught" for _, v, _, _ in rows)
    valid = sum(v in ("caught", "MISSED", "timeout") for _, v, _, _ in rows)
    with open(args.out / f"{args.name}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["mutant", "planted_bug", "file", "tests", "verdict", "caught_by", "seconds", "issue_24"])
        for m, verdict, detail, secs in rows:
            w.writerow([m.id, m.what, m.path or "(environment)", " ".join(m.tests), verdict, detail, f"{secs:.0f}",
                        m.id not in ADDED_SINCE])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Mutation check: planted bugs against the tests that should catch them\n",
        f"Generated by `python bench/mutation_check.py --tests-from {args.tests_from}` ({when}); do not edit by hand. "
        "Each bug is a small patch to a copy of the committed code (`git archive HEAD`); the suite is "
        f"{'the working tree' if args.tests_from == 'worktree' else 'HEAD'}'s tests/. A bug is *caught* when one of "
        "its test files fails (first failing test shown), *MISSED* when all pass.\n",
        f"**{caught} of {valid} caught.**\n",
        "| mutant | planted bug | tests run | verdict | caught by | s |",
        "|---|---|---|---|---|---|",
    ]
    for m, verdict, detail, secs in rows:
        lines.append(f"| `{m.id}`{'' if m.id in ADDED_SINCE else ' (#24)'} | {m.what} | {', '.join(f'`{t}`' for t in m.tests)} | {verdict} | "
                     f"{detail.replace('|', '/') or '—'} | {secs:.0f} |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print(f"{caught} of {valid} caught; wrote {args.out / (args.name + '.md')}")


if __name__ == "__main__":
    sys.exit(main())
