/* CAST between all numeric ONNX dtypes and GATHER along one axis (any element size). */
#include "internal.h"
#include "threads.h"
#include "wi_math.h"

/* ---- float16 <-> float32, round to nearest even ---- */

static float half_to_float(uint16_t h)
{
    int32_t sign = (int32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) /* zero or subnormal: mant * 2^-24 */
        return wi_copysignf((float)mant * 5.96046448e-8f, wi_i2f_bits(sign | 0x3f800000));
    if (exp == 31)
        return wi_i2f_bits(sign | 0x7f800000 | (mant << 13));
    return wi_i2f_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

static uint16_t float_to_half(float x)
{
    int32_t bits = wi_f2i_bits(x), sign = (bits >> 16) & 0x8000, abs = bits & 0x7fffffff;
    if (abs >= 0x7f800000) /* inf, nan */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
    if (abs >= 0x477ff000) /* rounds to >= 65520: overflow */
        return (uint16_t)(sign | 0x7c00);
    if (abs < 0x38800000) { /* below 2^-14: subnormal half, units of 2^-24; adding 2^23 rounds to even */
        float t = wi_absf(x) * 16777216.0f + 8388608.0f;
        return (uint16_t)(sign | (wi_f2i_bits(t) - 0x4b000000));
    }
    return (uint16_t)(sign | (((abs + 0xfff + ((abs >> 13) & 1)) >> 13) - (112 << 10)));
}

/* ---- CAST: each chunk is widened to double (float sources) or int64 (integer and bool sources) ---- */

#define CHUNK 256

static int is_float(int32_t dt) { return dt == WI_F32 || dt == WI_F64 || dt == WI_F16; }

static int32_t size_of(int32_t dt)
{
    switch (dt) {
    case WI_F64: case WI_I64: case WI_U64: return 8;
    case WI_F32: case WI_I32: case WI_U32: return 4;
    case WI_F16: case WI_I16: case WI_U16: return 2;
    default: return 1;
    }
}

static void load_float(int32_t dt, const uint8_t *x, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = dt == WI_F32 ? ((const float *)x)[i]
                 : dt == WI_F64 ? ((const double *)x)[i]
                                : half_to_float(((const uint16_t *)x)[i]);
}

static void load_int(int32_t dt, const uint8_t *x, int64_t n, int64_t *out)
{
    switch (dt) {
    case WI_U8: case WI_BOOL: for (int64_t i = 0; i < n; i++) out[i] = x[i]; break;
    case WI_I8: for (int64_t i = 0; i < n; i++) out[i] = ((const int8_t *)x)[i]; break;
    case WI_U16: for (int64_t i = 0; i < n; i++) out[i] = ((const uint16_t *)x)[i]; break;
    case WI_I16: for (int64_t i = 0; i < n; i++) out[i] = ((const int16_t *)x)[i]; break;
    case WI_U32: for (int64_t i = 0; i < n; i++) out[i] = ((const uint32_t *)x)[i]; break;
    case WI_I32: for (int64_t i = 0; i < n; i++) out[i] = ((const int32_t *)x)[i]; break;
    default: for (int64_t i = 0; i < n; i++) out[i] = ((const int64_t *)x)[i]; break; /* i64, u64 bits */
    }
}

/* Stores integers, wrapping to the destination width (bool: nonzero). */
static void store_int(int32_t dt, const int64_t *v, int64_t n, uint8_t *y)
{
    switch (dt) {
    case WI_BOOL: for (int64_t i = 0; i < n; i++) y[i] = v[i] != 0; break;
    case WI_U8: case WI_I8: for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)v[i]; break;
    case WI_U16: case WI_I16: for (int64_t i = 0; i < n; i++) ((uint16_t *)y)[i] = (uint16_t)v[i]; break;
    case WI_U32: case WI_I32: for (int64_t i = 0; i < n; i++) ((uint32_t *)y)[i] = (uint32_t)v[i]; break;
    default: for (int64_t i = 0; i < n; i++) ((uint64_t *)y)[i] = (uint64_t)v[i]; break;
    }
}

static void store_float(int32_t dt, const double *v, int64_t n, uint8_t *y)
{
    for (int64_t i = 0; i < n; i++) {
        if (dt == WI_F32)
            ((float *)y)[i] = (float)v[i];
        else if (dt == WI_F64)
            ((double *)y)[i] = v[i];
        else
            ((uint16_t *)y)[i] = float_to_half((float)v[i]);
    }
}

/* float -> integer truncates toward zero; NaN gives 0 and out-of-range values saturate to int64 first. */
static int64_t float_to_int(double d)
{
    if (d != d)
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

static void cast_chunk(const wi_cast_args *a, int64_t i0, int64_t n)
{
    double f[CHUNK];
    int64_t v[CHUNK];
    int32_t ssz = size_of(a->src_dtype), dsz = size_of(a->dst_dtype);
    const uint8_t *x = a->x + i0 * ssz;
    uint8_t *y = a->y + i0 * dsz;
    if (is_float(a->src_dtype)) {
        load_float(a->src_dtype, x, n, f);
        if (is_float(a->dst_dtype)) {
            store_float(a->dst_dtype, f, n, y);
            return;
        }
        for (int64_t i = 0; i < n; i++)
            v[i] = a->dst_dtype == WI_BOOL ? f[i] != 0.0 : float_to_int(f[i]);
        store_int(a->dst_dtype, v, n, y);
        return;
    }
    load_int(a->src_dtype, x, n, v);
    if (!is_float(a->dst_dtype)) {
        store_int(a->dst_dtype, v, n, y);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        f[i] = a->src_dtype == WI_U64 ? (double)(uint64_t)v[i] : (double)v[i];
    store_float(a->dst_dtype, f, n, y);
}

typedef struct {
    const wi_cast_args *a;
    int64_t n_chunks;
} cast_job;

static void cast_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const cast_job *job = arg;
    int64_t i0 = job->a->n * task / job->n_chunks, i1 = job->a->n * (task + 1) / job->n_chunks;
    for (int64_t i = i0; i < i1; i += CHUNK)
        cast_chunk(job->a, i, i1 - i < CHUNK ? i1 - i : CHUNK);
}

int32_t wi_cast_gather_cast(wi_context *ctx, const wi_cast_args *a)
{
    cast_job job = {a, wi_chunks(ctx, a->n, 1 << 15)};
    if (a->n > 0)
        wi_parallel_for(ctx, job.n_chunks, cast_task, &job);
    return WI_OK;
}

/* ---- GATHER ---- */

static int64_t index_at(const wi_gather_args *a, int64_t j)
{
    int64_t i = a->idx_dtype == WI_I32 ? ((const int32_t *)a->idx)[j] : ((const int64_t *)a->idx)[j];
    return i < 0 ? i + a->axis_dim : i;
}

typedef struct {
    const wi_gather_args *a;
    int64_t rows, n_chunks;
} gather_job;

static void gather_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const gather_job *job = arg;
    const wi_gather_args *a = job->a;
    int64_t r0 = job->rows * task / job->n_chunks, r1 = job->rows * (task + 1) / job->n_chunks;
    int64_t row_bytes = a->inner * a->itemsize;
    for (int64_t r = r0; r < r1; r++) {
        int64_t o = r / a->n_idx, j = r % a->n_idx;
        __builtin_memcpy(a->y + r * row_bytes, a->data + (o * a->axis_dim + index_at(a, j)) * row_bytes,
                         (size_t)row_bytes);
    }
}

int32_t wi_cast_gather_gather(wi_context *ctx, const wi_gather_args *a)
{
    for (int64_t j = 0; j < a->n_idx; j++) {
        int64_t i = index_at(a, j);
        if (i < 0 || i >= a->axis_dim)
            return wi_set_error(ctx, WI_ERR_RUNTIME, "index %lld at position %lld is outside an axis of %lld",
                                (long long)(i < 0 ? i - a->axis_dim : i), (long long)j, (long long)a->axis_dim);
    }
    gather_job job = {a, a->outer * a->n_idx, 1};
    if (job.rows == 0 || a->inner == 0)
        return WI_OK;
    job.n_chunks = wi_chunks(ctx, job.rows * a->inner, 1 << 15);
    job.n_chunks = job.n_chunks < job.rows ? job.n_chunks : job.rows;
    wi_parallel_for(ctx, job.n_chunks, gather_task, &job);
    return WI_OK;
}
