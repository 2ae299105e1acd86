"""Test-time augmentation (lecun1989/tta.py): the nine views, how they are averaged, the record."""

import torch

from lecun1989.tta import SHIFTS, tta_predict, tta_record


class Spy(torch.nn.Module):
    """Records every batch it is shown; outputs come from ``fn``(call index, batch)."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.seen = fn, []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.fn(len(self.seen) - 1, x)


def test_the_nine_views_are_the_one_pixel_shifts_with_the_background_filled():
    x = torch.full((1, 1, 16, 16), -1.0)
    x[0, 0, 0, 5] = 1.0  # one ink pixel on the top edge: a shift up loses it
    spy = Spy(lambda i, b: torch.zeros(len(b), 10))
    tta_predict(spy, x, "ce")
    assert len(spy.seen) == 9 and len(SHIFTS) == 9
    ink = [tuple((v[0, 0] == 1).nonzero().flatten().tolist()) for v in spy.seen]
    expected = [((0 + dy, 5 + dx) if 0 + dy >= 0 else ()) for dy, dx in SHIFTS]
    assert ink == expected
    assert all(float(v.min()) == -1.0 for v in spy.seen)  # the uncovered border is background, not wrapped ink


def test_softmax_nets_average_probabilities_and_mse_nets_their_outputs():
    # View 0 says class 0 very loudly, the other eight say class 1 mildly: the mean logit picks 0,
    # the mean probability picks 1.
    def outputs(i, b):
        row = torch.tensor([10.0, 0.0]) if i == 0 else torch.tensor([0.0, 1.0])
        return row.expand(len(b), 2)

    x = torch.zeros(3, 1, 16, 16)
    assert tta_predict(Spy(outputs), x, "ce").tolist() == [1, 1, 1]
    assert tta_predict(Spy(outputs), x, "mse").tolist() == [0, 0, 0]


def test_the_record_counts_misses_per_split_and_batches_do_not_matter():
    torch.manual_seed(0)
    x = torch.rand(50, 1, 16, 16) * 2 - 1
    y = torch.arange(50) % 10
    spy = Spy(lambda i, b: torch.nn.functional.one_hot(torch.full((len(b),), 3), 10).float())
    rec = tta_record(spy, {"holdout": (x[:20], y[:20]), "test": (x, y)}, "ce")["tta"]
    assert rec["holdout"] == {"error": 90.0, "misses": 18} and rec["test"] == {"error": 90.0, "misses": 45}
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))
    assert torch.equal(tta_predict(model, x, "ce", batch_size=7), tta_predict(model, x, "ce"))
    model.train()
    tta_predict(model, x, "ce")
    assert model.training  # the mode it was in is restored
