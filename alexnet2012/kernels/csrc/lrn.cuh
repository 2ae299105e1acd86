// Cross-channel local response normalisation (Krizhevsky et al. 2012, section 3.3):
//
//   s_i = k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a_j)^2        b_i = a_i * s_i^(-beta)
//
// N = the channels of one group (a tower normalises only its own maps); note
// alpha multiplies the *sum* (torch.nn.LocalResponseNorm divides it by n).
// Backward, using that the window is symmetric (i in W(m) <=> m in W(i)):
//
//   da_m = db_m * s_m^(-beta) - 2 * alpha * beta * a_m * sum_{i in W(m)} db_i * a_i * s_i^(-beta-1)
//
// One thread walks the channels of one pixel of one group, keeping the window
// (n values) in registers: every element is read once, in one pass, and the
// forward saves s (fp32) for the backward. H = n/2 is a template parameter for
// the common window sizes; H < 0 is the generic path that re-reads its window.
// Both sum the window in ascending channel order, so they give identical bits.
#pragma once

#include "common.cuh"

namespace repro_alexnet {


template <int H, typename T>
REPRO_HD void lrn_forward_column(const T* x, T* y, float* scale, uint32_t stride, int channels, float alpha,
                                 float beta, float k) {
    if constexpr (H >= 0) {
        float sq[2 * H + 1], xv[2 * H + 1];
        // The window of channel c = -1: channels -1-H .. H-1.
        REPRO_UNROLL
        for (int t = 0; t <= 2 * H; ++t) {
            const int j = t - 1 - H;
            xv[t] = (j >= 0 && j < channels) ? load(x, uint32_t(j) * stride) : 0.0f;
            sq[t] = xv[t] * xv[t];
        }
        for (int c = 0; c < channels; ++c) {
            REPRO_UNROLL
            for (int t = 0; t < 2 * H; ++t) {
                sq[t] = sq[t + 1];
                xv[t] = xv[t + 1];
            }
            const int j = c + H;
            xv[2 * H] = j < channels ? load(x, uint32_t(j) * stride) : 0.0f;
            sq[2 * H] = xv[2 * H] * xv[2 * H];
            float sum = 0.0f;
            REPRO_UNROLL
            for (int t = 0; t <= 2 * H; ++t) sum += sq[t];
            const float s = k + alpha * sum;
            store(y, uint32_t(c) * stride, xv[H] * powf(s, -beta));
            scale[uint32_t(c) * stride] = s;
        }
    }
}

template <typename T>
REPRO_HD void lrn_forward_column_generic(const T* x, T* y, float* scale, uint32_t stride, int channels, int half,
                                         float alpha, float beta, float k) {
    for (int c = 0; c < channels; ++c) {
        // Out-of-range neighbours add the same +0.0f as the unrolled path's padding.
        float sum = 0.0f;
        for (int j = c - half; j <= c + half; ++j) {
            const float v = (j >= 0 && j < channels) ? load(x, uint32_t(j) * stride) : 0.0f;
            sum += v * v;
        }
        const float s = k + alpha * sum;
        store(y, uint32_t(c) * stride, load(x, uint32_t(c) * stride) * powf(s, -beta));
        scale[uint32_t(c) * stride] = s;
    }
}

// One entering channel j of the backward window: db_j * s_j^-beta, a_j, and
// r_j = db_j * a_j * s_j^(-beta-1); zeros outside the group.
template <typename T>
REPRO_HD void lrn_backward_terms(const T* dy, const T* x, const float* scale, uint32_t stride, int channels, int j,
                                 float beta, float& dyp, float& a, float& r) {
    if (j < 0 || j >= channels) {
        dyp = a = r = 0.0f;
        return;
    }
    const float s = scale[uint32_t(j) * stride];
    dyp = load(dy, uint32_t(j) * stride) * powf(s, -beta);
    a = load(x, uint32_t(j) * stride);
    r = dyp * a / s;
}

template <int H, typename T>
REPRO_HD void lrn_backward_column(const T* dy, const T* x, const float* scale, T* dx, uint32_t stride, int channels,
                                  float alpha, float beta) {
    if constexpr (H >= 0) {
        float dyp[2 * H + 1], xv[2 * H + 1], r[2 * H + 1];
        REPRO_UNROLL
        for (int t = 0; t <= 2 * H; ++t)
            lrn_backward_terms(dy, x, scale, stride, channels, t - 1 - H, beta, dyp[t], xv[t], r[t]);
        for (int c = 0; c < channels; ++c) {
            REPRO_UNROLL
            for (int t = 0; t < 2 * H; ++t) {
                dyp[t] = dyp[t + 1];
                xv[t] = xv[t + 1];
                r[t] = r[t + 1];
            }
            lrn_backward_terms(dy, x, scale, stride, channels, c + H, beta, dyp[2 * H], xv[2 * H], r[2 * H]);
            float sum = 0.0f;
            REPRO_UNROLL
            for (int t = 0; t <= 2 * H; ++t) sum += r[t];
            store(dx, uint32_t(c) * stride, dyp[H] - 2.0f * alpha * beta * xv[H] * sum);
        }
    }
}

template <typename T>
REPRO_HD void lrn_backward_column_generic(const T* dy, const T* x, const float* scale, T* dx, uint32_t stride,
                                          int channels, int half, float alpha, float beta) {
    for (int c = 0; c < channels; ++c) {
        float sum = 0.0f, dyp_c = 0.0f, a_c = 0.0f;
        for (int j = c - half; j <= c + half; ++j) {
            float dyp, a, r;
            lrn_backward_terms(dy, x, scale, stride, channels, j, beta, dyp, a, r);
            sum += r;
            if (j == c) {
                dyp_c = dyp;
                a_c = a;
            }
        }
        store(dx, uint32_t(c) * stride, dyp_c - 2.0f * alpha * beta * a_c * sum);
    }
}

// Column `col` of a [N, C, HW] tensor split into `groups` channel groups:
// columns are ordered (n, g, pixel) so that neighbouring threads read
// neighbouring pixels (coalesced). Its first channel's offset, in 32 bits (the
// launchers refuse tensors of kOffsetLimit elements or more), by a FastDiv of hw.
// No vector loads: a column's channels are hw apart and a thread's neighbours
// are other columns; AlexNet's hw (55^2, 27^2, 13^2) are odd, so planes are never
// 16-byte aligned, and a run of pixels per thread would multiply the window's
// registers by the run length.
struct LrnShape {
    uint32_t hw;
    int channels, half;
    FastDiv by_hw;
};

// Built on the host (FastDiv's constructor loops); hw >= 1.
inline LrnShape lrn_shape(int64_t hw, int channels_per_group, int half) {
    const uint32_t h = static_cast<uint32_t>(hw > 0 ? hw : 1);
    return {h, channels_per_group, half, FastDiv(h)};
}

REPRO_HD uint32_t lrn_column_offset(uint32_t col, const LrnShape& g) {
    const uint32_t ng = g.by_hw.div(col), pixel = col - ng * g.hw;
    return ng * uint32_t(g.channels) * g.hw + pixel;
}

template <typename T>
REPRO_HD void lrn_forward_at(uint32_t col, const T* x, T* y, float* scale, const LrnShape& g, float alpha,
                             float beta, float k) {
    const uint32_t off = lrn_column_offset(col, g);
    const uint32_t hw = g.hw;
    const int channels = g.channels, half = g.half;
    switch (half) {
        case 0: lrn_forward_column<0>(x + off, y + off, scale + off, hw, channels, alpha, beta, k); break;
        case 1: lrn_forward_column<1>(x + off, y + off, scale + off, hw, channels, alpha, beta, k); break;
        case 2: lrn_forward_column<2>(x + off, y + off, scale + off, hw, channels, alpha, beta, k); break;
        case 3: lrn_forward_column<3>(x + off, y + off, scale + off, hw, channels, alpha, beta, k); break;
        case 4: lrn_forward_column<4>(x + off, y + off, scale + off, hw, channels, alpha, beta, k); break;
        default: lrn_forward_column_generic(x + off, y + off, scale + off, hw, channels, half, alpha, beta, k);
    }
}

template <typename T>
REPRO_HD void lrn_backward_at(uint32_t col, const T* dy, const T* x, const float* scale, T* dx, const LrnShape& g,
                              float alpha, float beta) {
    const uint32_t o = lrn_column_offset(col, g);
    const uint32_t hw = g.hw;
    const int channels = g.channels, half = g.half;
    switch (half) {
        case 0: lrn_backward_column<0>(dy + o, x + o, scale + o, dx + o, hw, channels, alpha, beta); break;
        case 1: lrn_backward_column<1>(dy + o, x + o, scale + o, dx + o, hw, channels, alpha, beta); break;
        case 2: lrn_backward_column<2>(dy + o, x + o, scale + o, dx + o, hw, channels, alpha, beta); break;
        case 3: lrn_backward_column<3>(dy + o, x + o, scale + o, dx + o, hw, channels, alpha, beta); break;
        case 4: lrn_backward_column<4>(dy + o, x + o, scale + o, dx + o, hw, channels, alpha, beta); break;
        default: lrn_backward_column_generic(dy + o, x + o, scale + o, dx + o, hw, channels, half, alpha, beta);
    }
}

}  // namespace repro_alexnet
