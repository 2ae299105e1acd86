"""The persistent CUDA kernel with the per-example tricks (train_steps_ex, train_steps_many)
against the fused CPU kernel, and the counter-based draws both share (net1989_rng.h).

Without a GPU (CI): the kernel compiles and exposes its entry points, cuda_persistent accepts
every per-example trick, and the shared RNG header gives the CPU exactly the draws it made
before the header existed (values pinned below, computed from the CPU kernel before the change).

With a GPU, tolerance: the CUDA and CPU kernels do the eager model's float32 arithmetic and
differ from it only in summation order (and tanhf against Cephes' tanh, both within 2 ulps).
On these toy runs (2 passes of 200 steps, weights up to ~0.6) each is within 2e-6 of eager:
fused_cpu measured <= 4e-7 for every trick (test_fused_tricks.py), the CUDA kernel <= 2e-6 for
the paper's recipe (test_fused.py). Through eager, CUDA and CPU are then within 4e-6 of each
other; we allow that, and the summed loss within 1e-5 relative. The dropout masks are the same
draws bit for bit (test below), so a mask difference (a unit dropped on one side only) would
show as a weight difference of order lr * activation (>1e-3), far above the tolerance.
Many runs in one launch run the same code in each block as a single run: bit-identical.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lecun1989.fused import build, counter_rng, fused_steps, resolve_backend, stepper
from lecun1989.fused.reference import max_weight_difference
from lecun1989.fused.stepper import ACT_CODES, PARAMS, FusedStepper, unsupported
from lecun1989.model import build_model
from repro.config import ConfigError
from repro.train.optim import build_optimizer, build_scheduler

from .test_fused_tricks import CASES, fused_run, make, recipe_of, toy_examples

HAS_GPU = torch.cuda.is_available()
GPU = pytest.mark.skipif(not HAS_GPU, reason="no GPU")
CSRC = Path(build.__file__).resolve().parent / "csrc"
# The AdamW state in global memory (the wider net with AdamW does not fit in shared memory with it).
GPU_CASES = {**CASES, "wider_adamw": {"wider": {}, "adamw": {}}}
# (seed, pass, step) -> the first 6 dropout draws times 2^24, from the CPU kernel before net1989_rng.h.
PINNED = {
    (0, 0, 0): [6749686, 15295420, 7560774, 5707880, 16772677, 2959685],
    (5, 1, 7290): [2094427, 13001214, 6922349, 5300564, 2262433, 3549024],
    (2**40 + 5, 79, 123): [4717361, 11705735, 13295165, 7297399, 9599157, 12653120],
}


# ---- without a GPU ------------------------------------------------------------------


@pytest.mark.parametrize("key", list(PINNED))
def test_the_shared_rng_header_gives_the_cpu_its_old_draws(key):
    draws = build.cpu_extension().dropout_uniforms(*key, 6)
    assert (draws * 2**24).to(torch.int64).tolist() == PINNED[key]
    assert torch.equal(draws.double() * 2**24, torch.tensor(PINNED[key], dtype=torch.float64))  # on the 2^-24 grid


def test_the_counter_rng_has_one_definition_shared_by_both_kernels():
    for name in ("net1989_cpu.cpp", "net1989_cuda.cu"):
        source = (CSRC / name).read_text()
        assert '#include "net1989_rng.h"' in source
        assert "uint64_t mix64(" not in source and "0x9E3779B97F4A7C15" not in source, name
    header = (CSRC / "net1989_rng.h").read_text()
    assert "NET1989_HD inline uint64_t mix64(" in header and "NET1989_HD inline float uniform(" in header


@pytest.mark.skipif(shutil.which("nvcc") is None and build._cuda_home() is None, reason="no nvcc on this machine")
@pytest.mark.skipif(torch.version.cuda is None, reason="torch is a CPU-only build; the CUDA build compiles the kernel")
def test_cuda_extension_compiles_with_the_trick_entry_points():
    ext = build.cuda_extension()
    for name in ("train_steps", "train_steps_ex", "train_steps_many", "dropout_uniforms"):
        assert hasattr(ext, name), name
    cpu = build.cpu_extension()
    # pybind's first doc line is the signature: the CUDA binding takes exactly the CPU's arguments.
    signature = cpu.train_steps_ex.__doc__.lstrip().splitlines()[0]
    assert signature.startswith("train_steps_ex(arg0: torch.Tensor") and signature.endswith("-> float")
    assert ext.train_steps_ex.__doc__.lstrip().splitlines()[0] == signature
    assert ext.dropout_uniforms.__doc__.lstrip().splitlines()[0] == cpu.dropout_uniforms.__doc__.lstrip().splitlines()[0]


@pytest.mark.parametrize("name", list(GPU_CASES))
def test_cuda_persistent_accepts_every_per_example_trick(name):
    recipe = recipe_of(GPU_CASES[name])
    model, opt = make(recipe)
    assert unsupported(model, opt, recipe.loss, 1, "cuda_persistent", recipe.trainer.precision) == []
    # On a CPU model it is refused for the device only, not for the recipe.
    with pytest.raises(ConfigError, match="needs trainer.device=cuda"):
        fused_steps("cuda_persistent", model, opt, recipe.loss, 1, label_smoothing=recipe.label_smoothing)


@pytest.mark.parametrize("selection,message", [
    ({"minibatch": {}}, "trick minibatch"),
    ({"mixed_precision": {}}, "trick mixed_precision"),
])
def test_cuda_persistent_still_refuses_the_batched_tricks(selection, message):
    recipe = recipe_of(selection)
    model, opt = make(recipe)
    with pytest.raises(ConfigError, match=message):
        fused_steps("cuda_persistent", model, opt, recipe.loss, recipe.trainer.batch_size,
                    precision=recipe.trainer.precision)


# ---- on a GPU -----------------------------------------------------------------------


def kernel_args(recipe, model):
    """The recipe's arguments of train_steps_ex / train_steps_many after the parameters."""
    cfg = model.cfg
    return dict(idx=model.h2_inputs.view(cfg.h2_maps, -1).to(torch.int32).contiguous(), pad=float(cfg.pad_value),
                act=ACT_CODES[cfg.activation], out=ACT_CODES[cfg.effective_output_activation],
                loss={"mse": 0, "ce": 1}[recipe.loss], smoothing=float(recipe.label_smoothing),
                dropout=float(cfg.dropout))


@GPU
def test_the_gpu_draws_the_cpu_draws():
    cuda, cpu = build.cuda_extension(), build.cpu_extension()
    for seed, pass_, step in [*PINNED, (3, 0, 1), (2**63 - 1, 2**20, 2**33)]:
        on_gpu = cuda.dropout_uniforms(seed, pass_, step, 384 * 2)
        assert on_gpu.is_cuda and torch.equal(on_gpu.cpu(), cpu.dropout_uniforms(seed, pass_, step, 384 * 2))
    keys = counter_rng.step_keys(7, counter_rng.STREAM_DROPOUT, 2, np.array([11], dtype=np.uint64))
    assert torch.equal(cuda.dropout_uniforms(7, 2, 11, 192).cpu(), torch.from_numpy(counter_rng.uniforms(keys, 192)[0]))


def stepper_on(backend, recipe, seed):
    device = "cuda" if backend == "cuda_persistent" else "cpu"
    model = build_model(recipe.model, seed).to(device)
    opt = build_optimizer(model.parameters(), recipe.optim)
    steps = fused_steps(backend, model, opt, recipe.loss, 1, label_smoothing=recipe.label_smoothing, seed=seed)
    return model, opt, FusedStepper(steps, recipe.augment, seed)


@GPU
@pytest.mark.parametrize("name", list(GPU_CASES))
def test_cuda_trick_matches_the_cpu_kernel(name):
    recipe = recipe_of(GPU_CASES[name])
    xs, ys = toy_examples(200)
    seed, passes, n = 5, 2, len(ys)
    cpu, cpu_opt, cpu_step = stepper_on("fused_cpu", recipe, seed)
    gpu, gpu_opt, gpu_step = stepper_on("cuda_persistent", recipe, seed)
    schedules = [build_scheduler(o, recipe.optim, passes) for o in (cpu_opt, gpu_opt)]
    loss_c = loss_g = 0.0
    xg, yg = xs.cuda(), ys.cuda()
    for e in range(passes):
        loss_c += fused_run(cpu_step, xs, ys, e, 0, n, n)
        # in two chunks: the draws are keyed by (seed, pass, step), not by the call
        loss_g += fused_run(gpu_step, xg, yg, e, 0, 120, n) + fused_run(gpu_step, xg, yg, e, 120, n, n)
        for s in schedules:
            if s is not None:
                s.step()
    torch.cuda.synchronize()
    assert max_weight_difference(cpu, gpu) < 4e-6
    assert loss_g == pytest.approx(loss_c, rel=1e-5)
    assert max_weight_difference(build_model(recipe.model, seed), gpu) > 1e-2  # it trained
    if type(cpu_opt) is torch.optim.AdamW:
        for p, q in zip(cpu.parameters(), gpu.parameters()):
            assert float(cpu_opt.state[p]["step"]) == float(gpu_opt.state[q]["step"]) == passes * n
            # exp_avg moves by (1 - beta1) * g per step: the gradients agree as the weights do
            assert (cpu_opt.state[p]["exp_avg"] - gpu_opt.state[q]["exp_avg"].cpu()).abs().max() < 4e-6


@GPU
def test_the_paper_recipe_on_train_steps_ex_is_the_faithful_kernels_run():
    recipe = recipe_of({})
    xs, ys = (t.cuda() for t in toy_examples(200))
    a, b = (build_model(recipe.model, 3).cuda() for _ in range(2))
    k = kernel_args(recipe, a)
    ext = build.cuda_extension()
    la = ext.train_steps(xs, ys, k["idx"], [getattr(a, p).data for p in PARAMS], 0.03, k["pad"], *k["act"][1:],
                         *k["out"][1:])
    lb = ext.train_steps_ex(xs, ys, k["idx"], [getattr(b, p).data for p in PARAMS], [], [], 0.03, k["pad"], *k["act"],
                            *k["out"], 0, 0.0, 0.0, 0, 0, 0)
    # The same expressions in both kernels; only the compiler's scheduling could differ (we expect 0).
    assert max_weight_difference(a, b) < 2e-6 and lb == pytest.approx(la, rel=1e-6)
    assert max_weight_difference(build_model(recipe.model, 3), b) > 1e-2


@GPU
@pytest.mark.parametrize("name", ["paper", "dropout", "label_smoothing", "karpathy_all", "wider_adamw"])
def test_many_runs_in_one_launch_equal_single_runs(name):
    recipe = recipe_of(GPU_CASES[name])
    R, n, pass_, step0 = 3, 150, 2, 7
    adam = type(make(recipe)[1]) is torch.optim.AdamW
    lrs = [3e-4, 1e-3, 5e-4] if adam else [0.01, 0.03, 0.02]
    seeds = [0, 1, 2**40 + 3]
    numbers = [0.9, 0.999, 1e-8, 1e-4, 4.0] if adam else []  # AdamW: 4 steps taken before
    data = [toy_examples(n, seed=s) for s in range(R)]
    xs = torch.stack([x for x, _ in data]).cuda().contiguous()
    ys = torch.stack([y for _, y in data]).cuda().contiguous()
    singles = [build_model(recipe.model, s).cuda() for s in range(R)]
    k = kernel_args(recipe, singles[0])
    rng = torch.Generator().manual_seed(1)
    # AdamW state as after some steps (positive exp_avg_sq), the same for the stacked and the single runs.
    states = [[torch.randn(getattr(m, p).shape, generator=rng).mul(1e-3).cuda() for p in PARAMS]
              + [torch.rand(getattr(m, p).shape, generator=rng).mul(1e-6).cuda() for p in PARAMS] for m in singles]
    if not adam:
        states = [[] for _ in singles]
    stacked = [torch.stack([getattr(m, p).detach() for m in singles]).contiguous() for p in PARAMS]
    stacked_state = [torch.stack([s[i] for s in states]).contiguous() for i in range(16)] if adam else []
    ext = build.cuda_extension()
    tail = (k["loss"], k["smoothing"], k["dropout"])
    many = ext.train_steps_many(xs, ys, k["idx"], stacked, stacked_state, numbers, lrs, k["pad"], *k["act"], *k["out"],
                                *tail, seeds, pass_, step0)
    single = [ext.train_steps_ex(xs[r], ys[r], k["idx"], [getattr(m, p).data for p in PARAMS], states[r], numbers,
                                 lrs[r], k["pad"], *k["act"], *k["out"], *tail, seeds[r], pass_, step0)
              for r, m in enumerate(singles)]
    torch.cuda.synchronize()
    assert many.dtype == torch.float64 and many.tolist() == single
    for r, m in enumerate(singles):
        for i, p in enumerate(PARAMS):
            assert torch.equal(stacked[i][r], getattr(m, p).detach()), (r, p)
        for i in range(len(stacked_state)):
            assert torch.equal(stacked_state[i][r], states[r][i]), (r, i)
        assert max_weight_difference(build_model(recipe.model, r), m) > 1e-3  # it trained
    assert len(set(single)) == R  # three different runs, not one run three times


@GPU
def test_auto_picks_cuda_persistent_for_the_tricks_once_verified_on_a_gpu():
    recipe = recipe_of(CASES["karpathy_all"])
    model = build_model(recipe.model, 0).cuda()
    opt = build_optimizer(model.parameters(), recipe.optim)
    want = "cuda_persistent" if stepper.CUDA_TRICKS_VERIFIED else "eager"
    assert resolve_backend("auto", model, opt, recipe.loss, 1, recipe.trainer.precision) == want
    paper = build_model(recipe_of(CASES["paper"]).model, 0).cuda()
    sgd = torch.optim.SGD(paper.parameters(), lr=0.03)
    assert resolve_backend("auto", paper, sgd, "mse", 1) == "cuda_persistent"


# ---- the CUDA kernel's logic on the CPU: train_steps_ex_kernel emulated ---------------
#
# Without a GPU the kernel still runs: its source (the section between the markers below)
# compiles for the host against a shim that gives every CUDA thread of a block its own
# std::thread, __syncthreads a std::barrier and a warp's shuffles a per-warp barrier. This
# checks the kernel's indexing, its cross-entropy, dropout and AdamW arithmetic and the
# many-runs table against the CPU kernel. It cannot check what only a GPU has: the launch,
# shared-memory limits, device math (tanhf, expf) or timing.
KERNEL_START = "// ---- the per-example modern tricks: train_steps_ex_kernel"
KERNEL_END = "  if (tid == THREADS - 1) *run.loss = loss_sum;\n}\n"
EMU_SHIM = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <thread>
#include <vector>
#include <torch/extension.h>
#include "net1989_args.h"
#include "net1989_rng.h"
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
struct float4 { float x, y, z, w; };
struct EmuIdx { unsigned x = 0; };
struct EmuBlock { std::barrier<>* bar; std::vector<std::barrier<>*> warp_bar; std::vector<float> shfl; float4* smem; };
inline thread_local EmuBlock* emu_block = nullptr;
inline thread_local EmuIdx threadIdx, blockIdx;
inline void __syncthreads() { emu_block->bar->arrive_and_wait(); }
inline float __shfl_down_sync(unsigned, float v, int off) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* buf = &emu_block->shfl[warp * 32];
  buf[lane] = v;
  emu_block->warp_bar[warp]->arrive_and_wait();
  const float r = lane + off < 32 ? buf[lane + off] : v;
  emu_block->warp_bar[warp]->arrive_and_wait();
  return r;
}
using std::max;
using std::min;
namespace {
using namespace net1989;
__device__ __forceinline__ float warp_sum(float s) {
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  return s;
}
"""
EMU_HOST = r"""
constexpr int T = 256;  // threads per block (REPRO_CUDA_THREADS=256)
void run_block(const Run* runs, const int* idx, const Recipe& rc, int r) {
  std::vector<float4> smem(LayoutEx(rc.d, rc.adam_in_smem).bytes() / 16 + 1, float4{NAN, NAN, NAN, NAN});
  std::barrier<> bar(T);
  std::vector<std::barrier<>*> wb;
  for (int w = 0; w < T / 32; ++w) wb.push_back(new std::barrier<>(32));
  EmuBlock blk{&bar, wb, std::vector<float>(T), smem.data()};
  std::vector<std::thread> threads;
  for (int t = 0; t < T; ++t)
    threads.emplace_back([&, t] { emu_block = &blk; threadIdx.x = t; blockIdx.x = r; train_steps_ex_kernel<T>(runs, idx, rc); });
  for (auto& th : threads) th.join();
  for (auto* b : wb) delete b;
}
}  // namespace

// train_steps_many's launch on CPU tensors (stacked [R, ...]), the blocks one after another.
torch::Tensor many(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                   std::vector<torch::Tensor> state, std::vector<double> adam, std::vector<double> lrs, double pad,
                   std::vector<double> acts, int64_t loss_kind, double smoothing, double dropout,
                   std::vector<int64_t> seeds, int64_t pass, int64_t step0, bool adam_in_smem) {
  const int64_t R = xs.size(0), n = ys.size(1);
  const bool on = !state.empty();
  Recipe rc{};
  rc.d = Dims{(int)params[0].size(1), (int)idx.size(0), (int)idx.size(1), (int)params[4].size(1)};
  rc.pad = (float)pad;
  rc.act = Act{(int)acts[0], (float)acts[1], (float)acts[2]};
  rc.out_act = Act{(int)acts[3], (float)acts[4], (float)acts[5]};
  rc.loss = (int)loss_kind, rc.smoothing = (float)smoothing, rc.dropout = (float)dropout;
  rc.keep_scale = 1.f / (1.f - rc.dropout), rc.adam = on, rc.adam_in_smem = on && adam_in_smem;
  rc.pass = (uint64_t)pass, rc.step0 = (uint64_t)step0, rc.n_steps = n;
  auto factors = torch::zeros({R, std::max<int64_t>(n, 1), 2});
  if (on) rc.beta1 = (float)adam[0], rc.beta2 = (float)adam[1], rc.eps = (float)adam[2];
  for (int64_t r = 0; on && r < R; ++r)
    for (int64_t i = 0; i < n; ++i) {
      factors[r][i][0] = adamw_step_size((float)lrs[r], rc.beta1, adam[4] + i + 1.0);
      factors[r][i][1] = adamw_bc2_sqrt(rc.beta2, adam[4] + i + 1.0);
    }
  auto loss = torch::zeros({R}, torch::kFloat64);
  std::vector<Run> table(R);
  for (int64_t r = 0; r < R; ++r) {
    for (int p = 0; p < 8; ++p) {
      table[r].p[p] = params[p][r].data_ptr<float>();
      table[r].m[p] = on ? state[p][r].data_ptr<float>() : nullptr;
      table[r].v[p] = on ? state[8 + p][r].data_ptr<float>() : nullptr;
    }
    table[r].xs = xs[r].data_ptr<float>(), table[r].ys = ys[r].data_ptr<int64_t>();
    table[r].adam_f = factors[r].data_ptr<float>(), table[r].seed = (uint64_t)seeds[r];
    table[r].lr = (float)lrs[r], table[r].decay = 1.f - table[r].lr * (on ? (float)adam[3] : 0.f);
    table[r].loss = loss.data_ptr<double>() + r;
  }
  for (int64_t r = 0; r < R; ++r) run_block(table.data(), idx.data_ptr<int>(), rc, (int)r);
  return loss;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("many", &many); }
"""


@pytest.fixture(scope="module")
def emulated():
    """The CUDA source's train_steps_ex_kernel built for the host (cached like the real kernels)."""
    from repro.native_build import load_extension

    source = (CSRC / "net1989_cuda.cu").read_text()
    start = source.index(KERNEL_START)
    kernel = source[start : source.index(KERNEL_END, start) + len(KERNEL_END)]
    folder = build.build_dir("net1989_cuda_emulated")
    cpp = folder / "net1989_cuda_emulated.cpp"
    text = EMU_SHIM + kernel.replace("extern __shared__ float4 smem_raw[];", "float4* smem_raw = emu_block->smem;") + EMU_HOST
    if not cpp.exists() or cpp.read_text() != text:  # rewritten only on change: the build stays cached
        cpp.write_text(text)
    return load_extension(build.FAMILY, "net1989_cuda_emulated", [cpp], what="the emulated CUDA kernel",
                          extra_include_paths=[str(CSRC)],
                          extra_cflags=["-O2", "-std=c++20", "-pthread", "-Wno-unknown-pragmas"], extra_ldflags=["-pthread"])


@pytest.mark.slow
@pytest.mark.parametrize("name,adam_in_smem", [
    ("paper", True), ("relu", True), ("label_smoothing", True), ("dropout", True), ("adamw_linear", False),
    ("karpathy_all", True), ("karpathy_all", False), ("wider", True), ("wider_adamw", False),
])
def test_the_cuda_kernel_emulated_on_the_cpu_matches_the_cpu_kernel(emulated, name, adam_in_smem):
    """Two runs in one emulated launch against two CPU train_steps_ex calls, 40 steps each.
    Measured: weights within 2.1e-7 (AdamW rows; 1.5e-8 for SGD), summed losses within 5e-8
    relative (summation order, glibc's tanhf against Cephes'). We allow 1e-6 and 1e-6."""
    recipe = recipe_of(GPU_CASES[name])
    R, n, pass_, step0 = 2, 40, 3, 11
    models = [build_model(recipe.model, 5 + r) for r in range(R)]
    k = kernel_args(recipe, models[0])
    adam = type(make(recipe)[1]) is torch.optim.AdamW
    lrs = [recipe.optim.lr, recipe.optim.lr / 2]
    numbers = [0.9, 0.999, 1e-8, recipe.optim.weight_decay, 2.0] if adam else []
    data = [toy_examples(n, seed=r) for r in range(R)]
    xs, ys = (torch.stack([d[i] for d in data]).contiguous() for i in (0, 1))
    g = torch.Generator().manual_seed(0)
    states = [[torch.randn(getattr(m, p).shape, generator=g) * 1e-3 for p in PARAMS]
              + [torch.rand(getattr(m, p).shape, generator=g) * 1e-6 for p in PARAMS] if adam else [] for m in models]
    stacked = [torch.stack([getattr(m, p).detach().clone() for m in models]).contiguous() for p in PARAMS]
    stacked_state = [torch.stack([s[i].clone() for s in states]).contiguous() for i in range(16)] if adam else []
    seeds, tail = [5, 2**40 + 1], (k["loss"], k["smoothing"], k["dropout"])
    loss_emu = emulated.many(xs, ys, k["idx"], stacked, stacked_state, numbers, lrs, k["pad"], [*k["act"], *k["out"]],
                             *tail, seeds, pass_, step0, adam_in_smem)
    cpu = build.cpu_extension()
    loss_cpu = [cpu.train_steps_ex(xs[r], ys[r], k["idx"], [getattr(m, p).data for p in PARAMS], states[r], numbers,
                                   lrs[r], k["pad"], *k["act"], *k["out"], *tail, seeds[r], pass_, step0)
                for r, m in enumerate(models)]
    for r, m in enumerate(models):
        diff = max((stacked[i][r] - getattr(m, p).detach()).abs().max().item() for i, p in enumerate(PARAMS))
        assert diff < 1e-6, (r, diff)
        for i in range(len(stacked_state)):
            assert (stacked_state[i][r] - states[r][i]).abs().max() < 1e-6
        assert loss_emu[r].item() == pytest.approx(loss_cpu[r], rel=1e-6)
        assert max_weight_difference(build_model(recipe.model, 5 + r), m) > 1e-2  # it trained
