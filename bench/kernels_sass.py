"""The AlexNet kernels' machine code, checked without a GPU: registers, spills, shared memory,
occupancy and the instruction mix of each kernel's main loop, compiled for sm_90 (H100/H200).

    python bench/kernels_sass.py --label after                 # the working tree's kernels
    python bench/kernels_sass.py --label before --git-ref HEAD  # the committed kernels (git archive of csrc/)
    python bench/kernels_sass.py --label x --only conv --out /tmp/s   # one family, elsewhere

Each kernel family's <family>.cu is compiled to an sm_90 cubin with the build's nvcc flags
(alexnet2012/kernels/build.py: -O3 -std=c++17 -lineinfo; one real architecture instead of the
build's fatbinary) and `-Xptxas -v`, then disassembled with cuobjdump (the CUDA toolkit's, else
the one the triton wheel ships). Per kernel it writes:

* registers, stack, spill stores/loads (bytes), static shared memory: ptxas's own report;
* the block size: the kernel's __launch_bounds__ (EIATTR_MAX_THREADS in the cubin), else
  launch.h's kThreads = 256, which every kernel without bounds is launched with;
* theoretical occupancy on sm_90: 65,536 registers per SM allocated per warp in units of 256,
  228 KB of shared memory per SM (1 KB of it reserved per block), at most 64 warps and 32 blocks
  per SM; warps per SM and per scheduler (4 schedulers), and which limit binds;
* the whole kernel: its instructions (kernel_instrs) and its calls of the 64-bit integer division
  subroutine anywhere in it (kernel_div64_calls): an elementwise kernel's per-element index
  decomposition sits in its grid-stride loop, but a division before or around the loop costs
  each thread the same ~20 instructions, so the elementwise kernels are judged by this count;
* the main loop: the innermost backward-branch region (a BRA whose target lies at or before it)
  that holds the kernel's tensor-core instructions (HMMA, HGMMA/WGMMA); in a kernel without them,
  the innermost loop holding the most FFMAs, else the largest loop. Its instruction mix is
  counted statically, one pass through the region's code (every branch of it counted once):
  instructions, tensor-core instructions, instructions per tensor-core instruction, FFMAs,
  calls of the 64-bit integer division subroutine (a CALL whose callee converts a 64-bit divisor,
  I2F.U64.RP; ~20 instructions each, not counted in the loop's size) and other calls, global loads
  (LDG), async copies (LDGSTS/UTMALDG), generic
  loads (LD: a load whose space the compiler could not prove, e.g. wmma::load from a generic
  pointer), shared loads (LDS, LDSM = ldmatrix), shared stores (STS), barriers (BAR).

Rows are labelled by `version`: the short commit, "+dirty" when csrc/ differs from it (never with
--git-ref), and the --label. results/bench/kernels_sass.csv keeps one row per (label, kernel):
a rerun with a label replaces that label's rows, a new label is appended, so the committed table
keeps the first measured kernels ("before") above the later ones. The Markdown is generated
from the CSV. No GPU is needed, nothing is timed: this is the code the GPU would run.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402

CSRC_REL = "alexnet2012/kernels/csrc"
FAMILIES = ("conv", "lrn", "maxpool", "bias_relu", "dropout", "softmax_xent")
NVCC_FLAGS = ["-O3", "-lineinfo", "-std=c++17"]  # build.py's CUDA_CFLAGS without the fatbinary targets
ARCH = "sm_90"
DEFAULT_THREADS = 256  # launch.h's kThreads: the block of every kernel without __launch_bounds__

# sm_90 limits (CUDA occupancy calculator, compute capability 9.0).
REGS_PER_SM, REG_UNIT, MAX_REGS_PER_THREAD = 65536, 256, 255
SMEM_PER_SM, SMEM_RESERVED_PER_BLOCK, SMEM_UNIT = 228 * 1024, 1024, 128
MAX_WARPS, MAX_BLOCKS, SCHEDULERS = 64, 32, 4

TENSOR_CORE = ("HMMA", "HGMMA", "WGMMA", "IMMA", "QMMA")


# ----------------------------------------------------------------------------- tools


def nvcc() -> str:
    from repro.native_build import cuda_home

    home = cuda_home()
    for cand in ([Path(home) / "bin" / "nvcc"] if home else []) + [Path(p) for p in [shutil.which("nvcc") or ""] if p]:
        if cand.is_file():
            return str(cand)
    raise SystemExit("error: no nvcc (set CUDA_HOME)")


def cuobjdump() -> str:
    found = shutil.which("cuobjdump")
    if found:
        return found
    from repro.native_build import cuda_home

    home = cuda_home()
    cands = ([Path(home) / "bin" / "cuobjdump"] if home else []) + sorted(
        (ROOT / ".venv").glob("lib/python*/site-packages/triton/backends/nvidia/bin/cuobjdump"))
    for cand in cands:
        if cand.is_file():
            return str(cand)
    raise SystemExit("error: no cuobjdump (CUDA toolkit, or the triton wheel's backends/nvidia/bin)")


def run(cmd: list[str], cwd: Path | None = None, timeout: int = 600) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd[:3])} ... failed:\n{done.stderr[-4000:]}")
    return done.stdout + done.stderr


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


# ----------------------------------------------------------------------------- sources and version


def sources(git_ref: str | None, work: Path) -> Path:
    """The csrc/ folder to compile: the working tree's, or `git_ref`'s exported into `work`."""
    if git_ref is None:
        return ROOT / CSRC_REL
    blob = subprocess.run(["git", "archive", "--format=tar", git_ref, CSRC_REL], cwd=ROOT, capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(work / "src", filter="data")
    return work / "src" / CSRC_REL


def version(git_ref: str | None, label: str) -> str:
    commit = git("rev-parse", "--short", git_ref or "HEAD")
    dirty = git_ref is None and bool(git("status", "--porcelain", "--", CSRC_REL))
    return f"{commit}{'+dirty' if dirty else ''} {label}"


# ----------------------------------------------------------------------------- compile and parse


@dataclass
class Ptxas:
    registers: int = 0
    stack_bytes: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    smem_bytes: int = 0


def parse_ptxas(log: str) -> dict[str, Ptxas]:
    out: dict[str, Ptxas] = {}
    current = None
    for line in log.splitlines():
        if m := re.search(r"Compiling entry function '([^']+)'", line):
            current = out.setdefault(m.group(1), Ptxas())
        elif current is None:
            continue
        elif m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line):
            current.stack_bytes, current.spill_stores, current.spill_loads = map(int, m.groups())
        elif m := re.search(r"Used (\d+) registers", line):
            current.registers = int(m.group(1))
            if s := re.search(r"(\d+) bytes smem", line):
                current.smem_bytes = int(s.group(1))
    return out


def max_threads(elf: str) -> dict[str, int]:
    """__launch_bounds__ per kernel, from the cubin's .nv.info.<kernel> sections."""
    out, current = {}, None
    lines = elf.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".nv.info._"):
            current = line[len(".nv.info."):].strip()
        elif current and "EIATTR_MAX_THREADS" in line:
            for follow in lines[i + 1:i + 4]:
                if m := re.search(r"Value:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", follow):
                    out[current] = math.prod(int(v, 16) for v in m.groups())
                    break
    return out


@dataclass
class Instr:
    addr: int
    opcode: str  # with modifiers, e.g. HMMA.16816.F32.BF16
    text: str

    @property
    def op(self) -> str:
        return self.opcode.split(".")[0]


INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)\s*(.*?);")


def parse_sass(sass: str) -> dict[str, list[Instr]]:
    out: dict[str, list[Instr]] = {}
    current = None
    for line in sass.splitlines():
        if m := re.search(r"Function : (\S+)", line):
            current = out.setdefault(m.group(1), [])
        elif current is not None and (m := INSTR.search(line)):
            current.append(Instr(int(m.group(1), 16), m.group(2), m.group(3)))
    return out


def loops(code: list[Instr]) -> list[tuple[int, int]]:
    """(first, last) instruction indices of each backward branch's region."""
    index = {ins.addr: i for i, ins in enumerate(code)}
    found = []
    for i, ins in enumerate(code):
        if ins.op == "BRA" and (m := re.match(r"(?:`\()?\s*(?:\.L_x_\d+\s*)?0x([0-9a-f]+)", ins.text.strip())):
            target = int(m.group(1), 16)
            if target <= ins.addr and target in index:
                found.append((index[target], i))
    return found


def main_loop(code: list[Instr]) -> tuple[int, int] | None:
    regions = loops(code)
    if not regions:
        return None

    def count(region, ops):
        return sum(code[i].op in ops for i in range(region[0], region[1] + 1))

    size = lambda r: r[1] - r[0]  # noqa: E731
    with_tc = [r for r in regions if count(r, TENSOR_CORE)]
    if with_tc:
        return min(with_tc, key=size)
    with_ffma = [r for r in regions if count(r, ("FFMA",))]
    if with_ffma:
        most = max(count(r, ("FFMA",)) for r in with_ffma)
        return min((r for r in with_ffma if count(r, ("FFMA",)) == most), key=size)
    return max(regions, key=size)


def is_division(code: list[Instr], call: Instr) -> bool:
    """Whether a CALL enters the 64-bit integer division subroutine (its body converts a 64-bit
    divisor to float for the reciprocal: I2F.U64.RP); other calls count as other_calls."""
    m = re.match(r"0x([0-9a-f]+)", call.text.strip())
    start = next((i for i, ins in enumerate(code) if m and ins.addr == int(m.group(1), 16)), None)
    if start is None:
        return False
    for ins in code[start:start + 200]:
        if ins.opcode.startswith(("I2F.U64", "I2F.S64")):
            return True
        if ins.op == "RET":
            return False
    return False


def kernel_divisions(code: list[Instr]) -> int:
    """Calls of the 64-bit division subroutine anywhere in the kernel (the subroutine's own body,
    which follows the kernel's EXIT, holds no CALL of itself)."""
    return sum(is_division(code, ins) for ins in code if ins.op == "CALL")


def mix(code: list[Instr], region: tuple[int, int] | None) -> dict[str, object]:
    if region is None:
        return {"loop_instrs": 0, "tc_instrs": 0, "instrs_per_tc": "", "ffma": 0, "div64_calls": 0, "other_calls": 0,
                "global_loads": 0, "async_copies": 0, "generic_loads": 0, "shared_loads": 0, "ldmatrix": 0,
                "shared_stores": 0, "barriers": 0}
    body = [ins for ins in code[region[0]:region[1] + 1] if ins.op != "NOP"]
    ops = [ins.op for ins in body]
    tc = sum(op in TENSOR_CORE for op in ops)
    divisions = sum(is_division(code, ins) for ins in body if ins.op == "CALL")
    return {
        "loop_instrs": len(body),
        "tc_instrs": tc,
        "instrs_per_tc": round(len(body) / tc, 1) if tc else "",
        "ffma": ops.count("FFMA"),
        "div64_calls": divisions,
        "other_calls": ops.count("CALL") - divisions,
        "global_loads": ops.count("LDG"),
        "async_copies": ops.count("LDGSTS") + ops.count("UTMALDG"),
        "generic_loads": ops.count("LD"),
        "shared_loads": ops.count("LDS") + ops.count("LDSM"),
        "ldmatrix": ops.count("LDSM"),
        "shared_stores": ops.count("STS"),
        "barriers": ops.count("BAR"),
    }


def occupancy(regs: int, smem: int, threads: int) -> dict[str, object]:
    warps = max(1, math.ceil(threads / 32))
    regs_per_warp = math.ceil(max(regs, 1) * 32 / REG_UNIT) * REG_UNIT
    limits = {
        "registers": (REGS_PER_SM // regs_per_warp) // warps,
        "shared memory": SMEM_PER_SM // (math.ceil((smem + SMEM_RESERVED_PER_BLOCK) / SMEM_UNIT) * SMEM_UNIT),
        "warps": MAX_WARPS // warps,
        "blocks": MAX_BLOCKS,
    }
    blocks = min(limits.values())
    binding = [k for k, v in limits.items() if v == blocks]
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps, "warps_per_scheduler": blocks * warps / SCHEDULERS,
            "limited_by": "+".join(binding)}


def short_name(mangled: str) -> str:
    name = subprocess.run(["c++filt", mangled], capture_output=True, text=True).stdout.strip() or mangled
    name = re.sub(r"\(anonymous namespace\)::|repro_alexnet::|gemm::", "", name)
    name = re.sub(r"\(.*\)$", "", name.replace("__nv_bfloat16", "bf16"))  # drop the parameter list
    return re.sub(r"^void ", "", name).replace("> >", ">>")


def measure(csrc: Path, family: str, work: Path) -> list[dict[str, object]]:
    cubin = work / f"{family}.cubin"
    log = run([nvcc(), "-cubin", f"-arch={ARCH}", *NVCC_FLAGS, "-Xptxas", "-v", "-I", str(csrc), "-o", str(cubin),
               str(csrc / f"{family}.cu")], cwd=csrc)
    ptxas = parse_ptxas(log)
    dump = cuobjdump()
    code = parse_sass(run([dump, "-sass", str(cubin)]))
    bounds = max_threads(run([dump, "-elf", str(cubin)]))
    rows = []
    for mangled, instrs in code.items():
        p = ptxas.get(mangled, Ptxas())
        threads = bounds.get(mangled, DEFAULT_THREADS)
        rows.append({"family": family, "kernel": short_name(mangled), "registers": p.registers,
                     "spill_stores": p.spill_stores, "spill_loads": p.spill_loads, "stack_bytes": p.stack_bytes,
                     "smem_bytes": p.smem_bytes, "threads": threads, **occupancy(p.registers, p.smem_bytes, threads),
                     "kernel_instrs": sum(i.op != "NOP" for i in instrs),
                     "kernel_div64_calls": kernel_divisions(instrs), **mix(instrs, main_loop(instrs))})
    return sorted(rows, key=lambda r: r["kernel"])


# ----------------------------------------------------------------------------- tables


MD_COLUMNS = ["version", "kernel", "registers", "spill_stores", "smem_bytes", "threads", "warps_per_sm",
              "limited_by", "kernel_instrs", "kernel_div64_calls", "loop_instrs", "tc_instrs", "instrs_per_tc", "div64_calls", "other_calls", "global_loads",
              "async_copies",
              "generic_loads", "shared_loads", "ldmatrix", "shared_stores"]


def merge(csv: Path, new: pd.DataFrame) -> pd.DataFrame:
    if not csv.exists():
        return new
    old = pd.read_csv(csv, keep_default_na=False)
    keep = ~old.set_index(["label", "kernel"]).index.isin(new.set_index(["label", "kernel"]).index)
    frame = pd.concat([old[keep], new], ignore_index=True)
    return frame[list(new.columns) + [c for c in frame.columns if c not in new.columns]]  # a new column stays in place


def markdown(frame: pd.DataFrame) -> str:
    lines = ["# The AlexNet kernels' machine code (sm_90)\n",
             "Generated by `bench/kernels_sass.py` from `kernels_sass.csv` (no GPU: compiled with nvcc for sm_90,",
             "disassembled with cuobjdump). `kernel_*` columns count the whole kernel (`kernel_div64_calls`: calls of",
             "the 64-bit integer division subroutine anywhere in it); `loop_*` columns count one static pass through",
             "each kernel's main loop (the innermost loop holding its tensor-core instructions, else its FFMAs; see",
             "the script's docstring). Occupancy is theoretical, from registers, shared memory and the block size",
             "on sm_90's limits.\n"]
    for label, part in frame.groupby("label", sort=False):
        meta = part.iloc[0]
        lines.append(f"## {meta['version']}\n")
        lines.append(f"{meta['date']}, nvcc {meta['nvcc']}, `{meta['flags']}`\n")
        lines.append(table(MD_COLUMNS[1:], [[str(r[c]) for c in MD_COLUMNS[1:]] for _, r in part.iterrows()]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="names this set of rows (e.g. before, after)")
    parser.add_argument("--git-ref", help="compile this commit's csrc/ (git archive) instead of the working tree")
    parser.add_argument("--only", nargs="*", choices=FAMILIES, help="kernel families (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench", help="folder of kernels_sass.{csv,md}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kernels_sass_") as tmp:
        work = Path(tmp)
        csrc = sources(args.git_ref, work)
        rows = []
        for family in args.only or FAMILIES:
            print(f"compiling {family}.cu for {ARCH} ...", flush=True)
            rows += measure(csrc, family, work)
    release = re.search(r"release ([\d.]+)", run([nvcc(), "--version"]))
    stamp = {"label": args.label, "version": version(args.git_ref, args.label),
             "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "nvcc": release.group(1) if release else "?", "flags": " ".join([f"-arch={ARCH}", *NVCC_FLAGS])}
    new = pd.DataFrame([{**stamp, **row} for row in rows])
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "kernels_sass.csv"
    frame = merge(csv, new)
    write_text_atomic(csv, frame.to_csv(index=False))
    write_text_atomic(args.out / "kernels_sass.md", markdown(frame))
    for _, r in new.iterrows():
        if r["family"] != "conv":
            print(f"{r['kernel']}: {r['registers']} regs, {r['kernel_instrs']} instrs, "
                  f"{r['kernel_div64_calls']} 64-bit division calls")
        elif r["tc_instrs"]:
            print(f"{r['kernel']}: {r['registers']} regs, {r['spill_stores']} B spilled, {r['warps_per_sm']} warps/SM, "
                  f"main loop {r['loop_instrs']} instrs / {r['tc_instrs']} tensor-core = {r['instrs_per_tc']}, "
                  f"{r['div64_calls']} 64-bit division calls")
    print(f"wrote {csv} and {csv.with_suffix('.md')} ({len(new)} kernels labelled {args.label!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
