// Convolution as implicit GEMM (cuda-convnet's filterActs / imgActs / weightActs).
//
// NCHW activations, weights [C_out, C_in/G, k, k], square k x k kernels with
// one stride and one (zero) padding in both directions: every AlexNet layer
// (11x11/4 pad 2, 5x5 pad 2, 3x3 pad 1; the towers as G = 2 groups).
// out = (in + 2p - k) / s + 1 (floor), as torch.nn.functional.conv2d.
//
// Each of the three passes is one GEMM per group, C[m, n] = sum_k A[m, k] B[k, n],
// whose operands are never materialised: the functions below map a GEMM
// coordinate straight to the tensor element (or to 0 for padding and, in the
// data gradient, for taps the stride skips). The CPU path (conv_ops.cpp) and both
// GPU kernels (conv.cu: fp32 SIMT tiles and bf16 tensor cores) evaluate these
// same functions, so the CPU tests check the GPU's index arithmetic.
//
//   pass             M        N                K                A            B
//   forward          C_out/G  N*H_out*W_out    C_in/G*k*k       weights      input patches (im2col)
//   backward data    C_in/G   N*H*W            C_out/G*k*k      weights^T    output-gradient taps (col2im as a gather)
//   backward weight  C_out/G  C_in/G*k*k       N*H_out*W_out    grad output  input patches^T
#pragma once

#include "common.cuh"
#include "conv_shape.h"

namespace repro_alexnet {

// (channel, tap row, tap column) of a reduction index over C*k*k.
struct Tap {
    int64_t channel;
    int kh, kw;
};
REPRO_HD Tap split_tap(int64_t k, const ConvShape& s) {
    const int taps = s.kernel * s.kernel;
    const int64_t c = k / taps;
    const int t = static_cast<int>(k - c * taps);
    return {c, t / s.kernel, t % s.kernel};
}

// (image, row, column) of a flat pixel index over N*H*W.
struct Pixel {
    int64_t image, row, col;
};
REPRO_HD Pixel split_pixel(int64_t n, int64_t height, int64_t width) {
    const int64_t plane = height * width;
    const int64_t image = n / plane, p = n - image * plane;
    const int64_t row = p / width;
    return {image, row, p - row * width};
}

// Input element under tap t of output pixel o (0 in the padding).
template <typename T>
REPRO_HD float input_at(const T* x, const ConvShape& s, int g, const Tap& t, const Pixel& o) {
    const int64_t h = o.row * s.stride - s.padding + t.kh, w = o.col * s.stride - s.padding + t.kw;
    if (h < 0 || h >= s.height || w < 0 || w >= s.width) return 0.0f;
    return load(x, ((o.image * s.in_channels + g * s.cin_g() + t.channel) * s.height + h) * s.width + w);
}

REPRO_HD float relu_keep_nan(float v) { return (v > 0.0f || is_nan(v)) ? v : 0.0f; }

// y[n, co, oh, ow] = act(b[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] x[n, ci, oh*s-p+kh, ow*s-p+kw])
template <typename T>
struct ConvForward {
    const T* x;
    const T* w;
    const float* bias;  // [C_out] fp32, or null
    T* y;
    ConvShape s;
    bool relu;  // the fused epilogue: relu(conv + bias), NaN passing through as torch.relu

    REPRO_HD int64_t M() const { return s.cout_g(); }
    REPRO_HD int64_t N() const { return s.batch * s.out_height * s.out_width; }
    REPRO_HD int64_t K() const { return s.cin_g() * int64_t(s.kernel) * s.kernel; }
    REPRO_HD float a(int g, int64_t m, int64_t k) const { return load(w, (g * M() + m) * K() + k); }
    REPRO_HD float b(int g, int64_t k, int64_t n) const {
        return input_at(x, s, g, split_tap(k, s), split_pixel(n, s.out_height, s.out_width));
    }
    REPRO_HD void put(int g, int64_t m, int64_t n, float acc) const {
        const int64_t co = g * M() + m, plane = s.out_height * s.out_width;
        const int64_t image = n / plane;
        float v = acc + (bias != nullptr ? bias[co] : 0.0f);
        if (relu) v = relu_keep_nan(v);
        store(y, (image * s.out_channels + co) * plane + (n - image * plane), v);
    }
};

// dx[n, ci, h, w] = sum_{co, kh, kw} w[co, ci, kh, kw] dy[n, co, (h+p-kh)/s, (w+p-kw)/s]
// over the taps where both quotients are exact and inside the output.
template <typename T>
struct ConvBackwardData {
    const T* dy;
    const T* w;
    T* dx;
    ConvShape s;

    REPRO_HD int64_t M() const { return s.cin_g(); }
    REPRO_HD int64_t N() const { return s.batch * s.height * s.width; }
    REPRO_HD int64_t K() const { return s.cout_g() * int64_t(s.kernel) * s.kernel; }
    REPRO_HD float a(int g, int64_t m, int64_t k) const {
        const Tap t = split_tap(k, s);  // t.channel = the output channel within the group
        const int64_t co = g * s.cout_g() + t.channel;
        return load(w, ((co * s.cin_g() + m) * s.kernel + t.kh) * s.kernel + t.kw);
    }
    REPRO_HD float b(int g, int64_t k, int64_t n) const {
        const Tap t = split_tap(k, s);
        const Pixel i = split_pixel(n, s.height, s.width);
        const int64_t th = i.row + s.padding - t.kh, tw = i.col + s.padding - t.kw;
        if (th < 0 || tw < 0) return 0.0f;
        const int64_t oh = th / s.stride, ow = tw / s.stride;
        if (oh * s.stride != th || ow * s.stride != tw || oh >= s.out_height || ow >= s.out_width) return 0.0f;
        const int64_t co = g * s.cout_g() + t.channel;
        return load(dy, ((i.image * s.out_channels + co) * s.out_height + oh) * s.out_width + ow);
    }
    REPRO_HD void put(int g, int64_t m, int64_t n, float acc) const {
        const int64_t plane = s.height * s.width, image = n / plane;
        store(dx, (image * s.in_channels + g * M() + m) * plane + (n - image * plane), acc);
    }
};

// dw[co, ci, kh, kw] = sum_{n, oh, ow} dy[n, co, oh, ow] x[n, ci, oh*s-p+kh, ow*s-p+kw]
template <typename T>
struct ConvBackwardWeight {
    const T* dy;
    const T* x;
    T* dw;
    ConvShape s;

    REPRO_HD int64_t M() const { return s.cout_g(); }
    REPRO_HD int64_t N() const { return s.cin_g() * int64_t(s.kernel) * s.kernel; }
    REPRO_HD int64_t K() const { return s.batch * s.out_height * s.out_width; }
    REPRO_HD float a(int g, int64_t m, int64_t k) const {
        const int64_t plane = s.out_height * s.out_width, image = k / plane;
        return load(dy, (image * s.out_channels + g * M() + m) * plane + (k - image * plane));
    }
    REPRO_HD float b(int g, int64_t k, int64_t n) const {
        return input_at(x, s, g, split_tap(n, s), split_pixel(k, s.out_height, s.out_width));
    }
    REPRO_HD void put(int g, int64_t m, int64_t n, float acc) const { store(dw, (g * M() + m) * N() + n, acc); }
};

}  // namespace repro_alexnet
