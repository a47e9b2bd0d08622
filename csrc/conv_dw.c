/* Depthwise CONV (group == C == M) with AVX-512: 16 outputs of one output row per vector.
 *
 * Masked loads and stores are slow on AMD cores, and so are loads that split cache lines, so the
 * tap loops use neither. A row's last vector is stored whole, its extra lanes landing on the next
 * row's first outputs, which are written afterwards; only a vector reaching past its plane is
 * masked. Two ways to feed the taps:
 *  - 3x3 with a left pad of 1, stride 1 (W == OW) or 2, by far the common case: X is read in place,
 *    each input vector once; stride 1 forms columns ow - 1, ow, ow + 1 from the previous, current and
 *    next vectors with valignd, and computes two output rows at once, sharing their middle input
 *    rows; stride 2 splits each pair of vectors into even and odd columns (2 ow, 2 ow + 1), the odd
 *    ones shifted for 2 ow - 1. Pads are a zero "previous" vector, a masked load at the row end and
 *    a zero row above and below.
 *  - anything else: the plane is copied into zero-padded phase planes (stride s: plane (i, j) holds
 *    the rows = i and columns = j mod s) with Wr floats a row, placed so that every tap of every
 *    output reads inside them; tap (kh, kw) of output (oh, ow) is then planes[off[tap] + oh * Wr + ow].
 * Bias, residual and ReLU/Clip are applied before the store; other activations run over the plane.
 */
#include "internal.h"
#include "threads.h"

#if WI_X86
#include <immintrin.h>

#define DW_MAX_K 8 /* kernel rows / columns the fast path takes */
#define DW_MAX_S 4 /* strides */
#define ALIGNR(hi, lo, n) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), n))

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

WI_INLINE __mmask16 lane_mask(int64_t lo, int64_t hi) /* bits l with lo <= l < hi */
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
}

typedef struct {
    int32_t direct;                   /* 1, 2: dw_3x3s1, dw_3x3s2 read X in place; 0: phase planes */
    int64_t Wr, Hs, L, T;             /* phase plane: Hs rows of Wr floats, data shifted by (T, L) */
    int64_t plane;                    /* floats per phase plane, slack included */
    int64_t taps;
    int64_t off[DW_MAX_K * DW_MAX_K]; /* tap t of output (oh, ow) reads planes + off[t] + oh * Wr + ow */
} dw_geom;

static int dw_setup(const wi_conv_args *a, dw_geom *g)
{
    if (a->KH > DW_MAX_K || a->KW > DW_MAX_K || a->sh > DW_MAX_S || a->sw > DW_MAX_S)
        return 0;
    int is3 = a->KH == 3 && a->KW == 3 && a->dh == 1 && a->dw == 1 && a->pl == 1;
    g->direct = is3 && a->sh == 1 && a->sw == 1 && a->W == a->OW ? 1 : is3 && a->sh == 2 && a->sw == 2 ? 2 : 0;
    /* tap (kh, kw) reads input row (oh + dr) * sh + ph, column (ow + dc) * sw + pw */
    int64_t dr[DW_MAX_K], ph[DW_MAX_K], dc[DW_MAX_K], pw[DW_MAX_K];
    int64_t dr_lo = 0, dr_hi = 0, dc_lo = 0, dc_hi = 0;
    for (int64_t kh = 0; kh < a->KH; kh++) {
        int64_t u = kh * a->dh - a->pt;
        dr[kh] = floor_div(u, a->sh);
        ph[kh] = u - dr[kh] * a->sh;
        dr_lo = kh == 0 || dr[kh] < dr_lo ? dr[kh] : dr_lo;
        dr_hi = kh == 0 || dr[kh] > dr_hi ? dr[kh] : dr_hi;
    }
    for (int64_t kw = 0; kw < a->KW; kw++) {
        int64_t u = kw * a->dw - a->pl;
        dc[kw] = floor_div(u, a->sw);
        pw[kw] = u - dc[kw] * a->sw;
        dc_lo = kw == 0 || dc[kw] < dc_lo ? dc[kw] : dc_lo;
        dc_hi = kw == 0 || dc[kw] > dc_hi ? dc[kw] : dc_hi;
    }
    g->L = -dc_lo;
    g->T = -dr_lo;
    g->Wr = (a->OW + dc_hi - dc_lo + 15) / 16 * 16;
    g->Hs = a->OH + dr_hi - dr_lo;
    g->plane = g->Hs * g->Wr + 32; /* slack: a row's last vector reads past it */
    g->taps = a->KH * a->KW;
    for (int64_t kh = 0; kh < a->KH; kh++)
        for (int64_t kw = 0; kw < a->KW; kw++)
            g->off[kh * a->KW + kw] =
                (ph[kh] * a->sw + pw[kw]) * g->plane + (dr[kh] + g->T) * g->Wr + dc[kw] + g->L;
    return 1;
}

/* Per-thread scratch, in floats: a zero row (direct kernels) or the phase planes. */
static int64_t dw_floats(const wi_conv_args *a, const dw_geom *g)
{
    return g->direct ? (a->W + 64 + 15) / 16 * 16 : a->sh * a->sw * g->plane;
}

int wi_conv_dw_ok(const wi_conv_args *a, int32_t isa)
{
    dw_geom g;
    return isa >= WI_ISA_AVX512 && a->OH * (a->OW + 2 * DW_MAX_K) < ((int64_t)1 << 28) && dw_setup(a, &g) &&
           dw_floats(a, &g) < ((int64_t)1 << 28);
}

int64_t wi_conv_dw_scratch(const wi_conv_args *a)
{
    dw_geom g;
    return dw_setup(a, &g) ? dw_floats(a, &g) * (int64_t)sizeof(float) : 0;
}

/* ---- shared pieces ---- */

typedef struct {
    __m512 bias, lo, hi; /* the clamp: ReLU, Clip, or none */
} dw_epi;

WI_TARGET_AVX512 WI_INLINE dw_epi epi_of(const wi_conv_args *a, float bias)
{
    dw_epi e;
    e.bias = _mm512_set1_ps(bias);
    e.lo = _mm512_set1_ps(a->act == WI_ACT_CLIP ? a->act_alpha : a->act == WI_ACT_RELU ? 0.0f : -__builtin_inff());
    e.hi = _mm512_set1_ps(a->act == WI_ACT_CLIP ? a->act_beta : __builtin_inff());
    return e;
}

/* out[p, p + 16) = clamp(sum + res) (sum holds the bias): whole when `whole`, else the first n lanes. */
WI_TARGET_AVX512 WI_INLINE void put16(__m512 sum, const float *res, float *out, int64_t p, int whole, int64_t n,
                                      const dw_epi *e)
{
    if (whole) {
        if (res)
            sum = _mm512_add_ps(sum, _mm512_loadu_ps(res + p));
        _mm512_storeu_ps(out + p, _mm512_min_ps(e->hi, _mm512_max_ps(e->lo, sum))); /* NaN stays NaN */
    } else {
        __mmask16 m = lane_mask(0, n);
        if (res)
            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(m, res + p));
        _mm512_mask_storeu_ps(out + p, m, _mm512_min_ps(e->hi, _mm512_max_ps(e->lo, sum)));
    }
}

/* Input row ih of plane x, or the zero row. */
WI_INLINE const float *in_row(const wi_conv_args *a, const float *x, const float *zero, int64_t ih)
{
    return ih >= 0 && ih < a->H ? x + ih * a->W : zero;
}

/* row[i, i + 16), zero past W. */
WI_TARGET_AVX512 WI_INLINE __m512 row_vec(const float *row, int64_t i, int64_t W)
{
    return i + 16 <= W ? _mm512_loadu_ps(row + i) : _mm512_maskz_loadu_ps(lane_mask(0, W - i), row + i);
}

/* The same where reading up to 16 floats past the row's end stays inside memory (`over`): a plain
 * load and a register mask, cheaper than a masked load on AMD cores; nothing at all past W. */
WI_TARGET_AVX512 WI_INLINE __m512 row_vec_over(const float *row, int64_t i, int64_t W, int over)
{
    if (i + 16 <= W)
        return _mm512_loadu_ps(row + i);
    if (i >= W)
        return _mm512_setzero_ps();
    return over ? _mm512_maskz_mov_ps(lane_mask(0, W - i), _mm512_loadu_ps(row + i))
                : _mm512_maskz_loadu_ps(lane_mask(0, W - i), row + i);
}

/* ---- 3x3, left pad 1, straight from X ---- */

/* [oh, oh + 2) x [ow, ow + 16) per step, stride 1 (W == OW): input rows oh - pt .. oh - pt + 3. */
WI_TARGET_AVX512 static void dw_3x3s1(const wi_conv_args *a, const float *x, const float *zero, const float *w,
                                      const dw_epi *e, const float *res, float *out, const float *x_end)
{
    __m512 wv[9];
    for (int t = 0; t < 9; t++)
        wv[t] = _mm512_set1_ps(w[t]);
    int64_t W = a->W, OH = a->OH, P = OH * W;
    for (int64_t oh = 0; oh < OH; oh += 2) {
        int rows = oh + 1 < OH ? 4 : 3;
        const float *r[4];
        int over[4]; /* a row's last vector may read on: the zero row, or a row 16 floats from X's end */
        __m512 prev[4], A[4]; /* per input row: the previous and current vector */
        for (int i = 0; i < 4; i++) {
            r[i] = i < rows ? in_row(a, x, zero, oh - a->pt + i) : zero;
            over[i] = r[i] == zero || x_end - r[i] >= W + 16;
            prev[i] = _mm512_setzero_ps();
            A[i] = row_vec_over(r[i], 0, W, over[i]);
        }
        for (int64_t ow = 0; ow < W; ow += 16) {
            __m512 acc[2][3]; /* per output row, three partial sums (a 9-FMA chain is latency bound) */
            for (int o = 0; o < 2; o++) {
                acc[o][0] = e->bias;
                acc[o][1] = acc[o][2] = _mm512_setzero_ps();
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                if (i >= rows)
                    break;
                __m512 B = row_vec_over(r[i], ow + 16, W, over[i]);
                __m512 v[3] = {ALIGNR(A[i], prev[i], 15), A[i], ALIGNR(B, A[i], 1)}; /* columns ow - 1, ow, ow + 1 */
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; kw++) {
                    if (i < 3) /* kernel row i of output row oh */
                        acc[0][kw] = _mm512_fmadd_ps(wv[i * 3 + kw], v[kw], acc[0][kw]);
                    if (i > 0) /* kernel row i - 1 of output row oh + 1 */
                        acc[1][kw] = _mm512_fmadd_ps(wv[(i - 1) * 3 + kw], v[kw], acc[1][kw]);
                }
                prev[i] = A[i];
                A[i] = B;
            }
            for (int o = 0; o < 2 && oh + o < OH; o++) {
                __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[o][0], acc[o][1]), acc[o][2]);
                int64_t p = (oh + o) * W + ow;
                /* not whole where the extra lanes would land on the lower row's written start */
                put16(sum, res, out, p, p + 16 <= P && (o == 1 || rows == 3 || ow + 16 <= W), W - ow, e);
            }
        }
    }
}

/* One output row by 16 columns per step, stride 2: input vectors hold columns 2 ow .. 2 ow + 31. */
WI_TARGET_AVX512 static void dw_3x3s2(const wi_conv_args *a, const float *x, const float *zero, const float *w,
                                      const dw_epi *e, const float *res, float *out)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512 wv[9];
    for (int t = 0; t < 9; t++)
        wv[t] = _mm512_set1_ps(w[t]);
    int64_t W = a->W, OW = a->OW, P = a->OH * OW;
    for (int64_t oh = 0; oh < a->OH; oh++) {
        const float *r[3];
        __m512 prev[3]; /* odd columns of the previous vector: its last is column 2 ow - 1 */
        for (int kh = 0; kh < 3; kh++) {
            r[kh] = in_row(a, x, zero, 2 * oh - a->pt + kh);
            prev[kh] = _mm512_setzero_ps();
        }
        for (int64_t ow = 0; ow < OW; ow += 16) {
            __m512 acc[3] = {e->bias, _mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma GCC unroll 3
            for (int kh = 0; kh < 3; kh++) {
                __m512 v0 = row_vec(r[kh], 2 * ow, W), v1 = row_vec(r[kh], 2 * ow + 16, W);
                __m512 ev = _mm512_permutex2var_ps(v0, even, v1), od = _mm512_permutex2var_ps(v0, odd, v1);
                acc[0] = _mm512_fmadd_ps(wv[kh * 3], ALIGNR(od, prev[kh], 15), acc[0]);
                acc[1] = _mm512_fmadd_ps(wv[kh * 3 + 1], ev, acc[1]);
                acc[2] = _mm512_fmadd_ps(wv[kh * 3 + 2], od, acc[2]);
                prev[kh] = od;
            }
            __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), acc[2]);
            int64_t p = oh * OW + ow;
            put16(sum, res, out, p, p + 16 <= P, P - p, e);
        }
    }
}

/* ---- any other shape: zero-padded phase planes ---- */

/* The data of input plane x into the phase planes (see dw_setup): input row ih goes to row
 * ih / sh + T of the planes (ih mod sh, j), its columns = j (mod sw) from column L on. Only data is
 * written: the padding around it is the same for every plane, zeroed once per task (dw_task). */
WI_TARGET_AVX512 static void dw_phases(const wi_conv_args *a, const dw_geom *g, const float *x, float *planes)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t W = a->W, sh = a->sh, sw = a->sw, room = g->Wr - g->L; /* data columns a plane row holds */
    int64_t n0 = (W + sw - 1) / sw, n1 = (W - 1 + sw - 1) / sw;   /* columns of phases 0 and 1 */
    n0 = n0 < room ? n0 : room;
    n1 = n1 < room ? n1 : room;
    int64_t full = sw == 1 ? n0 : n1 < W / 2 ? n1 : W / 2; /* whole vectors below this */
    full = full / 16 * 16;
    int64_t rows = (g->Hs - g->T) * sh < a->H ? (g->Hs - g->T) * sh : a->H; /* input rows the planes hold */
    for (int64_t ih = 0; ih < rows; ih++, x += W) {
        float *d = planes + (ih % sh) * sw * g->plane + (ih / sh + g->T) * g->Wr + g->L;
        int64_t q = 0;
        if (sw == 1) {
            for (; q < full; q += 16)
                _mm512_storeu_ps(d + q, _mm512_loadu_ps(x + q));
            for (; q < n0; q += 16) {
                __mmask16 m = lane_mask(0, n0 - q);
                _mm512_mask_storeu_ps(d + q, m, _mm512_maskz_loadu_ps(m, x + q));
            }
        } else if (sw == 2) { /* one pair of vectors: even columns to phase 0, odd ones to phase 1 */
            for (; q < full; q += 16) {
                __m512 lo = _mm512_loadu_ps(x + 2 * q), hi = _mm512_loadu_ps(x + 2 * q + 16);
                _mm512_storeu_ps(d + q, _mm512_permutex2var_ps(lo, even, hi));
                _mm512_storeu_ps(d + g->plane + q, _mm512_permutex2var_ps(lo, odd, hi));
            }
            for (; q < n0; q += 16) {
                __m512 lo = row_vec(x, 2 * q, W), hi = row_vec(x, 2 * q + 16, W);
                _mm512_mask_storeu_ps(d + q, lane_mask(0, n0 - q), _mm512_permutex2var_ps(lo, even, hi));
                _mm512_mask_storeu_ps(d + g->plane + q, lane_mask(0, n1 - q), _mm512_permutex2var_ps(lo, odd, hi));
            }
        } else {
            for (int64_t j = 0; j < sw; j++) {
                int64_t n = (W - j + sw - 1) / sw;
                for (q = 0; q < n && q < room; q++)
                    d[j * g->plane + q] = x[q * sw + j];
            }
        }
    }
}

/* [oh] x [ow, ow + 16) per step from the phase planes: one plain load per tap; TAPS is a constant
 * where the caller specialises (the tap loop unrolls). */
WI_TARGET_AVX512 WI_INLINE void dw_planes_body(const wi_conv_args *a, const dw_geom *g, const float *planes,
                                               const float *w, const dw_epi *e, const float *res, float *out,
                                               int64_t TAPS)
{
    __m512 wv[DW_MAX_K * DW_MAX_K];
    const float *src[DW_MAX_K * DW_MAX_K];
    for (int64_t t = 0; t < TAPS; t++) {
        wv[t] = _mm512_set1_ps(w[t]);
        src[t] = planes + g->off[t];
    }
    int64_t OW = a->OW, P = a->OH * OW;
    for (int64_t oh = 0; oh < a->OH; oh++)
        for (int64_t ow = 0; ow < OW; ow += 16) {
            int64_t v = oh * g->Wr + ow, p = oh * OW + ow;
            __m512 acc[3] = {e->bias, _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int64_t t = 0; t < TAPS; t++)
                acc[t % 3] = _mm512_fmadd_ps(wv[t], _mm512_loadu_ps(src[t] + v), acc[t % 3]);
            put16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), acc[2]), res, out, p, p + 16 <= P, P - p, e);
        }
}

WI_TARGET_AVX512 static void dw_planes_3x3(const wi_conv_args *a, const dw_geom *g, const float *planes,
                                           const float *w, const dw_epi *e, const float *res, float *out)
{
    dw_planes_body(a, g, planes, w, e, res, out, 9);
}

WI_TARGET_AVX512 static void dw_planes_any(const wi_conv_args *a, const dw_geom *g, const float *planes,
                                           const float *w, const dw_epi *e, const float *res, float *out)
{
    dw_planes_body(a, g, planes, w, e, res, out, g->taps);
}

/* ---- driver: planes split over the pool ---- */

typedef struct {
    wi_context *ctx;
    const wi_conv_args *a;
    const dw_geom *g;
    int64_t n_chunks;
} dw_job;

WI_TARGET_AVX512 static void dw_plane(const dw_job *job, int64_t pl, float *buf)
{
    const wi_conv_args *a = job->a;
    const dw_geom *g = job->g;
    int64_t c = pl % a->C, P = a->OH * a->OW;
    const float *x = a->x + pl * a->H * a->W, *w = a->w + c * g->taps;
    const float *res = a->residual ? a->residual + pl * P : NULL;
    float *out = a->y + pl * P;
    dw_epi e = epi_of(a, a->bias ? a->bias[c] : 0.0f);
    if (g->direct == 1) {
        dw_3x3s1(a, x, buf, w, &e, res, out, a->x + a->N * a->C * a->H * a->W);
    } else if (g->direct == 2) {
        dw_3x3s2(a, x, buf, w, &e, res, out);
    } else {
        dw_phases(a, g, x, buf);
        if (g->taps == 9)
            dw_planes_3x3(a, g, buf, w, &e, res, out);
        else
            dw_planes_any(a, g, buf, w, &e, res, out);
    }
    if (a->act != WI_ACT_NONE && a->act != WI_ACT_RELU && a->act != WI_ACT_CLIP)
        wi_elementwise_act_f32(job->ctx->isa, a->act, a->act_alpha, a->act_beta, out, out, P);
}

static void dw_task(void *arg, int64_t task, int32_t thread)
{
    const dw_job *job = arg;
    int64_t planes = job->a->N * job->a->C;
    float *buf = wi_scratch_thread(job->ctx, thread);
    for (int64_t q = 0; q < dw_floats(job->a, job->g); q++) /* the zero row, or the planes' padding */
        buf[q] = 0.0f;
    for (int64_t pl = planes * task / job->n_chunks; pl < planes * (task + 1) / job->n_chunks; pl++)
        dw_plane(job, pl, buf);
}

void wi_conv_dw(wi_context *ctx, const wi_conv_args *a)
{
    dw_geom g;
    dw_setup(a, &g);
    int64_t planes = a->N * a->C;
    dw_job job = {ctx, a, &g, ctx->n_threads > 1 ? wi_chunks(ctx, planes * a->OH * a->OW * g.taps, 1 << 16) : 1};
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
