/* UNARY (activations), BINARY (arithmetic, comparison, logic with strided broadcasting) and WHERE.
 *
 * Loop bodies are always-inline and instantiated twice, plain and with AVX2+FMA enabled, so the
 * compiler vectorises them for the CPU found at run time. Rows whose operands are contiguous or
 * broadcast scalars take dedicated loops that vectorise; other strides use a plain strided loop.
 */
#include "internal.h"
#include "strided.h"
#include "threads.h"
#include "wi_math.h"

/* ---- UNARY ---- */

#define MAP(expr)                        \
    for (int64_t i = 0; i < n; i++) {    \
        float v = x[i];                  \
        y[i] = (expr);                   \
    }                                    \
    break

WI_INLINE void act_body(int32_t act, float alpha, float beta, const float *x, float *y, int64_t n)
{
    switch (act) {
    case WI_ACT_NONE: MAP(v);
    case WI_ACT_RELU: MAP(v < 0.0f ? 0.0f : v); /* NaN stays NaN, as in np.maximum */
    case WI_ACT_SIGMOID: MAP(wi_sigmoidf(v));
    case WI_ACT_TANH: MAP(wi_tanhf(v));
    case WI_ACT_ERF: MAP(wi_erff(v));
    case WI_ACT_GELU: MAP(wi_geluf(v));
    case WI_ACT_GELU_TANH: MAP(wi_gelu_tanhf(v));
    case WI_ACT_SQRT: MAP(wi_sqrtf(v));
    case WI_ACT_EXP: MAP(wi_expf(v));
    case WI_ACT_LOG: MAP(wi_logf(v));
    case WI_ACT_ABS: MAP(wi_absf(v));
    case WI_ACT_NEG: MAP(-v);
    case WI_ACT_RECIPROCAL: MAP(1.0f / v);
    case WI_ACT_HARDSIGMOID: MAP(wi_maxf(0.0f, wi_minf(1.0f, alpha * v + beta)));
    case WI_ACT_HARDSWISH: MAP(v * wi_maxf(0.0f, wi_minf(1.0f, v / 6.0f + 0.5f)));
    case WI_ACT_CLIP: MAP((v < alpha ? alpha : v) > beta ? beta : (v < alpha ? alpha : v)); /* max, then min */
    case WI_ACT_LEAKYRELU: MAP(v >= 0.0f ? v : alpha * v);
    case WI_ACT_FLOOR: MAP(wi_floorf(v));
    case WI_ACT_CEIL: MAP(wi_ceilf(v));
    default: break;
    }
}

static void act_generic(int32_t act, float alpha, float beta, const float *x, float *y, int64_t n)
{
    act_body(act, alpha, beta, x, y, n);
}

#if WI_X86
WI_TARGET_AVX2 static void act_avx2(int32_t act, float alpha, float beta, const float *x, float *y, int64_t n)
{
    act_body(act, alpha, beta, x, y, n);
}
#endif

void wi_elementwise_act_f32(int32_t isa, int32_t act, float alpha, float beta, const float *x, float *y,
                            int64_t n)
{
    if (act == WI_ACT_NONE && x == y)
        return;
#if WI_X86
    if (isa >= WI_ISA_AVX2) {
        act_avx2(act, alpha, beta, x, y, n);
        return;
    }
#endif
    (void)isa;
    act_generic(act, alpha, beta, x, y, n);
}

typedef struct {
    const wi_unary_args *a;
    int32_t isa;
    int64_t n_chunks;
} unary_job;

static void unary_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const unary_job *job = arg;
    const wi_unary_args *a = job->a;
    int64_t i0 = a->n * task / job->n_chunks, i1 = a->n * (task + 1) / job->n_chunks;
    wi_elementwise_act_f32(job->isa, a->act, a->alpha, a->beta, a->x + i0, a->y + i0, i1 - i0);
}

int32_t wi_elementwise_unary_f32(wi_context *ctx, const wi_unary_args *a)
{
    unary_job job = {a, ctx->isa, wi_chunks(ctx, a->n, 1 << 14)};
    wi_parallel_for(ctx, job.n_chunks, unary_task, &job);
    return WI_OK;
}

/* ---- BINARY ---- */

/* Integer helpers with defined results where C would trap or be undefined (x / 0 is refused earlier). */
#define INT_HELPERS(T, U, NAME)                                                  \
    WI_INLINE T NAME##_div(T x, T z)                                             \
    {                                                                            \
        return z == 0 ? 0 : z == -1 ? (T)(0 - (U)x) : x / z; /* truncates, like C */ \
    }                                                                            \
    WI_INLINE T NAME##_pow(T x, T z)                                             \
    {                                                                            \
        if (z < 0)                                                               \
            return x == 1 ? 1 : x == -1 ? ((z & 1) ? -1 : 1) : 0;                \
        U r = 1, b = (U)x;                                                       \
        for (; z; z >>= 1, b *= b)                                               \
            if (z & 1)                                                           \
                r *= b;                                                          \
        return (T)r;                                                             \
    }
INT_HELPERS(int32_t, uint32_t, i32)
INT_HELPERS(int64_t, uint64_t, i64)

/* pow for floats: exact repeated squaring for small integer exponents, else exp(z log x). */
static float powf_any(float x, float z)
{
    if (z == 0.0f)
        return 1.0f;
    if (z == 0.5f)
        return wi_sqrtf(x);
    if (z == wi_floorf(z) && wi_absf(z) <= 64.0f) {
        int32_t e = (int32_t)wi_absf(z);
        float r = 1.0f, b = x;
        for (; e; e >>= 1, b *= b)
            if (e & 1)
                r *= b;
        return z < 0.0f ? 1.0f / r : r;
    }
    if (x < 0.0f) {
        if (z != wi_floorf(z))
            return WI_NAN;
        float r = wi_expf(z * wi_logf(-x)); /* |z| > 64 is even or odd like a 2^24-bounded integer */
        return wi_floorf(z * 0.5f) * 2.0f == z ? r : -r;
    }
    return wi_expf(z * wi_logf(x));
}

/* One row of y = op(a, b): n elements, a/b element strides sa/sb (0 broadcasts), y contiguous. */
#define ROW(TA, TY, expr)                                                                         \
    do {                                                                                          \
        const TA *a_ = (const TA *)a;                                                             \
        const TA *b_ = (const TA *)b;                                                             \
        TY *y_ = (TY *)y;                                                                         \
        if (sa == 1 && sb == 1) {                                                                 \
            for (int64_t i = 0; i < n; i++) { TA p = a_[i], q = b_[i]; y_[i] = (TY)(expr); }    \
        } else if (sa == 1 && sb == 0) {                                                          \
            TA q = b_[0];                                                                         \
            for (int64_t i = 0; i < n; i++) { TA p = a_[i]; y_[i] = (TY)(expr); }                \
        } else if (sa == 0 && sb == 1) {                                                          \
            TA p = a_[0];                                                                         \
            for (int64_t i = 0; i < n; i++) { TA q = b_[i]; y_[i] = (TY)(expr); }                \
        } else {                                                                                  \
            for (int64_t i = 0; i < n; i++) { TA p = a_[i * sa], q = b_[i * sb]; y_[i] = (TY)(expr); } \
        }                                                                                         \
    } while (0)

#define NUMERIC_OPS(T, U, NAME, DIV, POW, NAN_MAX, NAN_MIN)          \
    switch (op) {                                                    \
    case WI_OP_ADD: ROW(T, T, (U)p + (U)q); return;                  \
    case WI_OP_SUB: ROW(T, T, (U)p - (U)q); return;                  \
    case WI_OP_MUL: ROW(T, T, (U)p * (U)q); return;                  \
    case WI_OP_DIV: ROW(T, T, DIV); return;                          \
    case WI_OP_POW: ROW(T, T, POW); return;                          \
    case WI_OP_MAX: ROW(T, T, (NAN_MAX) ? p : q); return;            \
    case WI_OP_MIN: ROW(T, T, (NAN_MIN) ? p : q); return;            \
    case WI_OP_EQUAL: ROW(T, uint8_t, p == q); return;               \
    case WI_OP_LESS: ROW(T, uint8_t, p < q); return;                 \
    case WI_OP_GREATER: ROW(T, uint8_t, p > q); return;              \
    default: return;                                                 \
    }

WI_INLINE void binary_row_body(int32_t op, int32_t dtype, int64_t n, const uint8_t *a, int64_t sa,
                               const uint8_t *b, int64_t sb, uint8_t *y)
{
    switch (dtype) {
    case WI_F32: /* float ops are exact in float, so the (U) casts are no-ops; max/min propagate NaN */
        NUMERIC_OPS(float, float, f32, p / q, powf_any(p, q), p != p || p > q, p != p || p < q)
    case WI_I32:
        NUMERIC_OPS(int32_t, uint32_t, i32, i32_div(p, q), i32_pow(p, q), p > q, p < q)
    case WI_I64:
        NUMERIC_OPS(int64_t, uint64_t, i64, i64_div(p, q), i64_pow(p, q), p > q, p < q)
    default: /* bool */
        switch (op) {
        case WI_OP_AND: ROW(uint8_t, uint8_t, (p != 0) & (q != 0)); return;
        case WI_OP_OR: ROW(uint8_t, uint8_t, (p != 0) | (q != 0)); return;
        default: ROW(uint8_t, uint8_t, (p != 0) == (q != 0)); return;
        }
    }
}

static void binary_row_generic(int32_t op, int32_t dtype, int64_t n, const uint8_t *a, int64_t sa,
                               const uint8_t *b, int64_t sb, uint8_t *y)
{
    binary_row_body(op, dtype, n, a, sa, b, sb, y);
}

#if WI_X86
WI_TARGET_AVX2 static void binary_row_avx2(int32_t op, int32_t dtype, int64_t n, const uint8_t *a, int64_t sa,
                                           const uint8_t *b, int64_t sb, uint8_t *y)
{
    binary_row_body(op, dtype, n, a, sa, b, sb, y);
}
#endif

typedef struct {
    const wi_binary_args *a;
    wi_strided it;
    int32_t isa, in_size, out_size;
    int64_t rows, n_chunks;
} binary_job;

static void binary_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const binary_job *job = arg;
    const wi_binary_args *a = job->a;
    wi_strided it = job->it;
    int32_t last = it.ndim - 1;
    int64_t r0 = job->rows * task / job->n_chunks, r1 = job->rows * (task + 1) / job->n_chunks;
    int64_t n = it.dims[last], sa = it.strides[0][last], sb = it.strides[1][last];
    wi_strided_seek(&it, r0);
    for (int64_t r = r0; r < r1; r++, wi_strided_next(&it)) {
        const uint8_t *pa = a->a + it.off[0] * job->in_size, *pb = a->b + it.off[1] * job->in_size;
        uint8_t *py = a->y + it.off[2] * job->out_size;
#if WI_X86
        if (job->isa >= WI_ISA_AVX2) {
            binary_row_avx2(a->op, a->dtype, n, pa, sa, pb, sb, py);
            continue;
        }
#endif
        binary_row_generic(a->op, a->dtype, n, pa, sa, pb, sb, py);
    }
}

static int32_t dtype_size(int32_t dtype) { return dtype == WI_I64 ? 8 : dtype == WI_BOOL ? 1 : 4; }

/* 1 when some element of b that the broadcast reads is zero (integer division must not run then). */
static int has_zero_divisor(const wi_binary_args *a)
{
    const int64_t *strides[1] = {a->b_strides};
    wi_strided it;
    if (wi_strided_init(&it, a->ndim, a->dims, 1, strides) == 0)
        return 0;
    int32_t last = it.ndim - 1;
    int64_t rows = wi_strided_rows(&it), n = it.dims[last], s = it.strides[0][last];
    wi_strided_seek(&it, 0);
    for (int64_t r = 0; r < rows; r++, wi_strided_next(&it))
        for (int64_t i = 0; i < n; i++) {
            int64_t k = it.off[0] + i * s;
            if (a->dtype == WI_I32 ? ((const int32_t *)a->b)[k] == 0 : ((const int64_t *)a->b)[k] == 0)
                return 1;
        }
    return 0;
}

int32_t wi_elementwise_binary(wi_context *ctx, const wi_binary_args *a)
{
    int64_t y_strides[WI_MAX_DIMS];
    wi_contiguous_strides(a->ndim, a->dims, y_strides);
    const int64_t *strides[3] = {a->a_strides, a->b_strides, y_strides};
    binary_job job = {a, {0}, ctx->isa, dtype_size(a->dtype), a->op >= WI_OP_EQUAL ? 1 : dtype_size(a->dtype), 0, 1};
    int64_t count = wi_strided_init(&job.it, a->ndim, a->dims, 3, strides);
    if (count == 0)
        return WI_OK;
    if (a->op == WI_OP_DIV && a->dtype != WI_F32 && has_zero_divisor(a))
        return wi_set_error(ctx, WI_ERR_RUNTIME, "integer division by zero");
    job.rows = wi_strided_rows(&job.it);
    job.n_chunks = wi_chunks(ctx, count, 1 << 15);
    job.n_chunks = job.n_chunks < job.rows ? job.n_chunks : job.rows;
    wi_parallel_for(ctx, job.n_chunks, binary_task, &job);
    return WI_OK;
}

/* ---- WHERE ---- */

#define SELECT_ROW(T)                                                                       \
    do {                                                                                    \
        const T *x_ = (const T *)x, *y_ = (const T *)y;                                     \
        T *o_ = (T *)out;                                                                   \
        for (int64_t i = 0; i < n; i++)                                                     \
            o_[i] = c[i * sc] ? x_[i * sx] : y_[i * sy];                                    \
    } while (0)

static void where_row(int32_t itemsize, int64_t n, const uint8_t *c, int64_t sc, const uint8_t *x, int64_t sx,
                      const uint8_t *y, int64_t sy, uint8_t *out)
{
    switch (itemsize) {
    case 1: SELECT_ROW(uint8_t); break;
    case 2: SELECT_ROW(uint16_t); break;
    case 4: SELECT_ROW(uint32_t); break;
    default: SELECT_ROW(uint64_t); break;
    }
}

typedef struct {
    const wi_where_args *a;
    wi_strided it;
    int64_t rows, n_chunks;
} where_job;

static void where_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    const where_job *job = arg;
    const wi_where_args *a = job->a;
    wi_strided it = job->it;
    int32_t last = it.ndim - 1, sz = a->itemsize;
    int64_t r0 = job->rows * task / job->n_chunks, r1 = job->rows * (task + 1) / job->n_chunks;
    wi_strided_seek(&it, r0);
    for (int64_t r = r0; r < r1; r++, wi_strided_next(&it))
        where_row(sz, it.dims[last], a->cond + it.off[0], it.strides[0][last], a->x + it.off[1] * sz,
                  it.strides[1][last], a->y + it.off[2] * sz, it.strides[2][last], a->out + it.off[3] * sz);
}

int32_t wi_elementwise_where(wi_context *ctx, const wi_where_args *a)
{
    int64_t out_strides[WI_MAX_DIMS];
    wi_contiguous_strides(a->ndim, a->dims, out_strides);
    const int64_t *strides[4] = {a->c_strides, a->x_strides, a->y_strides, out_strides};
    where_job job = {a, {0}, 0, 1};
    int64_t count = wi_strided_init(&job.it, a->ndim, a->dims, 4, strides);
    if (count == 0)
        return WI_OK;
    job.rows = wi_strided_rows(&job.it);
    job.n_chunks = wi_chunks(ctx, count, 1 << 15);
    job.n_chunks = job.n_chunks < job.rows ? job.n_chunks : job.rows;
    wi_parallel_for(ctx, job.n_chunks, where_task, &job);
    return WI_OK;
}
