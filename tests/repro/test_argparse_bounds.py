"""Every numeric argument of every argparse command (each bench/*.py, the console
scripts) is checked as it is parsed (repro/argtypes.py): a value out of range is
argparse's one `error:` line and exit 2, before any work (issue 44, cause 5).
The walk finds the parsers itself, so a bench or an argument added later is covered."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: each program is started as it is run (bench/X.py as __main__, a console
# script's main()), and its parser is captured at parse_args; then each numeric argument is given
# values outside its range and must be refused by the parser (SystemExit 2, an `error:` line).
WALK = r'''
import argparse, contextlib, io, json, runpy, sys
from pathlib import Path

class Captured(Exception):
    pass

def capture(start):
    real = argparse.ArgumentParser.parse_args
    def grab(self, *a, **k):
        raise Captured(self)
    argparse.ArgumentParser.parse_args = grab
    try:
        start()
    except Captured as c:
        return c.args[0]
    except (Exception, SystemExit):  # a program that parses its arguments itself
        return None
    finally:
        argparse.ArgumentParser.parse_args = real
    return None

def numeric(action):
    if action.nargs == 0 or action.option_strings == [] and action.dest == "help":
        return False
    default = action.default
    return action.type in (int, float) or hasattr(action.type, "describe") or (
        action.type is None and isinstance(default, (int, float)) and not isinstance(default, bool))

def refused(parser, option, value):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args([option, value])
        except SystemExit as e:
            return e.code == 2 and f"error: argument {option}" in err.getvalue() and "Traceback" not in err.getvalue()
    return False

programs, scripts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
found, problems = {}, []
starts = [(p, lambda p=p: (sys.argv.__setitem__(slice(None), [p]), sys.path.insert(0, str(Path(p).parent)),
                           runpy.run_path(p, run_name="__main__"))) for p in programs]
for name, entry in scripts.items():
    module, func = entry.split(":")
    starts.append((name, lambda m=module, f=func, n=name: (sys.argv.__setitem__(slice(None), [n]),
                                                            getattr(__import__(m, fromlist=[f]), f)())))
for label, start in starts:
    parser = capture(start)
    if parser is None:
        continue
    groups = [parser] + [p for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                         for p in a.choices.values()]
    for p in groups:
        for action in p._actions:
            if not action.option_strings or not numeric(action):
                continue
            option = action.option_strings[-1]
            found.setdefault(label, []).append(option)
            kind = action.type
            if not hasattr(kind, "describe"):
                problems.append(f"{label} {option}: type {getattr(kind, '__name__', kind)} is not a checked type "
                                "(repro/argtypes.py: count, number, seed)")
                continue
            bad = ["not-a-number", str(kind.low - 1)] + ([str(kind.high + 1)] if kind.high is not None else [])
            bad += ["nan", "inf"] if kind.kind is float else []
            for value in bad:
                if not refused(p, option, value):
                    problems.append(f"{label} {option} {value}: not refused by the parser")
            if refused(p, option, str(action.default if action.default is not None else kind.low)):
                problems.append(f"{label} {option}: its default is refused")
print(json.dumps({"found": found, "problems": problems}))
'''


def walk() -> dict:
    # the benches that use argparse (the others, gpu_session.py..., read their few arguments themselves)
    programs = sorted(str(p) for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    out = subprocess.run([sys.executable, "-c", WALK, json.dumps(programs), json.dumps(scripts)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_numeric_argument_is_checked_as_it_is_parsed():
    result = walk()
    assert result["problems"] == []
    found = {Path(k).name: v for k, v in result["found"].items()}
    # the cases issue 44 found, among everything walked
    assert "--passes" in found["lecun1989_speed.py"] and "--reps" in found["kernels.py"]
    assert "--batch" in found["alexnet_step.py"] and "--size" in found["alexnet2012-pack"]
    assert len(found) >= 9, sorted(found)


def test_a_bad_bench_argument_is_refused_before_any_work(tmp_path):
    for bench, args in (("lecun1989_speed.py", ["--passes", "-1"]), ("kernels.py", ["--device", "cpu", "--reps", "-1"]),
                        ("alexnet_step.py", ["--batch", "0"])):
        out = subprocess.run([sys.executable, str(ROOT / "bench" / bench), *args, "--out", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 2, (bench, out.stderr[-2000:])
        assert f"error: argument {args[-2]}: {args[-1]} is out of range" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and not (tmp_path / "out").exists()


def test_pack_size_is_about_the_size(tmp_path):
    for size in ("-5", "0"):
        out = subprocess.run([sys.executable, "-m", "alexnet2012.pack_cli", "--root", str(tmp_path), "--size", size],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 2
        assert out.stderr.strip().endswith(f"error: argument --size: {size} is out of range: expected an integer >= 1")
        assert "JPEG" not in out.stderr and list(tmp_path.iterdir()) == []
