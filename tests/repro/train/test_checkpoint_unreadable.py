"""An unreadable checkpoint.pt (random bytes, an empty file) is one line saying so and
how to start over; it never passes on torch's advice to load it with weights_only=False
(that would run whatever pickled code the file holds) (issue 37, item 8)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from repro.train.checkpoint import ResumeError, load_checkpoint
from repro.train.distributed import World
from repro.train.record import RunDir


def task():
    model = torch.nn.Linear(3, 2)
    return SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), scheduler=None)


@pytest.mark.parametrize("content,reason", [
    (os.urandom(4096), "4,096 bytes that are not a checkpoint this code wrote"),
    (b"", "empty (0 bytes)"),
])
def test_an_unreadable_checkpoint_says_so_and_how_to_start_over(tmp_path, content, reason):
    run = RunDir(tmp_path)
    run.checkpoint.write_bytes(content)
    with pytest.raises(ResumeError) as caught:
        load_checkpoint(run, task(), {"seed": 0}, World(0, 1))
    message = str(caught.value)
    assert message == (f"cannot resume {tmp_path}: its checkpoint {run.checkpoint} is unreadable ({reason}); "
                       f"to start over, choose another hydra.run.dir / hydra.sweep.dir, or delete {run.checkpoint} "
                       "and rerun with resume=true to train this run from its first pass")
    assert "weights_only" not in message and "\n" not in message
