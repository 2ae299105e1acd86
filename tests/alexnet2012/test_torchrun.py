"""A whole alexnet2012 run launched by torchrun: two gloo processes, one record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


@pytest.mark.slow
def test_torchrun_alexnet_run_writes_one_record(imagenet_tree, tmp_path):
    """Two processes, global batch 8 (4 each), through the Hydra app: one run
    directory, rank 0's record, both ranks' RNG in the checkpoint."""
    args = [
        "-m", "alexnet2012.cli", "data=imagenet", f"data.root={imagenet_tree}", "data.image_size=32",
        "data.expected_classes=4", "data.workers=0", "model=alexnet_cifar", "model.num_classes=4",
        "model.init=torch_default", "augment.crop=24", "trainer.device=cpu", "trainer.batch_size=8",
        "trainer.epochs=2", "trainer.progress=false", "trainer.threads=1", "eval.batch_size=5",
        "parallel.mode=ddp", "parallel.ddp_backend=gloo",
    ]
    outputs = tmp_path / "outputs"
    done = subprocess.run([*TORCHRUN, *args], env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "REPRO_CACHE": str(tmp_path / "cache"),
                               "REPRO_OUTPUTS": str(outputs)},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # Hydra made a directory per process (timestamps apart by microseconds);
    # both trained into rank 0's and the other was removed.
    runs = list((outputs / "alexnet2012").iterdir())
    assert len(runs) == 1, runs
    run_dir = runs[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["parallel"]["processes"] == 2
    assert metrics["train_samples"] == 48  # 24 images = 3 full global batches per pass
    assert set(metrics["final"]) == {"val", "val10"}
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng_per_rank"]) == 2
    assert not torch.equal(ckpt["rng_per_rank"][0]["rng"], ckpt["rng_per_rank"][1]["rng"])
    assert done.stdout.count("eval: split val ") == 2  # rank 0 logs; rank 1 is quiet
