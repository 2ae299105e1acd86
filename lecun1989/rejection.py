"""The paper's rejection figure: how many test digits must be rejected for a given error.

A digit is rejected when the margin between the network's two largest outputs is small; the
error is then counted on the digits kept (misclassified kept / kept). Rejecting by increasing
margin traces the error-versus-rejection curve, and the rejection needed for 1% error is the
figure of merit the 1989 paper gives for its test set. Its text was not reachable here: the
criterion (the difference between the two most active output units) and its number are known
from secondary notes on the paper, named in lecun1989/report/published.py.

Rejection goes by threshold: every digit whose margin is at most the threshold is rejected, so
digits of equal margin are rejected together (no order among ties is invented). The outputs are
the network's output units as it classifies (tanh units for the 1989 nets, logits under
loss=ce). Every finished run that evaluates the test digits records, per test digit, its margin
and whether its top output is right (`rejection.npz`), and the rejection for 1% error in
metrics.json (`rejection`); the report draws the curves from the files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from repro.train.atomic import write_atomic

REJECTION = "rejection.npz"
CRITERION = "reject the digits with the smallest margin between the two largest outputs"
TARGET_ERROR = 1.0  # percent: the error the paper states its rejection for


def margins(outputs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Per digit: the largest output minus the second largest, and whether the largest is the label."""
    out = torch.as_tensor(outputs)
    top2 = out.topk(2, dim=1).values
    correct = out.argmax(1).cpu() == torch.as_tensor(labels).cpu()
    return (top2[:, 0] - top2[:, 1]).cpu().numpy(), correct.numpy().astype(bool)


def rejection_curve(margin, correct) -> tuple[np.ndarray, np.ndarray]:
    """(rejected %, error % of the kept digits) at every threshold, from rejecting none to all.

    A point per distinct margin: rejecting every digit whose margin is at most that value.
    With every digit rejected the error of the (empty) kept set is 0."""
    margin, wrong = np.asarray(margin, dtype=np.float64), ~np.asarray(correct, dtype=bool)
    n = len(margin)
    if n == 0:
        return np.zeros(1), np.zeros(1)
    order = np.argsort(margin, kind="stable")
    m, w = margin[order], wrong[order]
    # k digits rejected: 0, then the end of each group of equal margins.
    ks = np.concatenate(([0], np.flatnonzero(np.diff(m) != 0) + 1, [n]))
    wrong_rejected = np.concatenate(([0], np.cumsum(w)))[ks]
    kept = n - ks
    wrong_kept = int(w.sum()) - wrong_rejected
    error = np.divide(100.0 * wrong_kept, kept, out=np.zeros(len(ks)), where=kept > 0)
    return 100.0 * ks / n, error


def rejection_for_error(margin, correct, target: float = TARGET_ERROR) -> float:
    """The smallest rejection (%) whose kept digits have at most ``target`` % error."""
    rejected, error = rejection_curve(margin, correct)
    ok = error <= target + 1e-9
    return float(rejected[np.argmax(ok)])  # rejecting every digit always qualifies


@torch.no_grad()
def outputs_of(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def save_rejection(run_path: Path, model: torch.nn.Module, x_test: torch.Tensor, y_test: torch.Tensor) -> dict:
    """rejection.npz (per test digit: margin, correct) and metrics.json's `rejection`."""
    margin, correct = margins(outputs_of(model, x_test), y_test)
    margin = margin.astype(np.float32)

    def write(f):
        buf = io.BytesIO()
        np.savez_compressed(buf, margin=margin, correct=correct)
        f.write(buf.getvalue())

    write_atomic(Path(run_path) / REJECTION, write)
    return {"rejection": {"file": REJECTION, "criterion": CRITERION,
                          "test_rejection_for_1pct_error": rejection_for_error(margin, correct)}}


def read_rejection(run_path: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(margin, correct) of a run's record, or None for a run without one (older records,
    data.evaluate_test=false)."""
    path = Path(run_path) / REJECTION
    if not path.is_file():
        return None
    with np.load(path) as f:
        return f["margin"], f["correct"].astype(bool)
