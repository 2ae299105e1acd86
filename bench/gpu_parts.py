"""What a GPU session runs, part by part, in priority order (bench/gpu_session.sh PART).

Each step has a planned time on the device (its own timeout there; the part's steps add up to its
budget, at most 10 minutes, so a rerun fits in one task's 15 device minutes) and three kinds of
shell command:
  cpu       needs no GPU: runs on the device and in the rehearsal (imports, data checks, the builds
            for sm_90, Hydra composition of every job a later step runs, the CPU self-checks);
  gpu       needs the GPU: runs on the device only; the rehearsal reports it as skipped-needs-GPU;
  stand_in  the rehearsal's CPU check of what a gpu command will need (its tests collected, its
            script's options parsed, its tool on the PATH), run in the rehearsal only;
  deep      slower stand-ins, run by `--rehearse --deep` only (scripts/gpu_rehearsal.sh, against the
            device's torch): a training sweep's jobs through the real training path on the CPU.
Placeholders: {py} the device's python3, {logs} this part's log folder (packed into $OUT),
{bench} the folder for bench outputs (results/bench on the device; a scratch folder in a rehearsal).
Commands run from the repository root; each line is one `bash -c`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    timeout: int  # planned seconds on the device
    cpu: tuple[str, ...] = ()
    gpu: tuple[str, ...] = ()
    stand_in: tuple[str, ...] = ()
    deep: tuple[str, ...] = ()
    products: tuple[str, ...] = ()  # repo-relative files/folders the gpu commands write, packed into $OUT
    note: str = ""


@dataclass(frozen=True)
class Part:
    name: str
    what: str
    steps: tuple[Step, ...]
    data: tuple[str, ...] = ()  # data sets the part reads (staged by `gpu_session.py data`)

    def planned(self) -> int:
        return sum(s.timeout for s in self.steps)


ENV = Step("env", 15, cpu=("{py} bench/gpu_session.py env",), stand_in=("{py} bench/gpu_session.py api-check",),
           gpu=("nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv",
                "{py} -c 'import torch; print(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))'"))


def sanitizer(tool: str, command: str, timeout: int, what: str) -> Step:
    return Step(f"sanitizer-{tool}", timeout,
                gpu=(f"compute-sanitizer --tool {tool} --error-exitcode 9 {command}",),
                stand_in=("command -v compute-sanitizer || echo 'compute-sanitizer: not on this PATH (the device image has it)'",),
                note=f"{what} under compute-sanitizer {tool}")


KERNEL_TESTS = "tests/alexnet2012/kernels tests/alexnet2012/test_custom_ops.py"
KERNELS = Part("kernels", "the AlexNet kernels (alexnet2012/kernels): first GPU run: correctness, sanitizers, speed", (
    ENV,
    Step("build", 150, cpu=("{py} -m alexnet2012.kernels.build",),
         note="the one shared library, sm_90 + compute_80 PTX, ninja in parallel; cached in build/ for a rerun"),
    Step("selfcheck", 30, gpu=("{py} -m alexnet2012.kernels.selfcheck --device cuda",),
         stand_in=("{py} -m alexnet2012.kernels.selfcheck --device cpu",),
         note="every op against its reference, fp32 and bf16"),
    Step("tests-cuda", 100, gpu=("{py} -m pytest -q -p no:cacheprovider --maxfail=25 -k cuda " + KERNEL_TESTS,),
         stand_in=("{py} -m pytest -q -p no:cacheprovider --collect-only -k cuda " + KERNEL_TESTS,),
         note="the kernel tests' CUDA cases (the CPU cases are CI's)"),
    Step("bench-kernels", 75, gpu=("{py} bench/kernels.py --reps 20 --warmup 5 --out {bench}",),
         stand_in=("{py} bench/kernels.py --help",),
         products=("results/bench/kernels.csv", "results/bench/kernels.md", "results/bench/kernels.png",
                   "results/bench/kernels_conv.csv", "results/bench/kernels_conv.md"),
         note="each op and convolution against the torch op / cuDNN it replaces"),
    Step("alexnet-step", 60, gpu=("{py} bench/alexnet_step.py --only CUDA --steps 8 --out {bench} --name alexnet_step_gpu",),
         stand_in=("{py} bench/alexnet_step.py --help",),
         products=("results/bench/alexnet_step_gpu.csv", "results/bench/alexnet_step_gpu.md"),
         note="training images/s: torch, custom, the cuDNN-conv mix, compiled"),
    sanitizer("memcheck", "{py} -m alexnet2012.kernels.selfcheck --device cuda", 45, "the self-check"),
    sanitizer("racecheck", "{py} -m alexnet2012.kernels.selfcheck --device cuda", 45, "the self-check"),
    sanitizer("synccheck", "{py} -m alexnet2012.kernels.selfcheck --device cuda", 25, "the self-check"),
    sanitizer("initcheck", "{py} -m alexnet2012.kernels.selfcheck --device cuda", 25, "the self-check"),
))

LECUN_RUNS = "results/lecun1989/runs"
KARPATHY_CUDA = ("-m experiment=karpathy_table seed=0 trainer.backend=cuda_persistent trainer.device=cuda "
                 "trainer.progress=false hydra.launcher.n_jobs=1 resume=true "
                 f"hydra.sweep.dir={LECUN_RUNS}/karpathy_table_cuda_persistent")
LECUN1989 = Part("lecun1989", "the fused 1989 kernels on CUDA: the per-example tricks (train_steps_ex, "
                 "train_steps_many), Karpathy's table on cuda_persistent", (
    ENV,
    Step("data", 20, cpu=("{py} bench/gpu_session.py data-check usps mnist",)),
    # The two kernels are one source file each: built side by side (nvcc's share is most of the time:
    # net1989_cuda.cu took 174 s of one core's time here, on torch 2.11.0's headers).
    Step("build", 240, cpu=("{py} -m lecun1989.fused.build & cpu=$!; "
                            "{py} -c 'from lecun1989.fused.build import cuda_extension as c; c(); print(\"built net1989_cuda\")'"
                            "; s=$?; wait $cpu && exit $s",),
         note="net1989_cpu and net1989_cuda (sm_90) side by side; cached in build/ for a rerun"),
    Step("compose", 15, cpu=(f"{{py}} bench/gpu_compose.py lecun1989 '{KARPATHY_CUDA}'",),
         note="every job of the sweep below, composed and checked before the GPU runs it"),
    Step("selfcheck", 30, gpu=("{py} -m lecun1989.fused.selfcheck --steps 32",),
         stand_in=("{py} -m lecun1989.fused.selfcheck --backend fused_cpu --steps 8",),
         note="cuda_persistent against the CPU reference"),
    Step("tests-cuda-tricks", 60, gpu=("{py} -m pytest -q -p no:cacheprovider -rs tests/lecun1989/test_fused_cuda_tricks.py "
                                       "tests/lecun1989/test_fused.py",),
         stand_in=("{py} -m pytest -q -p no:cacheprovider --collect-only tests/lecun1989/test_fused_cuda_tricks.py "
                   "tests/lecun1989/test_fused.py",),
         note="train_steps_ex / train_steps_many against the CPU kernel; the fused tests' GPU cases"),
    sanitizer("memcheck", "{py} -m pytest -q -p no:cacheprovider tests/lecun1989/test_fused_cuda_tricks.py "
              "-k 'many_runs and (karpathy_all or wider_adamw)'", 45, "the trick kernels"),
    sanitizer("racecheck", "{py} -m pytest -q -p no:cacheprovider tests/lecun1989/test_fused_cuda_tricks.py "
              "-k 'many_runs and (karpathy_all or wider_adamw)'", 45, "the trick kernels"),
    Step("karpathy-table-cuda", 85, gpu=(f"{{py}} -m lecun1989.cli {KARPATHY_CUDA} > {{logs}}/karpathy_table_cuda.log 2>&1; "
                                          "s=$?; tail -5 {logs}/karpathy_table_cuda.log; exit $s",),
         products=(f"{LECUN_RUNS}/karpathy_table_cuda_persistent",),
         # Stand-in: a row with five of its tricks, through the real training path on the fused CPU kernel, one pass.
         deep=("{py} -m lecun1989.cli experiment=karpathy_table +row/karpathy_table=dropout_relu seed=0 "
               "trick.more_passes.epochs=1 trainer.backend=fused_cpu trainer.progress=false hydra.run.dir={logs}/smoke/karpathy "
               "> {logs}/smoke_karpathy.log 2>&1 || (tail -20 {logs}/smoke_karpathy.log; exit 1)",),
         note="every row of Karpathy's table, seed 0, one job at a time (records say train_time_s)"),
    Step("speed", 15, gpu=("{py} bench/lecun1989_speed.py --only cuda_persistent --no-tricks --name lecun1989_speed_gpu_rerun --out {bench}",),
         stand_in=("{py} bench/lecun1989_speed.py --help",),
         products=("results/bench/lecun1989_speed_gpu_rerun.csv", "results/bench/lecun1989_speed_gpu_rerun.md"),
         note="cuda_persistent samples/s on this commit (the committed GPU table is an older commit's)"),
), data=("usps", "mnist"))

CIFAR_RUNS = "results/alexnet2012/runs"
CUDA_RUN = "trainer.device=cuda trainer.progress=false resume=true"


# The rehearsal's stand-in for a training sweep: one of its jobs through the real training path on the CPU,
# one short pass over 256 images (the data loaded and verified, the net built, steps, evaluation, the record).
SMOKE = ("trainer.device=cpu trainer.progress=false trainer.epochs=1 data.n_train=256 data.n_val=256 "
         "hydra.run.dir={logs}/smoke/")


def smoke(job: str, name: str) -> str:
    return f"{{py}} -m alexnet2012.cli {job} {SMOKE}{name} > {{logs}}/smoke_{name}.log 2>&1 || (tail -20 {{logs}}/smoke_{name}.log; exit 1)"


def sweep(name: str, timeout: int, args: str, folder: str, note: str, smokes: tuple[str, ...]) -> Step:
    """A training sweep: SIGTERM at its timeout checkpoints each run; the next call resumes it."""
    return Step(name, timeout, gpu=(f"{{py}} -m alexnet2012.cli -m {args} {CUDA_RUN} hydra.sweep.dir={CIFAR_RUNS}/{folder} "
                                    f"> {{logs}}/{name}.log 2>&1; s=$?; tail -4 {{logs}}/{name}.log; exit $s",),
                deep=tuple(smoke(job, f"{name}_{k}") for k, job in enumerate(smokes)),
                products=(f"{CIFAR_RUNS}/{folder}",), note=note)


FIG1 = "experiment=figure1 model=cc_fig1_relu,cc_fig1_tanh"
CIFAR10 = Part("cifar10", "cuda-convnet's CIFAR-10 recipes and the AlexNet paper's Figure 1 on the GPU", (
    ENV,
    Step("data", 30, cpu=("{py} bench/gpu_session.py data-check cifar10",)),
    Step("compose", 20, cpu=(f"{{py}} bench/gpu_compose.py alexnet2012 '-m experiment=cc_layers_80sec' '-m {FIG1}' "
                             "'-m experiment=cc_layers_18pct'",),
         note="every job below, composed and its recipe built"),
    sweep("layers-80sec", 120, "experiment=cc_layers_80sec", "cudaconvnet_cifar10_gpu", "10 epochs",
          ("experiment=cc_layers_80sec",)),
    sweep("figure1", 170, FIG1, "figure1_gpu", "ReLU vs tanh, each until 25% training error (120 epochs at most)",
          ("experiment=figure1 model=cc_fig1_relu", "experiment=figure1 model=cc_fig1_tanh")),
    sweep("layers-18pct", 205, "experiment=cc_layers_18pct", "cudaconvnet_cifar10_gpu",
          "140 epochs; stopped at its timeout with a checkpoint, resumed by the next call", ("experiment=cc_layers_18pct",)),
), data=("cifar10",))

ABL = "experiment=cc_ablations seed=0"
ABLATIONS = Part("ablations", "the 2012-era ablations of layers-18pct on CIFAR-10 (cc_ablations), seed 0 first", (
    ENV,
    Step("data", 30, cpu=("{py} bench/gpu_session.py data-check cifar10",)),
    Step("compose", 25, cpu=(f"{{py}} bench/gpu_compose.py alexnet2012 '-m {ABL}'",), note="the 15 rows, seed 0"),
    sweep("ablations-seed0", 500, ABL, "cc_ablations",
          "15 rows x 30 epochs, one at a time; stopped at its timeout with checkpoints, resumed by the next call "
          "(then seed=1, seed=2)",
          # the rows whose code differs most from the baseline's (autocast, memory format, torch.compile:
          # about 3 minutes of inductor compilation on 2 busy cores)
          tuple(f"experiment=cc_ablations +row/cc_ablations={row}"
                for row in ("baseline", "mixed_precision", "channels_last", "torch_compile"))),
), data=("cifar10",))

PARTS = {p.name: p for p in (KERNELS, LECUN1989, CIFAR10, ABLATIONS)}
MAX_PLANNED_S = 570  # per part: one `run` call (600 s at most) with time to install and pack; a rerun fits in 15 minutes
