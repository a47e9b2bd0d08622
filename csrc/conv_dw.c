/* Depthwise CONV (group == C == M) with AVX-512: 16 outputs per vector over the flattened plane.
 *
 * With stride s, split the input plane into phase planes by (row mod s, column mod s), each stored
 * with row stride OW. Tap (kh, kw) of output p = oh * OW + ow then reads its phase plane at
 * p + dr * OW + dc, one fixed offset for the whole plane, so a vector of 16 consecutive outputs (which
 * may span several rows) is one masked load per tap: the mask drops lanes whose tap falls outside
 * the input (padding) or past the plane's end. Stride 1 with W == OW reads X itself; other strides
 * copy the plane into phases first (a deinterleave, one pass). The masks depend only on the block
 * and the tap, so each task tabulates them once for all its planes. Bias, residual and ReLU/Clip
 * are applied before the single store.
 */
#include "internal.h"
#include "threads.h"

#if WI_X86
#include <immintrin.h>

#define DW_MAX_K 8 /* kernel rows / columns the fast path takes */
#define DW_MAX_S 4 /* strides */

typedef struct {
    int64_t P, nblocks, taps;
    int64_t ph[DW_MAX_K], dr[DW_MAX_K], pw[DW_MAX_K], dc[DW_MAX_K]; /* per kernel row / column */
    int64_t hq[DW_MAX_S], wq[DW_MAX_S]; /* phase plane extents */
    int32_t direct;                     /* stride 1, W == OW: X is its own phase plane */
} dw_geom;

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int dw_setup(const wi_conv_args *a, dw_geom *g)
{
    if (a->KH > DW_MAX_K || a->KW > DW_MAX_K || a->sh > DW_MAX_S || a->sw > DW_MAX_S)
        return 0;
    g->P = a->OH * a->OW;
    g->nblocks = (g->P + 15) / 16;
    g->taps = a->KH * a->KW;
    for (int64_t kh = 0; kh < a->KH; kh++) {
        int64_t u = kh * a->dh - a->pt;
        g->dr[kh] = floor_div(u, a->sh);
        g->ph[kh] = u - g->dr[kh] * a->sh;
    }
    for (int64_t kw = 0; kw < a->KW; kw++) {
        int64_t u = kw * a->dw - a->pl;
        g->dc[kw] = floor_div(u, a->sw);
        g->pw[kw] = u - g->dc[kw] * a->sw;
    }
    for (int64_t i = 0; i < a->sh; i++)
        g->hq[i] = (a->H - i + a->sh - 1) / a->sh;
    for (int64_t j = 0; j < a->sw; j++) {
        g->wq[j] = (a->W - j + a->sw - 1) / a->sw;
        if (g->wq[j] > a->OW) /* a phase row must fit the OW-wide stride */
            return 0;
    }
    g->direct = a->sh == 1 && a->sw == 1 && a->W == a->OW;
    return 1;
}

/* Per-thread scratch: [phase planes | masks: nblocks x taps uint16]. */
static int64_t planes_floats(const wi_conv_args *a, const dw_geom *g)
{
    return g->direct ? 0 : (a->sh * a->sw * g->hq[0] * a->OW + 16 + 15) / 16 * 16;
}

int wi_conv_dw_ok(const wi_conv_args *a, int32_t isa)
{
    dw_geom g;
    return isa >= WI_ISA_AVX512 && a->OH * a->OW < ((int64_t)1 << 28) && dw_setup(a, &g);
}

int64_t wi_conv_dw_scratch(const wi_conv_args *a)
{
    dw_geom g;
    if (!dw_setup(a, &g))
        return 0;
    return planes_floats(a, &g) * (int64_t)sizeof(float) + g.nblocks * g.taps * 2 + 64;
}

/* masks[b * taps + t]: lanes of block b whose tap t reads inside the input (none past P). */
WI_TARGET_AVX512 static void dw_masks(const wi_conv_args *a, const dw_geom *g, uint16_t *masks)
{
    __m512i ow = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), oh = _mm512_setzero_si512();
    __m512i vow = _mm512_set1_epi32((int32_t)a->OW), sixteen = _mm512_set1_epi32(16), one = _mm512_set1_epi32(1);
    for (int64_t b = 0; b < g->nblocks; b++) {
        for (;;) { /* ow in [0, OW): carry whole rows into oh */
            __mmask16 over = _mm512_cmpge_epi32_mask(ow, vow);
            if (!over)
                break;
            ow = _mm512_mask_sub_epi32(ow, over, ow, vow);
            oh = _mm512_mask_add_epi32(oh, over, oh, one);
        }
        int64_t left = g->P - b * 16;
        __mmask16 tail = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __mmask16 rows[DW_MAX_K], cols[DW_MAX_K];
        for (int64_t kh = 0; kh < a->KH; kh++) /* unsigned compare: 0 <= oh + dr < hq */
            rows[kh] = _mm512_cmplt_epu32_mask(_mm512_add_epi32(oh, _mm512_set1_epi32((int32_t)g->dr[kh])),
                                               _mm512_set1_epi32((int32_t)g->hq[g->ph[kh]]));
        for (int64_t kw = 0; kw < a->KW; kw++)
            cols[kw] = _mm512_cmplt_epu32_mask(_mm512_add_epi32(ow, _mm512_set1_epi32((int32_t)g->dc[kw])),
                                               _mm512_set1_epi32((int32_t)g->wq[g->pw[kw]]));
        for (int64_t kh = 0; kh < a->KH; kh++)
            for (int64_t kw = 0; kw < a->KW; kw++)
                masks[b * g->taps + kh * a->KW + kw] = rows[kh] & cols[kw] & tail;
        ow = _mm512_add_epi32(ow, sixteen);
    }
}

WI_INLINE __mmask16 lane_mask(int64_t lo, int64_t hi) /* bits l with lo <= l < hi */
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
}

/* The phase planes of one input plane: plane (i, j) row R, column q = x[R * sh + i][q * sw + j].
 * Strides 1 and 2 move whole (masked) vectors, stride 2 splitting each pair into evens and odds. */
WI_TARGET_AVX512 static void dw_phases(const wi_conv_args *a, const dw_geom *g, const float *x, float *planes)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t plane = g->hq[0] * a->OW, W = a->W, sw = a->sw, n = g->wq[0];
    float *d[DW_MAX_S]; /* next row of each row phase */
    for (int64_t i = 0; i < a->sh; i++)
        d[i] = planes + i * sw * plane;
    /* every vector but a row's last is whole; the last one's masks are the same for all rows */
    int64_t last = (n - 1) / 16 * 16;
    __mmask16 in_lo = lane_mask(0, W - sw * last), in_hi = lane_mask(0, W - 2 * last - 16);
    __mmask16 out0 = lane_mask(0, n - last), out1 = lane_mask(0, g->wq[sw > 1] - last);
    for (int64_t ih = 0, i = 0; ih < a->H; ih++, x += W) {
        float *dst = d[i];
        d[i] += a->OW;
        i = i + 1 == a->sh ? 0 : i + 1;
        if (sw == 1) {
            for (int64_t q = 0; q < last; q += 16)
                _mm512_storeu_ps(dst + q, _mm512_loadu_ps(x + q));
            _mm512_mask_storeu_ps(dst + last, out0, _mm512_maskz_loadu_ps(in_lo, x + last));
        } else if (sw == 2) {
            for (int64_t q = 0; q < last; q += 16) {
                __m512 lo = _mm512_loadu_ps(x + 2 * q), hi = _mm512_loadu_ps(x + 2 * q + 16);
                _mm512_storeu_ps(dst + q, _mm512_permutex2var_ps(lo, even, hi));
                _mm512_storeu_ps(dst + plane + q, _mm512_permutex2var_ps(lo, odd, hi));
            }
            __m512 lo = _mm512_maskz_loadu_ps(in_lo, x + 2 * last), hi = _mm512_maskz_loadu_ps(in_hi, x + 2 * last + 16);
            _mm512_mask_storeu_ps(dst + last, out0, _mm512_permutex2var_ps(lo, even, hi));
            _mm512_mask_storeu_ps(dst + plane + last, out1, _mm512_permutex2var_ps(lo, odd, hi));
        } else {
            for (int64_t j = 0; j < sw; j++)
                for (int64_t q = 0; q < g->wq[j]; q++)
                    dst[j * plane + q] = x[q * sw + j];
        }
    }
}

typedef struct {
    wi_context *ctx;
    const wi_conv_args *a;
    const dw_geom *g;
    const uint16_t *masks; /* in thread 0's scratch, after its phase planes; shared by all tasks */
    int64_t n_chunks;
} dw_job;

/* One plane; KH and KW are constants where the caller specialises (the tap loop unrolls). */
WI_TARGET_AVX512 WI_INLINE void dw_plane_body(const wi_conv_args *a, const dw_geom *g, const float *const *src, const float *w,
                             float bias, const float *res, float *out, const uint16_t *masks, int64_t KH,
                             int64_t KW)
{
    __m512 wv[DW_MAX_K * DW_MAX_K];
    for (int64_t t = 0; t < KH * KW; t++)
        wv[t] = _mm512_set1_ps(w[t]);
    __m512 lo = _mm512_set1_ps(a->act == WI_ACT_CLIP ? a->act_alpha : a->act == WI_ACT_RELU ? 0.0f : -__builtin_inff());
    __m512 hi = _mm512_set1_ps(a->act == WI_ACT_CLIP ? a->act_beta : __builtin_inff());
    __m512 vb = _mm512_set1_ps(bias);
    const float *sp[DW_MAX_K * DW_MAX_K]; /* local copies: the stores below cannot alias them */
    for (int64_t t = 0; t < KH * KW; t++)
        sp[t] = src[t];
    for (int64_t b = 0; b < g->nblocks; b++, masks += KH * KW) {
        int64_t p = b * 16, left = g->P - p;
        /* three partial sums: a 9-FMA chain would be latency bound */
        __m512 acc[3] = {vb, _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t t = 0; t < KH * KW; t++)
            acc[t % 3] = _mm512_fmadd_ps(wv[t], _mm512_maskz_loadu_ps(masks[t], sp[t] + p), acc[t % 3]);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), acc[2]);
        __mmask16 tail = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        if (res)
            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(tail, res + p));
        sum = _mm512_min_ps(hi, _mm512_max_ps(lo, sum)); /* NaN stays NaN */
        _mm512_mask_storeu_ps(out + p, tail, sum);
    }
}

WI_TARGET_AVX512 static void dw_plane_3x3(const wi_conv_args *a, const dw_geom *g, const float *const *src,
                                          const float *w, float bias, const float *res, float *out,
                                          const uint16_t *masks)
{
    dw_plane_body(a, g, src, w, bias, res, out, masks, 3, 3);
}

WI_TARGET_AVX512 static void dw_plane_any(const wi_conv_args *a, const dw_geom *g, const float *const *src,
                                          const float *w, float bias, const float *res, float *out,
                                          const uint16_t *masks)
{
    dw_plane_body(a, g, src, w, bias, res, out, masks, a->KH, a->KW);
}

static void dw_task(void *arg, int64_t task, int32_t thread)
{
    const dw_job *job = arg;
    const wi_conv_args *a = job->a;
    const dw_geom *g = job->g;
    int64_t planes = a->N * a->C, HW = a->H * a->W;
    int64_t plane = g->hq[0] * a->OW;
    float *ph = wi_scratch_thread(job->ctx, thread);
    const uint16_t *masks = job->masks;
    for (int64_t pl = planes * task / job->n_chunks; pl < planes * (task + 1) / job->n_chunks; pl++) {
        int64_t c = pl % a->C;
        const float *x = a->x + pl * HW, *base = x;
        if (!g->direct) {
            dw_phases(a, g, x, ph);
            base = ph;
        }
        const float *src[DW_MAX_K * DW_MAX_K];
        for (int64_t kh = 0; kh < a->KH; kh++)
            for (int64_t kw = 0; kw < a->KW; kw++)
                src[kh * a->KW + kw] = base + (g->ph[kh] * a->sw + g->pw[kw]) * plane + g->dr[kh] * a->OW + g->dc[kw];
        float *out = a->y + pl * g->P;
        const float *res = a->residual ? a->residual + pl * g->P : NULL, *w = a->w + c * g->taps;
        float bias = a->bias ? a->bias[c] : 0.0f;
        if (a->KH == 3 && a->KW == 3)
            dw_plane_3x3(a, g, src, w, bias, res, out, masks);
        else
            dw_plane_any(a, g, src, w, bias, res, out, masks);
        if (a->act != WI_ACT_NONE && a->act != WI_ACT_RELU && a->act != WI_ACT_CLIP)
            wi_elementwise_act_f32(job->ctx->isa, a->act, a->act_alpha, a->act_beta, out, out, g->P);
    }
}

void wi_conv_dw(wi_context *ctx, const wi_conv_args *a)
{
    dw_geom g;
    dw_setup(a, &g);
    int64_t planes = a->N * a->C;
    uint16_t *masks = (uint16_t *)((float *)wi_scratch_thread(ctx, 0) + planes_floats(a, &g));
    dw_masks(a, &g, masks);
    dw_job job = {ctx, a, &g, masks, ctx->n_threads > 1 ? wi_chunks(ctx, planes * g.P * g.taps, 1 << 16) : 1};
    job.n_chunks = job.n_chunks < planes ? job.n_chunks : planes;
    wi_parallel_for(ctx, job.n_chunks, dw_task, &job);
}

#else /* no x86: conv.c's portable depthwise runs everything */

int wi_conv_dw_ok(const wi_conv_args *a, int32_t isa)
{
    (void)a;
    (void)isa;
    return 0;
}

int64_t wi_conv_dw_scratch(const wi_conv_args *a)
{
    (void)a;
    return 0;
}

void wi_conv_dw(wi_context *ctx, const wi_conv_args *a)
{
    (void)ctx;
    (void)a;
}

#endif
