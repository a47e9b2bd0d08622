/* REDUCE (sum, mean, max, min, prod over the middle axis of [outer, n, inner]) and SOFTMAX. */
#include "internal.h"
#include "threads.h"
#include "wi_math.h"

WI_INLINE float combine(int32_t op, float acc, float v)
{
    switch (op) {
    case WI_RED_MAX: return v > acc || v != v ? v : acc;
    case WI_RED_MIN: return v < acc || v != v ? v : acc;
    case WI_RED_PROD: return acc * v;
    default: return acc + v;
    }
}

static float identity(int32_t op)
{
    return op == WI_RED_MAX ? -WI_INF : op == WI_RED_MIN ? WI_INF : op == WI_RED_PROD ? 1.0f : 0.0f;
}

/* Reduces n contiguous floats with 8 independent lanes (so the loop vectorises), then folds them.
 * op must be a constant here (see reduce_contiguous) so combine() folds to one operation. */
WI_INLINE float reduce_contiguous_op(int32_t op, const float *x, int64_t n)
{
    float lanes[8];
    for (int j = 0; j < 8; j++)
        lanes[j] = identity(op);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lanes[j] = combine(op, lanes[j], x[i + j]);
    for (; i < n; i++)
        lanes[0] = combine(op, lanes[0], x[i]);
    float r = lanes[0];
    for (int j = 1; j < 8; j++)
        r = combine(op, r, lanes[j]);
    return r;
}

WI_INLINE float reduce_contiguous(int32_t op, const float *x, int64_t n)
{
    switch (op) {
    case WI_RED_MAX: return reduce_contiguous_op(WI_RED_MAX, x, n);
    case WI_RED_MIN: return reduce_contiguous_op(WI_RED_MIN, x, n);
    case WI_RED_PROD: return reduce_contiguous_op(WI_RED_PROD, x, n);
    default: return reduce_contiguous_op(WI_RED_SUM, x, n);
    }
}

/* y[i] = op over j of x[j * stride + i], for i in [0, m); op constant as above. */
WI_INLINE void reduce_strided_op(int32_t op, const float *x, int64_t n, int64_t stride, float *y, int64_t m)
{
    float init = identity(op);
    for (int64_t i = 0; i < m; i++)
        y[i] = init;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++)
            y[i] = combine(op, y[i], x[j * stride + i]);
}

WI_INLINE void reduce_strided(int32_t op, const float *x, int64_t n, int64_t stride, float *y, int64_t m)
{
    switch (op) {
    case WI_RED_MAX: reduce_strided_op(WI_RED_MAX, x, n, stride, y, m); break;
    case WI_RED_MIN: reduce_strided_op(WI_RED_MIN, x, n, stride, y, m); break;
    case WI_RED_PROD: reduce_strided_op(WI_RED_PROD, x, n, stride, y, m); break;
    default: reduce_strided_op(WI_RED_SUM, x, n, stride, y, m); break;
    }
}

typedef struct {
    const wi_reduce_args *a;
    int32_t isa;
    int64_t n_chunks, inner_chunks;
} reduce_job;

/* A task covers a range of outer rows (inner == 1) or, otherwise, one outer row and a slice of inner. */
WI_INLINE void reduce_task_body(const reduce_job *job, int64_t task)
{
    const wi_reduce_args *a = job->a;
    float scale = a->op == WI_RED_MEAN ? 1.0f / (float)a->n : 1.0f;
    if (a->inner == 1) {
        int64_t o0 = a->outer * task / job->n_chunks, o1 = a->outer * (task + 1) / job->n_chunks;
        for (int64_t o = o0; o < o1; o++)
            a->y[o] = reduce_contiguous(a->op, a->x + o * a->n, a->n) * scale;
        return;
    }
    int64_t o = task / job->inner_chunks, c = task % job->inner_chunks;
    int64_t i0 = a->inner * c / job->inner_chunks, i1 = a->inner * (c + 1) / job->inner_chunks;
    float *y = a->y + o * a->inner + i0;
    reduce_strided(a->op, a->x + o * a->n * a->inner + i0, a->n, a->inner, y, i1 - i0);
    if (a->op == WI_RED_MEAN)
        for (int64_t i = 0; i < i1 - i0; i++)
            y[i] *= scale;
}

static void reduce_task_generic(const reduce_job *job, int64_t task) { reduce_task_body(job, task); }

#if WI_X86
WI_TARGET_AVX2 static void reduce_task_avx2(const reduce_job *job, int64_t task) { reduce_task_body(job, task); }
#endif

static void reduce_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const reduce_job *job = arg;
#if WI_X86
    if (job->isa >= WI_ISA_AVX2) {
        reduce_task_avx2(job, task);
        return;
    }
#endif
    reduce_task_generic(job, task);
}

int32_t wi_reduce_axis_f32(wi_context *ctx, const wi_reduce_args *a)
{
    reduce_job job = {a, ctx->isa, 1, 1};
    int64_t work = a->outer * a->n * a->inner;
    if (a->outer * a->inner == 0)
        return WI_OK;
    if (a->inner == 1) {
        job.n_chunks = wi_chunks(ctx, work, 1 << 15);
        job.n_chunks = job.n_chunks < a->outer ? job.n_chunks : a->outer;
    } else {
        int64_t per_outer = (wi_chunks(ctx, work, 1 << 15) + a->outer - 1) / a->outer;
        job.inner_chunks = per_outer < (a->inner + 7) / 8 ? per_outer : (a->inner + 7) / 8;
        job.n_chunks = a->outer * job.inner_chunks;
    }
    wi_parallel_for(ctx, job.n_chunks, reduce_task, &job);
    return WI_OK;
}

/* ---- SOFTMAX ---- */

int64_t wi_softmax_scratch(const wi_softmax_args *a)
{
    return a->inner > 1 ? 2 * a->inner * (int64_t)sizeof(float) : 0;
}

typedef struct {
    wi_context *ctx;
    const wi_softmax_args *a;
    int64_t n_chunks;
} softmax_job;

WI_INLINE void softmax_rows_body(const wi_softmax_args *a, int64_t o0, int64_t o1, float *m, float *s)
{
    int64_t n = a->n, inner = a->inner;
    for (int64_t o = o0; o < o1; o++) {
        const float *x = a->x + o * n * inner;
        float *y = a->y + o * n * inner;
        reduce_strided(WI_RED_MAX, x, n, inner, m, inner);
        for (int64_t i = 0; i < inner; i++)
            s[i] = 0.0f;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < inner; i++) {
                float e = wi_expf(x[j * inner + i] - m[i]);
                y[j * inner + i] = e;
                s[i] += e;
            }
        if (a->log) {
            for (int64_t i = 0; i < inner; i++)
                s[i] = m[i] + wi_logf(s[i]);
            for (int64_t j = 0; j < n; j++)
                for (int64_t i = 0; i < inner; i++)
                    y[j * inner + i] = x[j * inner + i] - s[i];
        } else {
            for (int64_t i = 0; i < inner; i++)
                s[i] = 1.0f / s[i];
            for (int64_t j = 0; j < n; j++)
                for (int64_t i = 0; i < inner; i++)
                    y[j * inner + i] *= s[i];
        }
    }
}

/* inner == 1: each row is contiguous; exp(x - max) is stored first, then summed with 8 lanes. */
WI_INLINE void softmax_contiguous_body(const wi_softmax_args *a, int64_t o0, int64_t o1)
{
    int64_t n = a->n;
    for (int64_t o = o0; o < o1; o++) {
        const float *x = a->x + o * n;
        float *y = a->y + o * n;
        float mx = reduce_contiguous(WI_RED_MAX, x, n);
        for (int64_t i = 0; i < n; i++)
            y[i] = wi_expf(x[i] - mx);
        float sum = reduce_contiguous(WI_RED_SUM, y, n);
        if (a->log) {
            float shift = mx + wi_logf(sum);
            for (int64_t i = 0; i < n; i++)
                y[i] = x[i] - shift;
        } else {
            float inv = 1.0f / sum;
            for (int64_t i = 0; i < n; i++)
                y[i] *= inv;
        }
    }
}

WI_INLINE void softmax_body(const wi_softmax_args *a, int64_t o0, int64_t o1, float *m, float *s)
{
    if (a->inner == 1)
        softmax_contiguous_body(a, o0, o1);
    else
        softmax_rows_body(a, o0, o1, m, s);
}

static void softmax_generic(const wi_softmax_args *a, int64_t o0, int64_t o1, float *m, float *s)
{
    softmax_body(a, o0, o1, m, s);
}

#if WI_X86
WI_TARGET_AVX2 static void softmax_avx2(const wi_softmax_args *a, int64_t o0, int64_t o1, float *m, float *s)
{
    softmax_body(a, o0, o1, m, s);
}
#endif

static void softmax_task(void *arg, int64_t task, int32_t thread)
{
    const softmax_job *job = arg;
    const wi_softmax_args *a = job->a;
    int64_t o0 = a->outer * task / job->n_chunks, o1 = a->outer * (task + 1) / job->n_chunks;
    float *m = wi_scratch_thread(job->ctx, thread), *s = m + a->inner;
#if WI_X86
    if (job->ctx->isa >= WI_ISA_AVX2) {
        softmax_avx2(a, o0, o1, m, s);
        return;
    }
#endif
    softmax_generic(a, o0, o1, m, s);
}

int32_t wi_reduce_softmax_f32(wi_context *ctx, const wi_softmax_args *a)
{
    softmax_job job = {ctx, a, wi_chunks(ctx, a->outer * a->n * a->inner, 1 << 14)};
    job.n_chunks = job.n_chunks < a->outer ? job.n_chunks : a->outer;
    if (a->n * a->inner > 0)
        wi_parallel_for(ctx, job.n_chunks, softmax_task, &job);
    return WI_OK;
}
