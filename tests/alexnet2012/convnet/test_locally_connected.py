"""LocallyConnected2d against the explicit per-position loop: values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alexnet2012.convnet.locally_connected import LocallyConnected2d


def reference(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """Each output position's own filters dotted with its own input patch, one position at a time."""
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    oh, ow = layer.out_size
    xp = F.pad(x, (p, p, p, p))
    out = torch.empty(x.shape[0], layer.out_channels, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * s: i * s + k, j * s: j * s + k].reshape(x.shape[0], -1)  # [N, c*k*k]
            w = layer.weight[i * ow + j]  # [out, c*k*k]
            out[:, :, i, j] = patch @ w.T + layer.bias[:, i, j]
    return out


@pytest.mark.parametrize("in_size,kernel,stride,padding", [(8, 3, 1, 1), (7, 3, 2, 0), ((6, 9), 5, 1, 2), (5, 1, 1, 0)])
def test_matches_the_explicit_loop(in_size, kernel, stride, padding):
    torch.manual_seed(0)
    layer = LocallyConnected2d(4, 6, in_size, kernel, stride, padding).double()
    with torch.no_grad():
        layer.bias.normal_()
    h, w = (in_size, in_size) if isinstance(in_size, int) else in_size
    x = torch.randn(3, 4, h, w, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out = layer(x)
    ref = reference(layer, x_ref)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, layer.weight, layer.bias], g)
    grads_ref = torch.autograd.grad(ref, [x_ref, layer.weight, layer.bias], g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_weights_are_not_shared_and_shapes_are_cuda_convnets():
    # layers-conv-local-11pct's local3: 64 maps of 8x8 in, 32 filters 3x3, padding 1.
    layer = LocallyConnected2d(64, 32, 8, 3, 1, 1)
    assert tuple(layer.weight.shape) == (64, 32, 64 * 9) and tuple(layer.bias.shape) == (32, 8, 8)
    assert sum(p.numel() for p in layer.parameters()) == 64 * 32 * 576 + 32 * 64
    # A conv's filters at one position do not move another position's output.
    x = torch.zeros(1, 64, 8, 8)
    x[0, :, 0, 0] = 1.0
    with torch.no_grad():
        layer.weight[9:].zero_()  # positions other than the first row's first 9
        layer.bias.zero_()
    y = layer(x)
    assert y[0, :, 0, 0].abs().sum() > 0 and y[0, :, 5:, 5:].abs().sum() == 0


def test_bad_input_shape_is_a_clear_error():
    layer = LocallyConnected2d(3, 4, 8, 3)
    with pytest.raises(ValueError, match=r"expects \[N, 3, 8, 8\], got \[2, 3, 9, 9\]"):
        layer(torch.zeros(2, 3, 9, 9))
    with pytest.raises(ValueError, match="smaller than the 5x5 filter"):
        LocallyConnected2d(3, 4, 3, 5)
