/* Float32 math without libc, written to vectorise: straight-line code, selects instead of branches.
 *
 * Polynomial coefficients were fitted for this project (weighted least squares on Chebyshev nodes,
 * reweighted towards minimax relative error). Accuracy versus float64: exp/log ~1 ulp, tanh/erf
 * ~2-3 ulp. The products in the x*x split below are exact, so FMA contraction cannot change them.
 */
#ifndef WI_MATH_H
#define WI_MATH_H

#include <stdint.h>

#include "internal.h"

#define WI_INF (__builtin_inff())
#define WI_NAN (__builtin_nanf(""))

WI_INLINE int32_t wi_f2i_bits(float x)
{
    union { float f; int32_t i; } u = {x};
    return u.i;
}

WI_INLINE float wi_i2f_bits(int32_t i)
{
    union { int32_t i; float f; } u = {i};
    return u.f;
}

WI_INLINE float wi_absf(float x) { return wi_i2f_bits(wi_f2i_bits(x) & 0x7fffffff); }
WI_INLINE float wi_copysignf(float mag, float sgn)
{
    return wi_i2f_bits((wi_f2i_bits(mag) & 0x7fffffff) | (wi_f2i_bits(sgn) & (int32_t)0x80000000));
}
WI_INLINE float wi_minf(float a, float b) { return a < b ? a : b; }
WI_INLINE float wi_maxf(float a, float b) { return a > b ? a : b; }
WI_INLINE float wi_sqrtf(float x) { return __builtin_sqrtf(x); }

/* floor/ceil via truncation; |x| >= 2^23 (and NaN) is already integral. */
WI_INLINE float wi_floorf(float x)
{
    int small = wi_absf(x) < 8388608.0f;
    float t = (float)(int32_t)(small ? x : 0.0f);
    t = t > x ? t - 1.0f : t;
    return small ? t : x;
}

WI_INLINE float wi_ceilf(float x)
{
    int small = wi_absf(x) < 8388608.0f;
    float t = (float)(int32_t)(small ? x : 0.0f);
    t = t < x ? t + 1.0f : t;
    return small ? t : x;
}

/* e^x = 2^n * e^r, |r| <= ln2/2, 2^n applied as two factors so n = 128 still works. Results below
 * FLT_MIN (x < -87.33) are flushed to 0: computing subnormals costs a microcode assist per vector. */
WI_INLINE float wi_expf(float x)
{
    float xc = x == x ? wi_minf(wi_maxf(x, -87.33f), 88.8f) : 0.0f;
    float kf = xc * 1.44269504f + 12582912.0f - 12582912.0f; /* round to nearest */
    float r = xc - kf * 0.693145752f - kf * 1.42860677e-6f;
    float q = 0.0013814610f;
    q = q * r + 0.0083687101f;
    q = q * r + 0.041668389f;
    q = q * r + 0.16666521f;
    q = q * r + 0.49999994f;
    float p = 1.0f + r + r * r * q;
    int32_t n = (int32_t)kf, n1 = n >> 1, n2 = n - n1;
    float y = p * wi_i2f_bits((n1 + 127) << 23) * wi_i2f_bits((n2 + 127) << 23);
    y = x > 88.7228394f ? WI_INF : y;
    y = x < -87.33f ? 0.0f : y;
    return x == x ? y : x;
}

/* log x = e*ln2 + log m, m in [sqrt(1/2), sqrt(2)): log m = 2s + 2s*z*P(z), s = (m-1)/(m+1), z = s^2. */
WI_INLINE float wi_logf(float x)
{
    int sub = x < 1.17549435e-38f;
    float xs = sub ? x * 8388608.0f : x;
    int32_t bits = wi_f2i_bits(xs);
    int32_t e = ((bits >> 23) & 0xff) - 127 - (sub ? 23 : 0);
    float m = wi_i2f_bits((bits & 0x007fffff) | 0x3f800000);
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1 : e;
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float pz = (0.14935467f * z + 0.19988787f) * z + 0.33333388f;
    float ef = (float)e;
    float y = ef * 0.693145752f + ((s + s) + (s + s) * z * pz + ef * 1.42860677e-6f);
    y = x == WI_INF ? x : y;
    y = x == 0.0f ? -WI_INF : y;
    return x < 0.0f || x != x ? WI_NAN : y;
}

WI_INLINE float wi_tanhf(float x)
{
    float t = wi_absf(x);
    float z = t * t;
    float p = -0.0057049906f;
    p = p * z + 0.020639090f;
    p = p * z - 0.053739715f;
    p = p * z + 0.13331442f;
    p = p * z - 0.33333281f;
    float small = t + t * z * p;
    float big = 1.0f - 2.0f / (wi_expf(2.0f * wi_minf(t, 9.1f)) + 1.0f);
    float y = t < 0.625f ? small : big;
    return x == x ? wi_copysignf(y, x) : x;
}

/* erf(t) = c0 t + t z Q(z), z = t^2, for 0 <= t < 0.9; c0 is split so the leading term rounds once. */
WI_INLINE float wi_erf_small(float t)
{
    float z = t * t;
    float q = 8.5132495e-05f;
    q = q * z - 0.00081756775f;
    q = q * z + 0.0052038631f;
    q = q * z - 0.026860511f;
    q = q * z + 0.11283715f;
    q = q * z - 0.37612635f;
    return t * 1.12837911f + t * (z * q + 6.0244124e-08f);
}

/* hi + lo == x * x exactly (Veltkamp split: the partial products have at most 24 bits). */
WI_INLINE void wi_square_split(float x, float *hi, float *lo)
{
    float c = x * 4097.0f;
    float xh = c - (c - x), xl = x - xh;
    *hi = x * x;
    *lo = ((xh * xh - *hi) + 2.0f * xh * xl) + xl * xl;
}

/* erfc(t) = exp(-t^2) * Q(u), u = 1 / (1 + t/2), for 0.5 <= t <= 9; sq_hi + sq_lo = t^2. */
WI_INLINE float wi_erfc_tail(float t, float sq_hi, float sq_lo)
{
    float u = 1.0f / (1.0f + 0.5f * t);
    float q = -0.07463114f;
    q = q * u + 0.3521801f;
    q = q * u - 0.61272615f;
    q = q * u + 0.40827847f;
    q = q * u - 0.10942763f;
    q = q * u + 0.23601453f;
    q = q * u + 0.23464844f;
    q = q * u + 0.2836744f;
    q = q * u + 0.28197706f;
    q = q * u + 3.83703e-06f;
    return wi_expf(-sq_hi) * (1.0f - sq_lo) * q;
}

WI_INLINE float wi_erff(float x)
{
    float t = wi_minf(wi_absf(x), 4.0f), hi, lo; /* erf(4) rounds to 1 */
    wi_square_split(t, &hi, &lo);
    float y = t < 0.9f ? wi_erf_small(t) : 1.0f - wi_erfc_tail(t, hi, lo);
    return x == x ? wi_copysignf(y, x) : x;
}

WI_INLINE float wi_sigmoidf(float x) { return 1.0f / (1.0f + wi_expf(-x)); }

/* x * Phi(x) = x * erfc(-x / sqrt 2) / 2, using erfc directly so negative x keeps relative accuracy;
 * t^2 = x^2 / 2 is taken from the exact square of x, not from the rounded t. Beyond |x| = 12.7
 * (erfc < 1e-36) erfc is taken as 0, which keeps every intermediate value normal. */
WI_INLINE float wi_geluf(float x)
{
    float xc = wi_minf(wi_absf(x), 12.7f), t = xc * 0.707106781f, hi, lo;
    wi_square_split(xc, &hi, &lo);
    float c = t < 0.5f ? 1.0f - wi_erf_small(t) : wi_erfc_tail(t, 0.5f * hi, 0.5f * lo);
    c = wi_absf(x) > 12.7f ? 0.0f : c;
    return x >= 0.0f ? x * (1.0f - 0.5f * c) : 0.5f * x * c;
}

/* 0.5 x (1 + tanh(u)) == x * sigmoid(2u), which does not cancel for negative x. */
WI_INLINE float wi_gelu_tanhf(float x)
{
    float u = 0.797884561f * (x + 0.044715f * x * x * x);
    return x / (1.0f + wi_expf(-2.0f * u));
}

#endif
