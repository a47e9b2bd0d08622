/* LAYERNORM (per row of [outer, n]) and BATCHNORM (inference, per channel of [N, C, *]). */
#include "internal.h"
#include "threads.h"
#include "wi_math.h"

/* Sum of squared deviations from center, in 8 independent lanes so the loop vectorises. */
WI_INLINE float sq_dev_sum8(const float *x, int64_t n, float center)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lanes[j] += (x[i + j] - center) * (x[i + j] - center);
    for (; i < n; i++)
        lanes[0] += (x[i] - center) * (x[i] - center);
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

WI_INLINE float sum8(const float *x, int64_t n)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lanes[j] += x[i + j];
    for (; i < n; i++)
        lanes[0] += x[i];
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

/* Two passes (mean, then centred variance) for accuracy on rows with a large mean. */
WI_INLINE void layernorm_body(const wi_layernorm_args *a, int64_t r0, int64_t r1)
{
    int64_t n = a->n;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * n;
        float *y = a->y + r * n;
        float mean = sum8(x, n) / (float)n;
        float rstd = 1.0f / wi_sqrtf(sq_dev_sum8(x, n, mean) / (float)n + a->epsilon);
        if (a->bias)
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rstd * a->scale[i] + a->bias[i];
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rstd * a->scale[i];
    }
}

static void layernorm_generic(const wi_layernorm_args *a, int64_t r0, int64_t r1) { layernorm_body(a, r0, r1); }

#if WI_X86
WI_TARGET_AVX2 static void layernorm_avx2(const wi_layernorm_args *a, int64_t r0, int64_t r1)
{
    layernorm_body(a, r0, r1);
}
#endif

typedef struct {
    const void *a;
    int32_t isa;
    int64_t n_chunks, units;
} norm_job;

static void layernorm_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const norm_job *job = arg;
    int64_t r0 = job->units * task / job->n_chunks, r1 = job->units * (task + 1) / job->n_chunks;
#if WI_X86
    if (job->isa >= WI_ISA_AVX2) {
        layernorm_avx2(job->a, r0, r1);
        return;
    }
#endif
    layernorm_generic(job->a, r0, r1);
}

int32_t wi_norm_layernorm_f32(wi_context *ctx, const wi_layernorm_args *a)
{
    norm_job job = {a, ctx->isa, wi_chunks(ctx, a->outer * a->n, 1 << 14), a->outer};
    job.n_chunks = job.n_chunks < a->outer ? job.n_chunks : a->outer;
    if (a->n > 0)
        wi_parallel_for(ctx, job.n_chunks, layernorm_task, &job);
    return WI_OK;
}

/* ---- BATCHNORM: y = x * k + (bias - mean * k), k = scale / sqrt(var + eps) ---- */

WI_INLINE void batchnorm_body(const wi_batchnorm_args *a, int64_t p0, int64_t p1)
{
    for (int64_t p = p0; p < p1; p++) {
        int64_t c = p % a->C;
        float k = a->scale[c] / wi_sqrtf(a->var[c] + a->epsilon), b = a->bias[c] - a->mean[c] * k;
        const float *x = a->x + p * a->S;
        float *y = a->y + p * a->S;
        for (int64_t i = 0; i < a->S; i++)
            y[i] = x[i] * k + b;
    }
}

static void batchnorm_generic(const wi_batchnorm_args *a, int64_t p0, int64_t p1) { batchnorm_body(a, p0, p1); }

#if WI_X86
WI_TARGET_AVX2 static void batchnorm_avx2(const wi_batchnorm_args *a, int64_t p0, int64_t p1)
{
    batchnorm_body(a, p0, p1);
}
#endif

static void batchnorm_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const norm_job *job = arg;
    int64_t p0 = job->units * task / job->n_chunks, p1 = job->units * (task + 1) / job->n_chunks;
#if WI_X86
    if (job->isa >= WI_ISA_AVX2) {
        batchnorm_avx2(job->a, p0, p1);
        return;
    }
#endif
    batchnorm_generic(job->a, p0, p1);
}

int32_t wi_norm_batchnorm_f32(wi_context *ctx, const wi_batchnorm_args *a)
{
    int64_t planes = a->N * a->C;
    norm_job job = {a, ctx->isa, wi_chunks(ctx, planes * a->S, 1 << 14), planes};
    job.n_chunks = job.n_chunks < planes ? job.n_chunks : planes;
    if (planes * a->S > 0)
        wi_parallel_for(ctx, job.n_chunks, batchnorm_task, &job);
    return WI_OK;
}
