"""Random pixel shifts: exact geometry, border fill or wrap, per-image draws, seeded. Simard's
distortions: known geometry (identity, quarter turns, scaling), the background fill, the smoothing
against a reference convolution, and the fused draws as a pure function of (seed, pass, step)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecun1989.augment import AugmentConfig, augment_batch, distort, gaussian_smooth, random_shift
from lecun1989.fused import counter_rng


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


def half(n):
    return torch.full((n, 4), 0.5)  # the uniforms of no rotation, scale 1 and no shear


def test_distort_with_the_neutral_draws_is_the_identity():
    x = torch.rand(5, 1, 16, 16) * 2 - 1
    cfg = AugmentConfig(rotate=30, scale=0.2, shear=0.3)
    # Within float rounding of the sampling grid's pixel centres (bilinear weights 1 - ~1e-7).
    torch.testing.assert_close(distort(x, half(5), None, cfg), x, rtol=0, atol=1e-5)
    # An elastic field of zero noise moves nothing either.
    cfg = AugmentConfig(elastic_alpha=8.0)
    torch.testing.assert_close(distort(x, half(5), torch.zeros(5, 2, 16, 16), cfg), x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("u0, k", [(1.0, 1), (0.0, -1)])
def test_a_quarter_turn_is_rot90(u0, k):
    # rotate=90 with the rotation uniform at 1 (or 0) turns by +90 (or -90) degrees: pixel centres
    # land on pixel centres, so the result is exactly a permutation of the pixels.
    x = torch.rand(2, 1, 16, 16)
    u = half(2)
    u[:, 0] = u0
    out = distort(x, u, None, AugmentConfig(rotate=90))
    # y grows downwards in the image, so a positive angle in (x, y) is a clockwise turn on screen:
    # torch.rot90's k = -1 (its k = 1 is counter-clockwise).
    want = torch.rot90(x, k=-k, dims=(2, 3))
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)


def test_shrinking_fills_the_uncovered_border_with_the_background():
    x = torch.ones(1, 1, 16, 16)
    u = half(1)
    u[:, 1:3] = 0.0  # both scales at 1 - 0.5: the digit shrinks to half its size
    out = distort(x, u, None, AugmentConfig(scale=0.5, fill=-1.0))
    assert out[0, 0, 4:12, 4:12].eq(1).all()  # the centre still ink
    assert torch.allclose(out[0, 0, 0], torch.full((16,), -1.0)) and torch.allclose(out[0, 0, :, 0], torch.full((16,), -1.0))
    # A blank image stays blank under any distortion (the fill is the background).
    blank = torch.full((3, 1, 16, 16), -1.0)
    cfg = AugmentConfig(rotate=20, scale=0.2, shear=0.2, elastic_alpha=10)
    torch.testing.assert_close(distort(blank, torch.rand(3, 4), torch.rand(3, 2, 16, 16) * 2 - 1, cfg), blank)


@pytest.mark.parametrize("sigma", [0.7, 2.3, 4.0])
def test_smoothing_equals_a_reflect_padded_gaussian_convolution(sigma):
    field = torch.rand(4, 2, 16, 16) * 2 - 1
    radius = max(1, min(math.ceil(3 * sigma), 15))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    ref = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(2, 1, 1, -1), groups=2)
    ref = F.conv2d(F.pad(ref, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(2, 1, -1, 1), groups=2)
    torch.testing.assert_close(gaussian_smooth(field, sigma), ref, rtol=0, atol=1e-6)


def test_the_elastic_field_moves_pixels_by_about_what_alpha_says():
    # Smoothed uniform noise has a small std (~0.07 at sigma 2.3), times alpha: displacements of
    # about a pixel at alpha 8 -- the images change, but not beyond recognition.
    x = torch.rand(64, 1, 16, 16) * 2 - 1
    noise = torch.rand(64, 2, 16, 16) * 2 - 1
    field = gaussian_smooth(noise, 2.3) * 8.0
    assert 0.3 < field.std().item() < 1.5
    out = distort(x, half(64), noise, AugmentConfig(elastic_alpha=8.0, elastic_sigma=2.3))
    assert 0.05 < (out - x).abs().mean().item() < 1.0


def test_the_fused_draws_are_a_pure_function_of_seed_pass_and_step():
    steps = np.arange(0, 300, dtype=np.uint64)
    whole = counter_rng.elastic_noise(4, 2, steps, 16, 16)
    parts = torch.cat([counter_rng.elastic_noise(4, 2, steps[a:b], 16, 16) for a, b in [(0, 37), (37, 200), (200, 300)]])
    assert torch.equal(whole, parts)
    assert whole.min() >= -1 and whole.max() < 1 and abs(whole.mean().item()) < 0.01
    assert not torch.equal(whole, counter_rng.elastic_noise(4, 3, steps, 16, 16))  # another pass, other draws
    assert not torch.equal(whole[:64], whole[64:128])  # blocks differ
    u = counter_rng.affine_uniforms(4, 2, steps)
    assert torch.equal(u[37:200], counter_rng.affine_uniforms(4, 2, steps[37:200]))
    cfg = AugmentConfig(rotate=10, scale=0.1, shear=0.1, elastic_alpha=8.0, shift=1)
    x = torch.rand(300, 1, 16, 16) * 2 - 1
    a = counter_rng.augment(x, cfg, 4, 2, steps)
    b = torch.cat([counter_rng.augment(x[s:e], cfg, 4, 2, steps[s:e]) for s, e in [(0, 100), (100, 300)]])
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_an_empty_chunk_is_returned_as_it_is():
    cfg = AugmentConfig(rotate=10, elastic_alpha=8.0, shift=1)
    empty = torch.zeros(0, 1, 16, 16)
    assert counter_rng.augment(empty, cfg, 0, 0, np.arange(0, dtype=np.uint64)).shape == (0, 1, 16, 16)


def test_eager_augmentation_follows_the_global_seed():
    cfg = AugmentConfig(rotate=10, scale=0.1, shear=0.1, elastic_alpha=8.0, shift=1)
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    torch.manual_seed(3)
    a = augment_batch(x, cfg)
    torch.manual_seed(3)
    assert torch.equal(a, augment_batch(x, cfg))
    assert not torch.equal(a, x)
    assert torch.equal(augment_batch(x, AugmentConfig()), x)


@pytest.mark.parametrize("bad", [{"rotate": -1}, {"rotate": 200}, {"scale": 1.0}, {"shear": -0.1},
                                 {"elastic_alpha": -1}, {"elastic_sigma": 0}])
def test_bad_distortion_values_are_refused(bad):
    with pytest.raises(ValueError):
        AugmentConfig(**bad).validate()
