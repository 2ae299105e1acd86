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
REPRO_HD void lrn_forward_column(const T* x, T* y, float* scale, int64_t stride, int channels, float alpha,
                                 float beta, float k) {
    if constexpr (H >= 0) {
        float sq[2 * H + 1], xv[2 * H + 1];
        // The window of channel c = -1: channels -1-H .. H-1.
        REPRO_UNROLL
        for (int t = 0; t <= 2 * H; ++t) {
            const int j = t - 1 - H;
            xv[t] = (j >= 0 && j < channels) ? load(x, j * stride) : 0.0f;
            sq[t] = xv[t] * xv[t];
        }
        for (int c = 0; c < channels; ++c) {
            REPRO_UNROLL
            for (int t = 0; t < 2 * H; ++t) {
                sq[t] = sq[t + 1];
                xv[t] = xv[t + 1];
            }
            const int j = c + H;
            xv[2 * H] = j < channels ? load(x, j * stride) : 0.0f;
            sq[2 * H] = xv[2 * H] * xv[2 * H];
            float sum = 0.0f;
            REPRO_UNROLL
            for (int t = 0; t <= 2 * H; ++t) sum += sq[t];
            const float s = k + alpha * sum;
            store(y, c * stride, xv[H] * powf(s, -beta));
            scale[c * stride] = s;
        }
    }
}

template <typename T>
REPRO_HD void lrn_forward_column_generic(const T* x, T* y, float* scale, int64_t stride, int channels, int half,
                                         float alpha, float beta, float k) {
    for (int c = 0; c < channels; ++c) {
        // Out-of-range neighbours add the same +0.0f as the unrolled path's padding.
        float sum = 0.0f;
        for (int j = c - half; j <= c + half; ++j) {
            const float v = (j >= 0 && j < channels) ? load(x, j * stride) : 0.0f;
            sum += v * v;
        }
        const float s = k + alpha * sum;
        store(y, c * stride, load(x, c * stride) * powf(s, -beta));
        scale[c * stride] = s;
    }
}

// One entering channel j of the backward window: db_j * s_j^-beta, a_j, and
// r_j = db_j * a_j * s_j^(-beta-1); zeros outside the group.
template <typename T>
REPRO_HD void lrn_backward_terms(const T* dy, const T* x, const float* scale, int64_t stride, int channels, int j,
                                 float beta, float& dyp, float& a, float& r) {
    if (j < 0 || j >= channels) {
        dyp = a = r = 0.0f;
        return;
    }
    const float s = scale[j * stride];
    dyp = load(dy, j * stride) * powf(s, -beta);
    a = load(x, j * stride);
    r = dyp * a / s;
}

template <int H, typename T>
REPRO_HD void lrn_backward_column(const T* dy, const T* x, const float* scale, T* dx, int64_t stride, int channels,
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
            store(dx, c * stride, dyp[H] - 2.0f * alpha * beta * xv[H] * sum);
        }
    }
}

template <typename T>
REPRO_HD void lrn_backward_column_generic(const T* dy, const T* x, const float* scale, T* dx, int64_t stride,
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
        store(dx, c * stride, dyp_c - 2.0f * alpha * beta * a_c * sum);
    }
}

// Column `col` of a [N, C, HW] tensor split into `groups` channel groups:
// columns are ordered (n, g, pixel) so that neighbouring threads read
// neighbouring pixels (coalesced). Returns the offset of its first channel.
REPRO_HD int64_t lrn_column_offset(int64_t col, int64_t hw, int channels_per_group) {
    const int64_t ng = col / hw, pixel = col - ng * hw;
    return ng * channels_per_group * hw + pixel;
}

template <typename T>
REPRO_HD void lrn_forward_at(int64_t col, const T* x, T* y, float* scale, int64_t hw, int channels, int half,
                             float alpha, float beta, float k) {
    const int64_t off = lrn_column_offset(col, hw, channels);
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
REPRO_HD void lrn_backward_at(int64_t col, const T* dy, const T* x, const float* scale, T* dx, int64_t hw,
                              int channels, int half, float alpha, float beta) {
    const int64_t o = lrn_column_offset(col, hw, channels);
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
