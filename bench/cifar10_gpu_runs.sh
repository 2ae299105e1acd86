#!/usr/bin/env bash
# The 2012-era CIFAR-10 runs owed to a GPU, in one go: cuda-convnet's three recipes (full schedules),
# Figure 1 (ReLU vs tanh), and the cc_ablations rows; then `repro report` regenerates the tables.
#   bash bench/cifar10_gpu_runs.sh [WHICH]     WHICH: all (default), 80sec, 18pct, 11pct, figure1, ablations
# Needs REPRO_DATA_ROOT with cifar10/. Records go under results/alexnet2012/runs/<sweep>/.
# Rough GPU time (not yet measured): 80sec and figure1 minutes, 18pct and ablations tens of minutes,
# 11pct (520 epochs: 350 + 150 + 10 + 10) an hour or more: run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
APP="${APP:-.venv/bin/alexnet2012}"
common=(trainer.device=cuda trainer.progress=false)
runs=results/alexnet2012/runs
want() { [ "$which" = all ] || [ "$which" = "$1" ]; }
want 80sec && $APP -m experiment=cc_layers_80sec "${common[@]}" hydra.sweep.dir=$runs/cudaconvnet_cifar10_gpu
want 18pct && $APP -m experiment=cc_layers_18pct "${common[@]}" hydra.sweep.dir=$runs/cudaconvnet_cifar10_gpu
want figure1 && $APP -m experiment=figure1 model=cc_fig1_relu,cc_fig1_tanh "${common[@]}" hydra.sweep.dir=$runs/figure1_gpu
want ablations && $APP -m experiment=cc_ablations seed=0,1,2 "${common[@]}" hydra.sweep.dir=$runs/cc_ablations
[ "$which" = 11pct ] && $APP -m experiment=cc_conv_local_11pct "${common[@]}" hydra.sweep.dir=$runs/cudaconvnet_cifar10_gpu
find $runs -name checkpoint.pt -delete
.venv/bin/repro report
