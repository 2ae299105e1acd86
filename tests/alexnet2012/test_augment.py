"""AlexNet 2012 preprocessing: training-set stats, PCA lighting, crops, flips, 10-crop testing."""

from __future__ import annotations

import math

import pytest
import torch

from alexnet2012.augment import (
    AugmentConfig,
    TrainDraws,
    apply_train,
    average_softmax,
    center_batch,
    center_offset,
    draw_train,
    lighting_shift,
    ten_crop_batch,
    ten_crop_offsets,
    train_batch,
)
from alexnet2012.stats import ImageStats, compute_stats, load_stats, pca, save_stats
from repro.config import ConfigError, parse

# The widely used ImageNet RGB PCA (fb.resnet.torch), eigenvalues for pixels in [0, 1].
CLASSIC_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045], dtype=torch.float64)
CLASSIC_EIGVEC = torch.tensor(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]], dtype=torch.float64
)


def classic_stats(size: int, mean: torch.Tensor | None = None) -> ImageStats:
    """The classic PCA in 0..255 units squared, as compute_stats would store it."""
    mean = torch.zeros(3, size, size) if mean is None else mean
    return ImageStats(mean=mean, eigval=CLASSIC_EIGVAL * 255**2, eigvec=CLASSIC_EIGVEC, count=1)


def position_image(n: int, size: int) -> torch.Tensor:
    """uint8 (n, 3, size, size): channel 0 = row, channel 1 = column, channel 2 = image index."""
    rows = torch.arange(size)[:, None].expand(size, size)
    cols = torch.arange(size)[None, :].expand(size, size)
    one = torch.stack([rows, cols, torch.zeros(size, size, dtype=torch.long)])
    x = one[None].repeat(n, 1, 1, 1)
    x[:, 2] = torch.arange(n)[:, None, None]
    return x.to(torch.uint8)


def reference_train(x, stats, cfg, draws):
    """A per-image loop doing what the paper says, to check the vectorised gather against."""
    c, out = cfg.crop, []
    for i in range(x.shape[0]):
        img = x[i].float()
        if cfg.mean == "pixel":
            img = img - stats.mean
        elif cfg.mean == "channel":
            img = img - stats.channel_mean[:, None, None]
        t, l = int(draws.top[i]), int(draws.left[i])
        patch = img[:, t : t + c, l : l + c]
        if draws.flip[i]:
            patch = patch.flip(-1)
        out.append(patch + lighting_shift(draws.alpha[i : i + 1], stats, cfg)[0][:, None, None])
    return torch.stack(out)


# ---------------------------------------------------------------- PCA lighting


def test_lighting_on_a_constant_image_is_eigvec_times_alpha_eigval():
    cfg = AugmentConfig(crop=5, mean="none")
    x = torch.full((2, 3, 8, 8), 100, dtype=torch.uint8)
    out = train_batch(x, classic_stats(8), cfg, torch.Generator().manual_seed(0))

    # Draw the alphas the way train_batch does: top, left, flip, then N(0, 0.1) alphas.
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        torch.randint(0, 4, (2,), generator=g)
    alpha = torch.randn(2, 3, generator=g, dtype=torch.float64) * 0.1
    # "unit": the paper's formula with pixels in [0, 1], times 255 back to pixel units.
    expected = (alpha * CLASSIC_EIGVAL * 255) @ CLASSIC_EIGVEC.T
    shift = out - 100
    # Every pixel of one image gets the same RGB shift.
    assert torch.equal(shift.amax(dim=(2, 3)), shift.amin(dim=(2, 3)))
    torch.testing.assert_close(shift[:, :, 0, 0], expected.float(), rtol=0, atol=1e-5)
    # Seed 0's numbers, so a change in the draw order shows up here.
    torch.testing.assert_close(
        shift[:, :, 0, 0], torch.tensor([[-4.2095, -4.0866, -3.8561], [1.6877, 1.8560, 2.2750]]), rtol=0, atol=1e-4
    )


def test_lighting_units_options():
    stats = classic_stats(4)
    alpha = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]], dtype=torch.float64)
    lam = CLASSIC_EIGVAL * 255**2
    for units, scale in (("unit", lam / 255), ("pixel", lam), ("sqrt", lam.sqrt())):
        shift = lighting_shift(alpha, stats, AugmentConfig(lighting_units=units))
        expected = torch.stack([CLASSIC_EIGVEC[:, 0] * scale[0], -2 * CLASSIC_EIGVEC[:, 2] * scale[2]])
        torch.testing.assert_close(shift, expected.float())
    # alpha = 1 on the first component in "unit" units: 0.2175 * 255 = 55.46 pixel levels along p1.
    first = lighting_shift(alpha, stats, AugmentConfig())[0]
    torch.testing.assert_close(first, torch.tensor([-31.474, -32.212, -32.367]), rtol=0, atol=1e-3)


def test_zero_lighting_adds_nothing_and_keeps_the_crops():
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    stats = classic_stats(8, mean=torch.full((3, 8, 8), 120.0))
    lit = train_batch(x, stats, AugmentConfig(crop=5), torch.Generator().manual_seed(3))
    dark = train_batch(x, stats, AugmentConfig(crop=5, lighting_std=0.0), torch.Generator().manual_seed(3))
    draws = draw_train(16, 8, AugmentConfig(crop=5, lighting_std=0.0), torch.Generator().manual_seed(3))
    assert torch.equal(draws.alpha, torch.zeros(16, 3, dtype=torch.float64))
    # Unlit = exactly the centred crop; lit differs only by a per-image constant.
    assert torch.equal(dark, reference_train(x, stats, AugmentConfig(crop=5, lighting_std=0.0), draws))
    diff = lit - dark
    torch.testing.assert_close(diff.amax(dim=(2, 3)), diff.amin(dim=(2, 3)), rtol=0, atol=1e-4)
    assert diff.abs().max() > 1.0


def test_lighting_spread_along_each_eigenvector_is_std_times_eigval():
    n = 4000
    x = torch.full((n, 3, 2, 2), 128, dtype=torch.uint8)
    out = train_batch(x, classic_stats(2), AugmentConfig(crop=1, mean="none"), torch.Generator().manual_seed(7))
    shift = (out[:, :, 0, 0] - 128).double()
    # Coefficients along p1, p2, p3 (the classic eigvec is only nearly orthonormal: solve, don't transpose).
    coeff = torch.linalg.solve(CLASSIC_EIGVEC, shift.T).T
    expected = 0.1 * CLASSIC_EIGVAL * 255  # [5.546, 0.479, 0.115] pixel levels
    torch.testing.assert_close(coeff.std(dim=0), expected, rtol=0.05, atol=0)
    torch.testing.assert_close(coeff.mean(dim=0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=0.1 * expected.max())
    # The three coefficients are independent.
    corr = torch.corrcoef(coeff.T)
    assert (corr - torch.eye(3, dtype=torch.float64)).abs().max() < 0.06


# ---------------------------------------------------------------- stats


# A known RGB covariance: eigenvalues 900, 100, 16 (pixel units squared) along the
# classic ImageNet directions, made exactly orthonormal and signed the way pca() signs
# them (largest-|.| component positive; no ties, so rounding cannot flip a sign).
TRUE_EIGVAL = torch.tensor([900.0, 100.0, 16.0], dtype=torch.float64)
_u, _, _vt = torch.linalg.svd(CLASSIC_EIGVEC)
TRUE_EIGVEC = (_u @ _vt) * torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)


def known_cov_images(n: int = 64, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, size, size, 3, generator=g, dtype=torch.float64)
    rgb = 120 + z @ (TRUE_EIGVEC * TRUE_EIGVAL.sqrt()).T
    return rgb.round().clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2).contiguous()


def test_compute_stats_recovers_mean_image_and_pca():
    x = known_cov_images()
    stats = compute_stats([x])
    assert stats.count == 64 and stats.mean.dtype == torch.float32 and stats.mean.shape == (3, 16, 16)
    assert torch.equal(stats.mean, x.double().mean(dim=0).float())
    # The exact sample covariance of these pixels...
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1).double()
    torch.testing.assert_close(stats.cov, torch.cov(pixels, correction=0), rtol=1e-10, atol=1e-8)
    # ...and, within sampling error (16384 pixels), the covariance they were drawn from.
    torch.testing.assert_close(stats.eigval, TRUE_EIGVAL, rtol=0.05, atol=0)
    torch.testing.assert_close(stats.eigvec, TRUE_EIGVEC, rtol=0, atol=0.03)
    torch.testing.assert_close(stats.channel_mean, torch.full((3,), 120.0), rtol=0, atol=0.5)


def test_compute_stats_streaming_is_exact_and_order_free():
    x = known_cov_images()
    whole = compute_stats([x])
    parts = compute_stats([x[:10], x[10:37], x[37:]])
    backwards = compute_stats([x[37:], x[:10], x[10:37]])
    for other in (parts, backwards):
        assert other.count == whole.count
        for name in ("mean", "eigval", "eigvec"):
            assert torch.equal(getattr(other, name), getattr(whole, name)), name


def test_pca_order_and_sign_convention():
    # eigh returns ascending eigenvalues with arbitrary signs; pca sorts and signs them.
    eigval, eigvec = pca(TRUE_EIGVEC @ torch.diag(TRUE_EIGVAL) @ TRUE_EIGVEC.T)
    torch.testing.assert_close(eigval, TRUE_EIGVAL)
    torch.testing.assert_close(eigvec, TRUE_EIGVEC)
    pivot = eigvec.abs().argmax(dim=0)
    assert pivot.tolist() == [2, 0, 1] and (eigvec[pivot, torch.arange(3)] > 0).all()
    # A rank-deficient covariance (grey images) gives eigenvalues >= 0, not -1e-14.
    eigval, _ = pca(torch.full((3, 3), 50.0, dtype=torch.float64))
    torch.testing.assert_close(eigval, torch.tensor([150.0, 0.0, 0.0], dtype=torch.float64))
    assert (eigval >= 0).all()


def test_compute_stats_errors():
    with pytest.raises(ValueError, match="no images"):
        compute_stats([])
    with pytest.raises(TypeError, match="uint8"):
        compute_stats([torch.zeros(2, 3, 4, 4)])
    with pytest.raises(ValueError, match="differs"):
        compute_stats([torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, 3, 5, 5, dtype=torch.uint8)])


def test_save_load_round_trip(tmp_path):
    stats = compute_stats([known_cov_images(n=8, size=6)])
    path = tmp_path / "stats" / "imagenet_stats.pt"
    save_stats(stats, path)
    assert [p.name for p in path.parent.iterdir()] == ["imagenet_stats.pt"]  # no temp file left
    back = load_stats(path)
    assert back.count == 8
    for name in ("mean", "eigval", "eigvec"):
        assert torch.equal(getattr(back, name), getattr(stats, name)), name


def test_load_stats_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="compute_stats"):
        load_stats(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable"):
        load_stats(tmp_path / "junk.pt")
    torch.save({"mean": torch.zeros(3, 2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an image stats file"):
        load_stats(tmp_path / "other.pt")


# ---------------------------------------------------------------- test-time crops


def test_center_offset_floors_odd_differences():
    assert center_offset(8, 5) == 1
    assert center_offset(9, 5) == 2
    assert center_offset(256, 224) == 16
    assert center_offset(256, 227) == 14  # 29 spare pixels: 14 before, 15 after
    assert ten_crop_offsets(256, 224) == [(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)]
    with pytest.raises(ValueError, match="does not fit"):
        center_offset(32, 33)


@pytest.mark.parametrize(
    "size,crop,expected",
    [(8, 5, [(0, 0), (0, 3), (3, 0), (3, 3), (1, 1)]), (256, 224, [(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)])],
)
def test_ten_crop_geometry(size, crop, expected):
    x = position_image(2, size)
    crops = ten_crop_batch(x, classic_stats(size), AugmentConfig(crop=crop, mean="none"))
    assert crops.shape == (10, 2, 3, crop, crop) and crops.dtype == torch.float32
    steps = torch.arange(crop, dtype=torch.float32)
    for k, (top, left) in enumerate(expected):
        for n in range(2):
            assert torch.equal(crops[k, n, 0], (top + steps)[:, None].expand(crop, crop))
            assert torch.equal(crops[k, n, 1], (left + steps)[None, :].expand(crop, crop))
            assert torch.equal(crops[k, n, 2], torch.full((crop, crop), float(n)))
        # The mirrored patch is the exact flip of its unmirrored one.
        assert torch.equal(crops[k + 5], crops[k].flip(-1))
        assert crops[k + 5, 0, 1, 0, 0] == left + crop - 1
    assert torch.equal(center_batch(x, classic_stats(size), AugmentConfig(crop=crop, mean="none")), crops[4])


@pytest.mark.parametrize("mode", ["pixel", "channel", "none"])
def test_test_crops_subtract_the_mean_before_mirroring(mode):
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8, generator=g)
    mean = torch.rand(3, 8, 8, generator=g) * 255
    stats = classic_stats(8, mean=mean)
    cfg = AugmentConfig(crop=5, mean=mode)
    full = x.float() - {"pixel": mean, "channel": stats.channel_mean[:, None, None], "none": torch.zeros(())}[mode]
    crops = ten_crop_batch(x, stats, cfg)
    for k, (t, l) in enumerate(ten_crop_offsets(8, 5)):
        torch.testing.assert_close(crops[k], full[:, :, t : t + 5, l : l + 5])
        torch.testing.assert_close(crops[k + 5], full[:, :, t : t + 5, l : l + 5].flip(-1))
    torch.testing.assert_close(center_batch(x, stats, cfg), full[:, :, 1:6, 1:6])


def test_average_softmax():
    logits = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]])  # 2 patches, 1 image, 2 classes
    torch.testing.assert_close(average_softmax(logits), torch.tensor([[0.625, 0.375]]))
    same = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(average_softmax(same.expand(10, 4, 3)), torch.softmax(same, dim=-1))


# ---------------------------------------------------------------- random training crops


def test_random_crops_cover_every_offset_and_flip_half_the_time():
    n, size, crop = 2000, 8, 5
    x = position_image(n, size)
    cfg = AugmentConfig(crop=crop, mean="none", lighting_std=0.0)
    out = train_batch(x, classic_stats(size), cfg, torch.Generator().manual_seed(0))
    assert out.shape == (n, 3, crop, crop) and out.dtype == torch.float32
    top = out[:, 0, 0, 0].long()
    left = out[:, 1, 0].amin(dim=-1).long()
    flipped = out[:, 1, 0, 0] > out[:, 1, 0, 1]
    # Each offset 0..3 on each axis, both extremes included, about n/4 times.
    for offsets in (top, left):
        counts = torch.bincount(offsets, minlength=4)
        assert counts.shape == (4,) and counts.min() > 420 and counts.max() < 580, counts
    assert 0.46 < flipped.float().mean() < 0.54
    # Every patch is the intact crop: rows, columns (mirrored or not) and image index.
    steps = torch.arange(crop)
    assert torch.equal(out[:, 0].long(), (top[:, None] + steps)[:, :, None].expand(n, crop, crop))
    cols = left[:, None] + torch.where(flipped[:, None], crop - 1 - steps, steps)
    assert torch.equal(out[:, 1].long(), cols[:, None, :].expand(n, crop, crop))
    assert torch.equal(out[:, 2, 0, 0].long(), torch.arange(n) % 256)


def test_train_batch_matches_a_per_image_loop_in_every_mean_mode():
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (12, 3, 10, 10), dtype=torch.uint8, generator=g)
    stats = classic_stats(10, mean=torch.rand(3, 10, 10, generator=g) * 255)
    for mode in ("pixel", "channel", "none"):
        cfg = AugmentConfig(crop=7, mean=mode)
        draws = draw_train(12, 10, cfg, torch.Generator().manual_seed(9))
        assert draws.flip.any() and not draws.flip.all()
        out = train_batch(x, stats, cfg, torch.Generator().manual_seed(9))
        torch.testing.assert_close(out, reference_train(x, stats, cfg, draws), rtol=0, atol=1e-4)
        assert torch.equal(out, apply_train(x, stats, cfg, draws))


def test_train_batch_is_deterministic_under_the_generator():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    stats = classic_stats(32, mean=torch.full((3, 32, 32), 110.0))
    cfg = AugmentConfig(crop=24)
    a = train_batch(x, stats, cfg, torch.Generator().manual_seed(11))
    b = train_batch(x, stats, cfg, torch.Generator().manual_seed(11))
    c = train_batch(x, stats, cfg, torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # One generator across two batches continues its stream: the second batch differs.
    g = torch.Generator().manual_seed(11)
    first, second = train_batch(x, stats, cfg, g), train_batch(x, stats, cfg, g)
    assert torch.equal(first, a) and not torch.equal(second, a)


def test_flip_off_keeps_the_crops_and_never_mirrors():
    x = position_image(200, 8)
    stats = classic_stats(8)
    on = draw_train(200, 8, AugmentConfig(crop=5), torch.Generator().manual_seed(4))
    off = draw_train(200, 8, AugmentConfig(crop=5, flip=False), torch.Generator().manual_seed(4))
    assert on.flip.any() and not off.flip.any()
    assert torch.equal(on.top, off.top) and torch.equal(on.left, off.left) and torch.equal(on.alpha, off.alpha)
    out = train_batch(x, stats, AugmentConfig(crop=5, flip=False, mean="none", lighting_std=0.0), torch.Generator())
    assert (out[:, 1, :, 1:] > out[:, 1, :, :-1]).all()


def test_imagenet_sizes():
    x = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    stats = classic_stats(256, mean=torch.full((3, 256, 256), 118.0))
    cfg = AugmentConfig()
    assert (cfg.crop, cfg.flip, cfg.lighting_std, cfg.mean) == (224, True, 0.1, "pixel")
    assert train_batch(x, stats, cfg, torch.Generator().manual_seed(0)).shape == (2, 3, 224, 224)
    assert center_batch(x, stats, cfg).shape == (2, 3, 224, 224)
    assert ten_crop_batch(x, stats, cfg).shape == (10, 2, 3, 224, 224)
    draws = draw_train(1000, 256, cfg, torch.Generator().manual_seed(0))
    assert draws.top.min() == 0 and draws.top.max() == 32 and draws.left.min() == 0 and draws.left.max() == 32


def test_input_errors():
    stats = classic_stats(8)
    cfg = AugmentConfig(crop=5)
    with pytest.raises(ValueError, match="mean image is 8x8"):
        center_batch(torch.zeros(1, 3, 10, 10, dtype=torch.uint8), stats, cfg)
    with pytest.raises(ValueError, match="uint8"):
        center_batch(torch.zeros(1, 3, 8, 8), stats, cfg)
    with pytest.raises(ValueError, match="does not fit"):
        train_batch(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), classic_stats(4), cfg, torch.Generator())
    draws = draw_train(3, 8, cfg, torch.Generator())
    with pytest.raises(ValueError, match="batch size"):
        apply_train(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), stats, cfg, draws)
    assert isinstance(draws, TrainDraws)


def test_config_parses_from_a_mapping():
    cfg = parse(AugmentConfig, {"crop": 227, "mean": "channel", "lighting_std": 0}, "augment")
    assert cfg == AugmentConfig(crop=227, mean="channel", lighting_std=0.0)
    with pytest.raises(ConfigError, match="augment.mean"):
        parse(AugmentConfig, {"mean": "median"}, "augment")
    with pytest.raises(ConfigError, match="lighting_std"):
        parse(AugmentConfig, {"lighting_std": -0.1}, "augment")
    with pytest.raises(ConfigError, match="crop"):
        parse(AugmentConfig, {"crop": 0}, "augment")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    stats = classic_stats(16, mean=torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1)) * 255)
    cfg = AugmentConfig(crop=12)
    cpu = train_batch(x, stats, cfg, torch.Generator().manual_seed(3))
    gpu = train_batch(x.cuda(), stats, cfg, torch.Generator().manual_seed(3))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)
    torch.testing.assert_close(ten_crop_batch(x.cuda(), stats, cfg).cpu(), ten_crop_batch(x, stats, cfg))
    torch.testing.assert_close(compute_stats([x.cuda()]).eigvec, compute_stats([x]).eigvec)


# ---------------------------------------------------------------- padding (He et al. 2016's CIFAR recipe)


def test_pad_crop_reads_a_zero_border_around_each_image():
    # pad 4, crop 32 of 32: each patch is the image shifted by (top-4, left-4), zero where it left the image
    # (zero *after* mean subtraction); every shift from -4 to +4 is drawn; the test view never pads.
    size, pad = 32, 4
    x = position_image(512, size)
    mean = torch.full((3, size, size), 10.0)
    stats = classic_stats(size, mean)
    cfg = AugmentConfig(crop=size, flip=False, lighting_std=0.0, pad=pad)
    draws = draw_train(512, size, cfg, torch.Generator().manual_seed(0))
    assert int(draws.top.min()) == 0 and int(draws.top.max()) == 2 * pad  # offsets over 0..S+2p-crop
    out = apply_train(x, stats, cfg, draws)
    assert out.shape == (512, 3, size, size) and out.dtype == torch.float32
    for i in (0, 1, 2, 100):
        dy, dx = int(draws.top[i]) - pad, int(draws.left[i]) - pad
        expected = torch.zeros(3, size, size)
        for r in range(size):
            for c in range(size):
                if 0 <= r + dy < size and 0 <= c + dx < size:
                    expected[:, r, c] = x[i, :, r + dy, c + dx].float() - 10.0
        assert torch.equal(out[i], expected), i
    # The border's share: a shift of d rows and e columns zeroes (32*|d| + 32*|e| - |d||e|) of 1024 pixels.
    zero_rows = (out[:, 2] == 0) & (out[:, 0] == 0)  # (image channel 2 minus 10 is never 0 inside: index != 10)
    assert zero_rows.float().mean() > 0.05
    assert torch.equal(center_batch(x, stats, cfg), x.float() - 10.0)  # test: the whole image, no pad


def test_pad_keeps_the_draws_of_unpadded_configs_and_is_validated():
    size = 32
    a = draw_train(64, size, AugmentConfig(crop=24, flip=True, lighting_std=0.1), torch.Generator().manual_seed(3))
    b = draw_train(64, size, AugmentConfig(crop=24, flip=True, lighting_std=0.1, pad=0), torch.Generator().manual_seed(3))
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("top", "left", "flip", "alpha"))
    with pytest.raises(ConfigError, match="pad must be >= 0"):
        parse(AugmentConfig, {"pad": -1}, "augment")


def test_crop_flip_at_cifar_scale_centres_mirrors_and_lights():
    # AlexNet's scheme on 32x32 images: 24x24 patches (uniform offsets 0..8), half of them mirrored; lighting
    # shifts each image by one RGB vector, zero mean over images.
    size, n = 32, 4000
    x = position_image(n, size)
    stats = classic_stats(size)
    cfg = AugmentConfig(crop=24, flip=True, lighting_std=0.1, mean="none")
    draws = draw_train(n, size, cfg, torch.Generator().manual_seed(1))
    out = apply_train(x, stats, cfg, draws)
    assert out.shape == (n, 3, 24, 24)
    assert sorted(set(draws.top.tolist())) == list(range(9))
    assert abs(draws.flip.float().mean().item() - 0.5) < 0.03
    shift = lighting_shift(draws.alpha, stats, cfg)
    assert abs(shift.mean().item()) < 0.1 and 1.0 < shift[:, 0].std().item() < 10.0  # ~0.1*0.2175*255*0.57
    unlit = apply_train(x, stats, cfg, TrainDraws(draws.top, draws.left, draws.flip, torch.zeros_like(draws.alpha)))
    assert torch.allclose(out - unlit, shift[:, :, None, None].expand_as(out), atol=1e-3)
