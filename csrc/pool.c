/* POOL: 2-D max / average pooling over NCHW planes, vectorised along output rows. */
#include "internal.h"
#include "threads.h"

/* Output columns [*lo, *hi) whose tap kw reads inside the input row (ow * sw - pl + kw * dw in [0, W)). */
static void tap_cols(const wi_pool_args *a, int64_t kw, int64_t *lo, int64_t *hi)
{
    int64_t off = kw * a->dw - a->pl, s = a->sw;
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = off >= a->W ? 0 : (a->W - off + s - 1) / s;
    *hi = *hi < a->OW ? *hi : a->OW;
    *lo = *lo < *hi ? *lo : *hi;
}

/* How many taps k in [0, K) land inside [lo_bound, hi_bound) when tap k sits at start + k * d. */
static int64_t taps_inside(int64_t start, int64_t K, int64_t d, int64_t lo_bound, int64_t hi_bound)
{
    int64_t n = 0;
    for (int64_t k = 0; k < K; k++)
        n += start + k * d >= lo_bound && start + k * d < hi_bound;
    return n;
}

/* One plane, tap by tap over all output rows: out = max or sum of the taps inside the input. */
/* One tap over one output row: o[ow] = max or sum with row[ow * SW] for ow in [lo, hi). */
#define TAP_ROW(SW)                                                   \
    do {                                                              \
        if (is_max)                                                   \
            for (int64_t ow = lo; ow < hi; ow++) {                    \
                float v = row[ow * (SW)];                             \
                o[ow] = v > o[ow] || v != v ? v : o[ow];              \
            }                                                         \
        else                                                          \
            for (int64_t ow = lo; ow < hi; ow++)                      \
                o[ow] += row[ow * (SW)];                              \
    } while (0)

/* One plane, tap by tap over all output rows: out = max or sum of the taps inside the input.
 * Strides 1 and 2 are spelled as constants so those loops vectorise. */
WI_INLINE void pool_plane_body(const wi_pool_args *a, const float *xp, float *out)
{
    int is_max = a->kind == WI_POOL_MAX;
    for (int64_t i = 0; i < a->OH * a->OW; i++)
        out[i] = is_max ? -__builtin_inff() : 0.0f;
    for (int64_t kw = 0; kw < a->KW; kw++) {
        int64_t lo, hi, off = kw * a->dw - a->pl;
        tap_cols(a, kw, &lo, &hi);
        for (int64_t kh = 0; kh < a->KH; kh++)
            for (int64_t oh = 0; oh < a->OH; oh++) {
                int64_t ih = oh * a->sh - a->pt + kh * a->dh;
                if (ih < 0 || ih >= a->H)
                    continue;
                const float *row = xp + ih * a->W + off;
                float *o = out + oh * a->OW;
                if (a->sw == 1)
                    TAP_ROW(1);
                else if (a->sw == 2)
                    TAP_ROW(2);
                else
                    TAP_ROW(a->sw);
            }
    }
}

static void pool_plane_generic(const wi_pool_args *a, const float *xp, float *out) { pool_plane_body(a, xp, out); }

#if WI_X86
WI_TARGET_AVX2 static void pool_plane_avx2(const wi_pool_args *a, const float *xp, float *out)
{
    pool_plane_body(a, xp, out);
}
#endif

typedef struct {
    const wi_pool_args *a;
    int32_t isa;
    int64_t n_chunks;
} pool_job;

static void pool_plane(const pool_job *job, int64_t plane)
{
    const wi_pool_args *a = job->a;
    float *out = a->y + plane * a->OH * a->OW;
#if WI_X86
    if (job->isa >= WI_ISA_AVX2)
        pool_plane_avx2(a, a->x + plane * a->H * a->W, out);
    else
#endif
        pool_plane_generic(a, a->x + plane * a->H * a->W, out);
    if (a->kind != WI_POOL_AVG)
        return;
    /* divisor: taps inside the input, or inside input plus explicit pads */
    int64_t cip = a->count_include_pad;
    for (int64_t oh = 0; oh < a->OH; oh++) {
        int64_t nh = taps_inside(oh * a->sh - a->pt, a->KH, a->dh, cip ? -a->pt : 0, cip ? a->H + a->pb : a->H);
        for (int64_t ow = 0; ow < a->OW; ow++) {
            int64_t nw = taps_inside(ow * a->sw - a->pl, a->KW, a->dw, cip ? -a->pl : 0, cip ? a->W + a->pr : a->W);
            out[oh * a->OW + ow] /= (float)(nh * nw); /* 0/0 = NaN for a window of padding only */
        }
    }
}

static void pool_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const pool_job *job = arg;
    int64_t planes = job->a->planes;
    for (int64_t p = planes * task / job->n_chunks; p < planes * (task + 1) / job->n_chunks; p++)
        pool_plane(job, p);
}

int32_t wi_pool_2d_f32(wi_context *ctx, const wi_pool_args *a)
{
    int64_t work = a->planes * a->OH * a->OW * a->KH * a->KW;
    pool_job job = {a, ctx->isa, wi_chunks(ctx, work, 1 << 16)};
    job.n_chunks = job.n_chunks < a->planes ? job.n_chunks : a->planes;
    if (a->OH * a->OW > 0 && a->planes > 0)
        wi_parallel_for(ctx, job.n_chunks, pool_task, &job);
    return WI_OK;
}
