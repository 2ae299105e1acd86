"""Training-time augmentation of the digits: random shifts (trick augment_shift) and Simard et al.'s
affine and elastic distortions (trick augment_distort); the 1989 paper trains on the digits as they are.

On the eager backend the draws come from the global torch RNG, which the
training loop seeds and checkpoints, so an augmented run is repeatable and
resumes exactly; the fused backend draws them from its counter-based generator
keyed by (seed, pass, step) (fused/counter_rng.py) and shifts with `shift_by`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    # Random translation of every training image by an integer number of pixels
    # in [-shift, shift], drawn independently per image and per axis. 0 = off
    # (the 1989 paper trains on the digits as they are).
    shift: int = 0
    # wrap=false fills the uncovered border with `fill` (the background, -1 for
    # the digits); wrap=true rolls pixels around the edge, as Karpathy's
    # modern.py does with torch.roll.
    wrap: bool = False
    fill: float = -1.0
    # Distortions of Simard, Steinkraus & Platt 2003 (trick augment_distort; 0 = off), drawn
    # per image: an affine map (rotation, per-axis scaling, shear) and an elastic field
    # (uniform noise in [-1, 1] per pixel and axis, Gaussian-smoothed with std elastic_sigma
    # pixels, times elastic_alpha pixels), sampled bilinearly; uncovered pixels take `fill`.
    rotate: float = 0.0  # max rotation in degrees: uniform in [-rotate, rotate]
    scale: float = 0.0  # max relative scaling per axis: uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # max horizontal shear factor: uniform in [-shear, shear]
    elastic_alpha: float = 0.0  # Simard's alpha, in pixels (0 = no elastic field)
    elastic_sigma: float = 2.0  # Simard's sigma, in pixels

    def validate(self) -> None:
        if self.shift < 0:
            raise ValueError("shift must be >= 0")
        if not 0 <= self.rotate <= 180:
            raise ValueError("rotate must be in [0, 180] degrees")
        if not 0 <= self.scale < 1:
            raise ValueError("scale must be in [0, 1)")
        for name in ("shear", "elastic_alpha"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.elastic_sigma <= 0:
            raise ValueError("elastic_sigma must be > 0")

    @property
    def shift_active(self) -> bool:
        return self.shift > 0

    @property
    def distort_active(self) -> bool:
        return bool(self.rotate or self.scale or self.shear or self.elastic_alpha)

    @property
    def active(self) -> bool:
        return self.shift_active or self.distort_active


# Uniforms per image behind the affine part: rotation, scale y, scale x, shear.
AFFINE_DRAWS = 4


def augment_batch(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """The eager path's augmentation of a training batch, draws from torch's global RNG:
    the distortions (if any), then the shifts (if any). The fused path applies the same
    functions to its counter-based draws (fused/counter_rng.py: `augment`)."""
    if cfg.distort_active:
        u = torch.rand(x.shape[0], AFFINE_DRAWS)
        noise = torch.rand(x.shape[0], 2, *x.shape[-2:]) * 2 - 1 if cfg.elastic_alpha else None
        x = distort(x, u, noise, cfg)
    if cfg.shift_active:
        x = random_shift(x, cfg.shift, cfg.fill, cfg.wrap)
    return x


def smoothing_matrix(n: int, sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """[n, n]: row i is a Gaussian of std ``sigma`` centred on i, truncated at 3 sigma (and at
    n - 1), normalized, reflected at the borders (numpy's 'reflect': ... 2 1 | 0 1 2 ... n-1 | n-2 ...)."""
    radius = max(1, min(math.ceil(3 * sigma), n - 1))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    m = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for tap, weight in zip(range(-radius, radius + 1), k):
            j = abs(i + tap)
            j = 2 * (n - 1) - j if j > n - 1 else j
            m[i, j] += weight
    return m.to(dtype=dtype, device=device)


def gaussian_smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """``field`` [B, C, H, W] convolved with a Gaussian of std ``sigma`` pixels per axis,
    separable: S_H @ field @ S_W^T with the `smoothing_matrix` of each axis (a small matmul:
    PyTorch's CPU grouped convolution took 10x longer at these shapes)."""
    h, w = field.shape[-2:]
    sh = smoothing_matrix(h, sigma, field.dtype, field.device)
    sw = sh if w == h else smoothing_matrix(w, sigma, field.dtype, field.device)
    return sh @ field @ sw.T


def distort(x: torch.Tensor, u: torch.Tensor, noise: torch.Tensor | None, cfg: AugmentConfig) -> torch.Tensor:
    """Each image of ``x`` [B, C, H, W] moved by its own affine map and elastic field.

    ``u`` [B, 4]: uniforms in [0, 1) for the rotation, the y and x scales and the shear;
    ``noise`` [B, 2, H, W]: uniforms in [-1, 1) for the elastic field's (x, y) components
    (None: no elastic part). The digit is scaled, sheared, then rotated about the image
    centre; output pixel p samples the input at T^-1 p plus the smoothed field at p."""
    b, _, h, w = x.shape
    if b == 0:  # an empty chunk (the loop can ask for one at a pass's end)
        return x
    u = u.to(x.device, x.dtype)
    ang = (2 * u[:, 0] - 1) * math.radians(cfg.rotate)
    sy, sx = 1 + (2 * u[:, 1] - 1) * cfg.scale, 1 + (2 * u[:, 2] - 1) * cfg.scale
    sh = (2 * u[:, 3] - 1) * cfg.shear
    cos, sin = torch.cos(ang), torch.sin(ang)
    # T = rotation @ shear @ scale on (x, y); affine_grid wants the map from output to input, T^-1.
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    one, zero = torch.ones_like(sh), torch.zeros_like(sh)
    shear = torch.stack([torch.stack([one, sh], -1), torch.stack([zero, one], -1)], -2)
    scale = torch.diag_embed(torch.stack([sx, sy], -1))
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, :, :2] = torch.linalg.inv(rot @ shear @ scale)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # [B, H, W, 2], (x, y) in [-1, 1]
    if noise is not None and cfg.elastic_alpha:
        field = gaussian_smooth(noise.to(x.device, x.dtype), cfg.elastic_sigma) * cfg.elastic_alpha  # pixels
        grid = grid + field.permute(0, 2, 3, 1) * torch.tensor([2.0 / w, 2.0 / h], dtype=x.dtype, device=x.device)
    # Sample x - fill with zero padding, then add fill back: uncovered pixels take the background.
    return F.grid_sample(x - cfg.fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + cfg.fill


def random_shift(x: torch.Tensor, shift: int, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by its own (dy, dx) in
    [-shift, shift]^2: ``out[b, :, i, j] = x[b, :, i - dy, j - dx]``."""
    if shift == 0:
        return x
    d = torch.randint(-shift, shift + 1, (x.shape[0], 2), device=x.device)
    return shift_by(x, d, fill, wrap)


def shift_by(x: torch.Tensor, d: torch.Tensor, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by the given (dy, dx) row of ``d`` [B, 2]
    (the fused backend draws them from its counter-based generator: fused/counter_rng.py)."""
    b, _, h, w = x.shape
    shift = int(d.abs().max()) if d.numel() else 0
    if shift == 0:
        return x
    d = d.to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - d[:, :1]  # [B, H] source row of each output row
    cols = torch.arange(w, device=x.device)[None, :] - d[:, 1:]
    if wrap:
        rows, cols = rows % h, cols % w
        src = x
    else:
        src = torch.nn.functional.pad(x, (shift, shift, shift, shift), value=fill)
        rows, cols = rows + shift, cols + shift
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indexing on (batch, row, col) with the channel axis kept: [B, H, W, C] -> [B, C, H, W].
    out = src.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
