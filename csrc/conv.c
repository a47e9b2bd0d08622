/* CONV (NCHW, float32): Y = act(conv(X, W) + B[m] + R).
 *
 * Dispatch: on x86, convs whose weights are prepacked (constant W, M/group > 8) run as an implicit
 * GEMM (conv_igemm.c) and depthwise convs with AVX-512 take conv_dw.c's kernels. Everything else,
 * and every conv of a portable (wasm) build, runs here:
 *
 * General convolutions run as GEMM per (image, group): W_g [M/g x C/g*KH*KW] times the im2col matrix
 * of X, which is never materialised: its NR-wide panels are packed straight from X. A 1x1, stride-1,
 * unpadded conv needs no im2col at all (X is already the B matrix). Depthwise convs (group == C == M)
 * use a direct kernel over a zero-padded copy of each plane, 16 output columns per register block.
 * Bias, residual and activation are fused.
 */
#include "internal.h"
#include "threads.h"

typedef struct {
    const wi_conv_args *a;
    const float *x; /* first channel of this image and group */
    int32_t isa;
} im2col_src;

#define TAP_TABLE 64 /* kernel widths up to this get their column ranges precomputed */

/* Output columns [*lo, *hi) whose tap kw reads inside the input row (ow * sw - pl + kw * dw in [0, W)). */
static void tap_cols(const wi_conv_args *a, int64_t kw, int64_t *lo, int64_t *hi)
{
    int64_t off = kw * a->dw - a->pl, s = a->sw;
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = off >= a->W ? 0 : (a->W - off + s - 1) / s;
    *hi = *hi < a->OW ? *hi : a->OW;
    *lo = *lo < *hi ? *lo : *hi;
}

/* tap_cols for every kernel column, or for the first TAP_TABLE (wider kernels recompute the rest). */
static void tap_table(const wi_conv_args *a, int64_t *lo, int64_t *hi)
{
    for (int64_t kw = 0; kw < a->KW && kw < TAP_TABLE; kw++)
        tap_cols(a, kw, &lo[kw], &hi[kw]);
}

/* A run of consecutive output positions within one output row: panel columns [q, q + len). */
typedef struct {
    int64_t q, len, oh, ow;
} segment;

/* out[0, len) = 0 except out[t] = src[(t - lo) * sw] for t in [lo, hi): plain loops for any target. */
WI_INLINE void fill_run(float *out, int64_t len, int64_t lo, int64_t hi, const float *src, int64_t sw)
{
    for (int64_t t = 0; t < lo; t++)
        out[t] = 0.0f;
    if (sw == 1)
        for (int64_t t = lo; t < hi; t++)
            out[t] = src[t - lo];
    else
        for (int64_t t = lo; t < hi; t++)
            out[t] = src[(t - lo) * sw];
    for (int64_t t = hi; t < len; t++)
        out[t] = 0.0f;
}

#if WI_X86
#include <immintrin.h>

/* The same run with stride 1 in whole vectors: masked loads (masked-off lanes never touch memory) and
 * full 8-float stores, which may spill up to 7 floats past the run; runs are written in increasing
 * address order, so later ones overwrite the spill, and the GEMM scratch keeps slack after the block. */
WI_TARGET_AVX2 static void fill_run_avx2(float *out, int64_t len, int64_t lo, int64_t hi, const float *src)
{
    uintptr_t base = (uintptr_t)src - (uintptr_t)lo * sizeof(float); /* address of element t = 0 */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t t0 = 0; t0 < len; t0 += 8) {
        const float *p = (const float *)(base + (uintptr_t)t0 * sizeof(float));
        __m256 v;
        if (t0 >= lo && t0 + 8 <= hi) {
            v = _mm256_loadu_ps(p);
        } else {
            __m256i from = _mm256_set1_epi32((int32_t)(lo - t0 > -1 ? lo - t0 : -1));
            __m256i to = _mm256_set1_epi32((int32_t)(hi - t0 < 9 ? hi - t0 : 9));
            __m256i m = _mm256_andnot_si256(_mm256_cmpgt_epi32(from, lane), _mm256_cmpgt_epi32(to, lane));
            v = _mm256_maskload_ps(p, m);
        }
        _mm256_storeu_ps(out + t0, v);
    }
}

WI_INLINE __mmask16 lanes16(int64_t lo, int64_t hi) /* bits l with lo <= l < hi */
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
}

/* The same run with stride 1 as masked AVX-512 loads and stores, no spill. */
WI_TARGET_AVX512 static void fill_run_avx512(float *out, int64_t len, int64_t lo, int64_t hi, const float *src)
{
    uintptr_t base = (uintptr_t)src - (uintptr_t)lo * sizeof(float);
    for (int64_t t0 = 0; t0 < len; t0 += 16) {
        __m512 v = _mm512_maskz_loadu_ps(lanes16(lo - t0, hi - t0), (const void *)(base + (uintptr_t)t0 * 4));
        _mm512_mask_storeu_ps(out + t0, lanes16(-t0, len - t0), v);
    }
}
#endif

/* One k row (channel c, tap kh, kw) of a panel: the input pixels its segments see, zero outside X.
 * KIND (a constant) picks the run filler: 0 plain, 1 AVX2, 2 AVX-512. */
WI_INLINE void im2col_row(const wi_conv_args *a, const float *xc, int64_t kh, int64_t kw, const segment *seg,
                          int32_t n_seg, const int64_t *kw_lo, const int64_t *kw_hi, float *d, int KIND)
{
    (void)KIND; /* unused where there are no vector fillers */
    int64_t col_lo, col_hi;
    if (kw < TAP_TABLE) {
        col_lo = kw_lo[kw];
        col_hi = kw_hi[kw];
    } else {
        tap_cols(a, kw, &col_lo, &col_hi);
    }
    for (int32_t g = 0; g < n_seg; g++) {
        int64_t len = seg[g].len, ih = seg[g].oh * a->sh - a->pt + kh * a->dh;
        int64_t lo = 0, hi = 0; /* valid positions t: col_lo <= ow + t < col_hi */
        if (ih >= 0 && ih < a->H) {
            lo = col_lo - seg[g].ow;
            hi = col_hi - seg[g].ow;
            hi = hi < len ? hi : len;
            lo = lo > 0 ? (lo < hi ? lo : hi) : 0;
            hi = hi > lo ? hi : lo;
        }
        const float *src = hi > lo ? xc + ih * a->W + (seg[g].ow + lo) * a->sw - a->pl + kw * a->dw : xc;
#if WI_X86
        if (KIND == 2 && a->sw == 1) {
            fill_run_avx512(d + seg[g].q, len, lo, hi, src);
            continue;
        }
        if (KIND == 1 && a->sw == 1) {
            fill_run_avx2(d + seg[g].q, len, lo, hi, src);
            continue;
        }
#endif
        fill_run(d + seg[g].q, len, lo, hi, src, a->sw);
    }
}

WI_INLINE void im2col_body(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int32_t nr,
                           float *dst, int KIND)
{
    const im2col_src *s = p->pack_arg;
    const wi_conv_args *a = s->a;
    int64_t kw_lo[TAP_TABLE], kw_hi[TAP_TABLE];
    tap_table(a, kw_lo, kw_hi);
    for (int64_t jp = 0; jp < nc; jp += nr, dst += kc * nr) {
        int64_t cols = nc - jp < nr ? nc - jp : nr;
        segment seg[WI_NR_MAX + 1];
        int32_t n_seg = 0;
        for (int64_t q = 0, j = j0 + jp; q < cols; n_seg++) {
            int64_t oh = j / a->OW, ow = j % a->OW, len = a->OW - ow < cols - q ? a->OW - ow : cols - q;
            seg[n_seg] = (segment){q, len, oh, ow};
            q += len;
            j += len;
        }
        int64_t c = k0 / (a->KH * a->KW), kh = k0 / a->KW % a->KH, kw = k0 % a->KW;
        for (int64_t k = 0; k < kc; k++) {
            float *d = dst + k * nr;
            im2col_row(a, s->x + c * a->H * a->W, kh, kw, seg, n_seg, kw_lo, kw_hi, d, KIND);
            for (int64_t t = cols; t < nr; t++)
                d[t] = 0.0f;
            if (++kw == a->KW) {
                kw = 0;
                if (++kh == a->KH) {
                    kh = 0;
                    c++;
                }
            }
        }
    }
}

static void im2col_generic(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int32_t nr,
                           float *dst)
{
    im2col_body(p, k0, kc, j0, nc, nr, dst, 0);
}

#if WI_X86
WI_TARGET_AVX2 static void im2col_avx2(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                                       int32_t nr, float *dst)
{
    im2col_body(p, k0, kc, j0, nc, nr, dst, 1);
}

WI_TARGET_AVX512 static void im2col_avx512(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0,
                                           int64_t nc, int32_t nr, float *dst)
{
    im2col_body(p, k0, kc, j0, nc, nr, dst, 2);
}
#endif

/* Packs rows [k0, k0 + kc) (k = (c, kh, kw)) x columns [j0, j0 + nc) (j = (oh, ow)) of the im2col matrix. */
static void pack_b_im2col(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int32_t nr,
                          float *dst)
{
#if WI_X86
    int32_t isa = ((const im2col_src *)p->pack_arg)->isa;
    if (isa >= WI_ISA_AVX512) {
        im2col_avx512(p, k0, kc, j0, nc, nr, dst);
        return;
    }
    if (isa == WI_ISA_AVX2) {
        im2col_avx2(p, k0, kc, j0, nc, nr, dst);
        return;
    }
#endif
    im2col_generic(p, k0, kc, j0, nc, nr, dst);
}

static int is_pointwise(const wi_conv_args *a)
{
    return a->KH == 1 && a->KW == 1 && a->sh == 1 && a->sw == 1 && a->pt == 0 && a->pl == 0 && a->OH == a->H &&
           a->OW == a->W;
}

typedef struct {
    wi_context *ctx;
    const wi_conv_args *a;
    int64_t n_chunks; /* depthwise: planes split into this many tasks */
} conv_job;

/* The GEMM of image n, group g, run on `thread` (or on the pool when thread < 0). */
static void conv_group(wi_context *ctx, const wi_conv_args *a, int64_t n, int64_t g, int32_t thread)
{
    int64_t cg = a->C / a->group, mg = a->M / a->group, P = a->OH * a->OW, K = cg * a->KH * a->KW;
    const float *x = a->x + (n * a->C + g * cg) * a->H * a->W;
    int64_t y_off = (n * a->M + g * mg) * P;
    im2col_src src = {a, x, ctx->isa};
    const float *w_packed = a->w_packed ? a->w_packed + g * wi_gemm_packed_floats(ctx->isa, 0, mg, P, K) : NULL;
    wi_gemm_problem p = {mg, P, K, w_packed, NULL, a->w + g * mg * K, K, 0, x, a->H * a->W, 0, NULL, &src,
                         a->y + y_off, P,
                         {1.0f, 1.0f, a->bias ? WI_BIAS_COL : WI_BIAS_NONE, a->bias ? a->bias + g * mg : NULL,
                          a->residual ? a->residual + y_off : NULL, a->act, a->act_alpha, a->act_beta}};
    if (!is_pointwise(a))
        p.pack_b = pack_b_im2col;
    wi_gemm_f32(ctx, &p, thread);
}

static void group_task(void *arg, int64_t task, int32_t thread)
{
    const conv_job *job = arg;
    conv_group(job->ctx, job->a, task / job->a->group, task % job->a->group, thread);
}

/* ---- depthwise ---- */

#define DW_LANES 16 /* output columns computed together, in registers */

/* The zero-padded copy of one input plane: every tap of every output column (rounded up to DW_LANES)
 * lands inside it, so the inner loops need no bounds checks. */
static void padded_dims(const wi_conv_args *a, int64_t *hp, int64_t *wp)
{
    int64_t ow_lanes = (a->OW + DW_LANES - 1) / DW_LANES * DW_LANES;
    *hp = (a->OH - 1) * a->sh + (a->KH - 1) * a->dh + 1;
    *wp = (ow_lanes - 1) * a->sw + (a->KW - 1) * a->dw + 1;
}

static int is_depthwise(const wi_conv_args *a) { return a->group == a->C && a->M == a->C && a->group > 1; }

WI_INLINE void load8(wi_v8 *v, const float *p, int64_t stride)
{
    if (stride == 1) {
        wi_load8(v, p);
    } else {
        for (int l = 0; l < 8; l++)
            (*v)[l] = p[l * stride];
    }
}

/* One plane: 16 output columns at a time, accumulated over all taps in registers. KH, KW and SW are
 * compile-time constants for the common kernels (the callers below), so the tap loops unroll. */
WI_INLINE void depthwise_plane_body(const wi_conv_args *a, const float *pad, int64_t wp, const float *w,
                                    float bias, const float *res, float *out, int64_t KH, int64_t KW, int64_t SW)
{
    for (int64_t oh = 0; oh < a->OH; oh++)
        for (int64_t ow0 = 0; ow0 < a->OW; ow0 += DW_LANES) {
            wi_v8 acc0 = {0}, acc1 = {0}, x0 = {0}, x1 = {0};
            acc0 += bias;
            acc1 += bias;
            for (int64_t kh = 0; kh < KH; kh++) {
                const float *row = pad + (oh * a->sh + kh * a->dh) * wp + ow0 * SW;
                for (int64_t kw = 0; kw < KW; kw++) {
                    float wv = w[kh * KW + kw];
                    load8(&x0, row + kw * a->dw, SW);
                    load8(&x1, row + kw * a->dw + 8 * SW, SW);
                    acc0 += wv * x0;
                    acc1 += wv * x1;
                }
            }
            float lanes[DW_LANES];
            __builtin_memcpy(lanes, &acc0, sizeof acc0);
            __builtin_memcpy(lanes + 8, &acc1, sizeof acc1);
            int64_t n = a->OW - ow0 < DW_LANES ? a->OW - ow0 : DW_LANES;
            float *o = out + oh * a->OW + ow0;
            const float *r = res ? res + oh * a->OW + ow0 : NULL;
            for (int64_t l = 0; l < n; l++)
                o[l] = r ? lanes[l] + r[l] : lanes[l];
        }
}

/* Fills the zero-padded plane (see padded_dims) from input plane xp. */
WI_INLINE void pad_plane_body(const wi_conv_args *a, const float *xp, float *pad, int64_t hp, int64_t wp)
{
    int64_t w_in = a->W < wp - a->pl ? a->W : wp - a->pl; /* input columns the padded rows hold */
    for (int64_t r = 0; r < hp; r++) {
        int64_t ih = r - a->pt;
        float *d = pad + r * wp;
        int64_t copy = ih >= 0 && ih < a->H ? w_in : 0, start = copy ? a->pl : wp;
        for (int64_t q = 0; q < start; q++)
            d[q] = 0.0f;
        for (int64_t q = 0; q < copy; q++)
            d[a->pl + q] = xp[ih * a->W + q];
        for (int64_t q = start + copy; q < wp; q++)
            d[q] = 0.0f;
    }
}

WI_INLINE void depthwise_body(const wi_conv_args *a, const float *xp, float *pad, int64_t hp, int64_t wp,
                              const float *w, float bias, const float *res, float *out)
{
    pad_plane_body(a, xp, pad, hp, wp);
    if (a->KH == 3 && a->KW == 3 && a->sw == 1)
        depthwise_plane_body(a, pad, wp, w, bias, res, out, 3, 3, 1);
    else if (a->KH == 3 && a->KW == 3 && a->sw == 2)
        depthwise_plane_body(a, pad, wp, w, bias, res, out, 3, 3, 2);
    else if (a->KH == 5 && a->KW == 5 && a->sw == 1)
        depthwise_plane_body(a, pad, wp, w, bias, res, out, 5, 5, 1);
    else
        depthwise_plane_body(a, pad, wp, w, bias, res, out, a->KH, a->KW, a->sw);
}

static void depthwise_generic(const wi_conv_args *a, const float *xp, float *pad, int64_t hp, int64_t wp,
                              const float *w, float bias, const float *res, float *out)
{
    depthwise_body(a, xp, pad, hp, wp, w, bias, res, out);
}

#if WI_X86
WI_TARGET_AVX2 static void depthwise_avx2(const wi_conv_args *a, const float *xp, float *pad, int64_t hp,
                                          int64_t wp, const float *w, float bias, const float *res, float *out)
{
    depthwise_body(a, xp, pad, hp, wp, w, bias, res, out);
}
#endif

static void depthwise_plane(const conv_job *job, int64_t plane, int32_t thread)
{
    const wi_conv_args *a = job->a;
    int64_t c = plane % a->C, P = a->OH * a->OW, hp, wp;
    padded_dims(a, &hp, &wp);
    float *pad = wi_scratch_thread(job->ctx, thread), *out = a->y + plane * P;
    const float *xp = a->x + plane * a->H * a->W, *w = a->w + c * a->KH * a->KW;
    const float *res = a->residual ? a->residual + plane * P : NULL;
    float bias = a->bias ? a->bias[c] : 0.0f;
#if WI_X86
    if (job->ctx->isa >= WI_ISA_AVX2)
        depthwise_avx2(a, xp, pad, hp, wp, w, bias, res, out);
    else
#endif
        depthwise_generic(a, xp, pad, hp, wp, w, bias, res, out);
    wi_elementwise_act_f32(job->ctx->isa, a->act, a->act_alpha, a->act_beta, out, out, P);
}

static void depthwise_task(void *arg, int64_t task, int32_t thread)
{
    const conv_job *job = arg;
    int64_t planes = job->a->N * job->a->C;
    for (int64_t p = planes * task / job->n_chunks; p < planes * (task + 1) / job->n_chunks; p++)
        depthwise_plane(job, p, thread);
}

int wi_conv_uses_gemm(const wi_conv_args *a) { return !is_depthwise(a); }

int64_t wi_conv_scratch(const wi_conv_args *a)
{
    if (is_depthwise(a)) {
        int64_t hp, wp;
        padded_dims(a, &hp, &wp);
        int64_t plain = hp * wp * (int64_t)sizeof(float), fast = wi_conv_dw_scratch(a);
        return plain > fast ? plain : fast;
    }
    int64_t gemm = wi_gemm_scratch(a->M / a->group, a->OH * a->OW, a->C / a->group * a->KH * a->KW, !is_pointwise(a));
    int64_t ig = a->w_packed ? wi_conv_igemm_scratch(a) : 0; /* the run's ISA picks the path */
    return gemm > ig ? gemm : ig;
}

int32_t wi_conv_2d_f32(wi_context *ctx, const wi_conv_args *a)
{
    int64_t units = a->N * a->group, planes = a->N * a->C;
    conv_job job = {ctx, a, 1};
    if (a->N * a->M * a->OH * a->OW == 0)
        return WI_OK;
    if (is_depthwise(a) && wi_conv_dw_ok(a, ctx->isa)) {
        wi_conv_dw(ctx, a);
        return WI_OK;
    }
    if (is_depthwise(a)) {
        job.n_chunks = wi_chunks(ctx, planes * a->OH * a->OW * a->KH * a->KW, 1 << 16);
        job.n_chunks = job.n_chunks < planes ? job.n_chunks : planes;
        wi_parallel_for(ctx, job.n_chunks, depthwise_task, &job);
        return WI_OK;
    }
    if (wi_conv_igemm_ok(a, ctx->isa)) {
        wi_conv_igemm(ctx, a);
        return WI_OK;
    }
    /* many (image, group) GEMMs: one per task; few big ones: each split over the pool */
    double flops = 2.0 * (double)(a->M / a->group) * (double)(a->OH * a->OW) * (double)(a->C / a->group * a->KH * a->KW);
    if (ctx->n_threads > 1 && units >= ctx->n_threads && units * flops >= 2e6 &&
        (units >= 4 * ctx->n_threads || flops < 4e6)) {
        wi_parallel_for(ctx, units, group_task, &job);
        return WI_OK;
    }
    for (int64_t u = 0; u < units; u++)
        conv_group(ctx, a, u / a->group, u % a->group, -1);
    return WI_OK;
}
