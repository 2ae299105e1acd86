"""Random pixel shifts: exact geometry, border fill or wrap, per-image draws, seeded."""

import torch

from lecun1989.augment import random_shift


def test_shift_moves_content_and_fills_the_border():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        out = random_shift(x, 1, fill=-1.0)
        # Find the (dy, dx) that explains the output: out[i, j] = x[i - dy, j - dx], -1 outside.
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ref = torch.full((4, 4), -1.0)
                for i in range(4):
                    for j in range(4):
                        if 0 <= i - dy < 4 and 0 <= j - dx < 4:
                            ref[i, j] = x[0, 0, i - dy, j - dx]
                if torch.equal(out[0, 0], ref):
                    matches.append((dy, dx))
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 9  # every shift in [-1, 1]^2 occurs


def test_wrap_rolls_instead_of_filling():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    for seed in range(10):
        torch.manual_seed(seed)
        out = random_shift(x, 1, wrap=True)
        assert sorted(out.flatten().tolist()) == list(range(16))  # a permutation: nothing lost, nothing filled
        rolls = [torch.roll(x, (dy, dx), (2, 3)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert any(torch.equal(out, r) for r in rolls)


def test_each_image_gets_its_own_draw_and_a_seed_repeats_them():
    x = torch.randn(64, 1, 16, 16)
    torch.manual_seed(5)
    a = random_shift(x, 1)
    torch.manual_seed(5)
    b = random_shift(x, 1)
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype
    unchanged = sum(torch.equal(a[i], x[i]) for i in range(64))
    assert 0 < unchanged < 20  # about 1 in 9 images draws (0, 0)


def test_zero_shift_is_the_identity():
    x = torch.randn(3, 1, 16, 16)
    assert random_shift(x, 0) is x
