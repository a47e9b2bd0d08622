/* Plan decoding, validation and dispatch (wire format: src/webinfer/plan.py).
 *
 * wi_run_plan makes two passes: the first decodes and checks every step and sizes the scratch
 * memory, so a malformed plan runs nothing; the second decodes again and runs. Each kernel has a
 * prepare function here that turns its words into a checked argument record. GEMM and CONV operands
 * that live in WEIGHTS are packed for the micro-kernels on first use and kept (ctx->packed).
 */
#include <stdarg.h>

#include "internal.h"
#include "threads.h"

#define WI_MAGIC 0x5749504C
#define WI_VERSION 1
#define WI_MAX_EXTENT ((int64_t)1 << 40) /* bound on element counts and geometry, keeps products exact */

#define WI_WEIGHTS 1 /* buffer index of the session's constant weights (plan.py) */

typedef struct {
    uint8_t *data;
    int32_t buffer, dtype, itemsize, ndim;
    int64_t dims[WI_MAX_DIMS];
    int64_t numel;
} wi_tensor;

typedef struct {
    const int64_t *w;
    int64_t n, pos;
    int32_t bad;
} reader;

typedef struct {
    int32_t n_tensors;
    wi_tensor t[WI_MAX_TENSORS];
    int64_t scratch; /* bytes per thread */
    union {
        wi_copy_args copy;
        wi_unary_args unary;
        wi_binary_args binary;
        wi_where_args where;
        wi_gemm_args gemm;
        wi_conv_args conv;
        wi_pool_args pool;
        wi_reduce_args reduce;
        wi_softmax_args softmax;
        wi_layernorm_args layernorm;
        wi_batchnorm_args batchnorm;
        wi_cast_args cast;
        wi_gather_args gather;
    } args;
} wi_step;

/* ---- error messages (no libc: a tiny formatter for %s, %d and %lld) ---- */

static void put_str(char *buf, int64_t cap, int64_t *len, const char *s)
{
    for (; s && *s && *len < cap - 1; s++)
        buf[(*len)++] = *s;
}

static void put_int(char *buf, int64_t cap, int64_t *len, long long v)
{
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[n++] = '-';
    while (n > 0 && *len < cap - 1)
        buf[(*len)++] = digits[--n];
}

__attribute__((format(printf, 3, 4))) int32_t wi_set_error(wi_context *ctx, int32_t code, const char *fmt, ...)
{
    int64_t cap = (int64_t)sizeof ctx->error, len = 0;
    char *buf = ctx->error;
    if (ctx->step >= 0) {
        put_str(buf, cap, &len, "step ");
        put_int(buf, cap, &len, ctx->step);
        put_str(buf, cap, &len, " (");
        put_str(buf, cap, &len, ctx->kernel_name);
        put_str(buf, cap, &len, "): ");
    } else {
        put_str(buf, cap, &len, "plan: ");
    }
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f && len < cap - 1; f++) {
        if (*f != '%') {
            buf[len++] = *f;
        } else if (f[1] == 's') {
            put_str(buf, cap, &len, va_arg(ap, const char *));
            f++;
        } else if (f[1] == 'd') {
            put_int(buf, cap, &len, va_arg(ap, int));
            f++;
        } else if (f[1] == 'l' && f[2] == 'l' && f[3] == 'd') {
            put_int(buf, cap, &len, va_arg(ap, long long));
            f += 3;
        } else {
            buf[len++] = '%';
        }
    }
    va_end(ap);
    buf[len] = 0;
    return code;
}

/* ---- small checked helpers ---- */

#define TRY(expr)                \
    do {                         \
        int32_t rc_ = (expr);    \
        if (rc_ != WI_OK)        \
            return rc_;          \
    } while (0)

static const char *dtype_name(int32_t dtype)
{
    static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32",
                                        "int64", "string", "bool", "float16", "double", "uint32", "uint64"};
    return dtype >= 0 && dtype < (int32_t)(sizeof names / sizeof *names) ? names[dtype] : "unknown dtype";
}

static int32_t itemsize_of(int64_t dtype)
{
    switch (dtype) {
    case WI_U8: case WI_I8: case WI_BOOL: return 1;
    case WI_U16: case WI_I16: case WI_F16: return 2;
    case WI_F32: case WI_I32: case WI_U32: return 4;
    case WI_I64: case WI_U64: case WI_F64: return 8;
    default: return 0;
    }
}

/* *out = a * b for a >= 0 when that fits int64; 0 otherwise. (A division test, not
 * __builtin_mul_overflow, which needs a 128-bit multiply from compiler-rt on wasm32.) */
static int mul_fits(int64_t a, int64_t b, int64_t *out)
{
    if (a == 0) {
        *out = 0;
        return 1;
    }
    if (b == INT64_MIN || (b < 0 ? -b : b) > INT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* *out = a * b (both >= 0) when it stays within WI_MAX_EXTENT; 0 otherwise. */
static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return a >= 0 && b >= 0 && mul_fits(a, b, out) && *out <= WI_MAX_EXTENT;
}

static int32_t check_dims(wi_context *ctx, int32_t n, const int64_t *dims, int64_t *numel)
{
    *numel = 1;
    for (int32_t d = 0; d < n; d++) {
        if (dims[d] < 0 || !mul_ok(*numel, dims[d], numel))
            return wi_set_error(ctx, WI_ERR_PARAMS, "dims[%d] = %lld is negative or the shape is too large", d,
                                (long long)dims[d]);
    }
    return WI_OK;
}

/* 1 when start + sum(i_d * strides_d) lies in [0, numel) for every index tuple (vacuously if empty). */
static int reach_ok(int32_t ndim, const int64_t *dims, const int64_t *strides, int64_t start, int64_t numel)
{
    for (int32_t d = 0; d < ndim; d++)
        if (dims[d] == 0)
            return 1;
    int64_t lo = start, hi = start, span;
    for (int32_t d = 0; d < ndim; d++) {
        if (!mul_fits(dims[d] - 1, strides[d], &span))
            return 0;
        if (__builtin_add_overflow(span > 0 ? hi : lo, span, span > 0 ? &hi : &lo))
            return 0;
    }
    return lo >= 0 && hi < numel;
}

static int64_t rd(reader *r)
{
    if (r->pos >= r->n) {
        r->bad = 1;
        return 0;
    }
    return r->w[r->pos++];
}

static float rdf(reader *r)
{
    union { uint32_t u; float f; } v = {(uint32_t)(uint64_t)rd(r)};
    return v.f;
}

/* Reads a tuple into out (capacity max); returns its length, or -1 (and marks r bad) if too long. */
static int32_t rd_tuple(reader *r, int64_t *out, int32_t max)
{
    int64_t n = rd(r);
    if (n < 0 || n > max) {
        r->bad = 1;
        return -1;
    }
    for (int32_t i = 0; i < n; i++)
        out[i] = rd(r);
    return (int32_t)n;
}

static int32_t end_params(wi_context *ctx, const reader *r)
{
    if (r->bad || r->pos != r->n)
        return wi_set_error(ctx, WI_ERR_PLAN, "malformed parameters (%lld words, %lld understood)",
                            (long long)r->n, (long long)r->pos);
    return WI_OK;
}

static int32_t need_dtype(wi_context *ctx, const wi_step *s, int32_t i, int32_t dtype)
{
    if (s->t[i].dtype != dtype)
        return wi_set_error(ctx, WI_ERR_UNSUPPORTED, "tensor %d is %s, this kernel needs %s", i,
                            dtype_name(s->t[i].dtype), dtype_name(dtype));
    return WI_OK;
}

static int32_t need_all_f32(wi_context *ctx, const wi_step *s)
{
    for (int32_t i = 0; i < s->n_tensors; i++)
        TRY(need_dtype(ctx, s, i, WI_F32));
    return WI_OK;
}

static int32_t need_numel(wi_context *ctx, const wi_step *s, int32_t i, int64_t numel)
{
    if (s->t[i].numel != numel)
        return wi_set_error(ctx, WI_ERR_PARAMS, "tensor %d has %lld elements, expected %lld", i,
                            (long long)s->t[i].numel, (long long)numel);
    return WI_OK;
}

static int32_t need_range(wi_context *ctx, const char *what, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return wi_set_error(ctx, WI_ERR_PARAMS, "%s = %lld is outside [%lld, %lld]", what, (long long)v,
                            (long long)lo, (long long)hi);
    return WI_OK;
}

static int32_t need_view(wi_context *ctx, const wi_step *s, int32_t i, int32_t ndim, const int64_t *dims,
                         const int64_t *strides, int64_t start)
{
    if (!reach_ok(ndim, dims, strides, start, s->t[i].numel))
        return wi_set_error(ctx, WI_ERR_TENSOR, "the strided view of tensor %d reaches outside its %lld elements",
                            i, (long long)s->t[i].numel);
    return WI_OK;
}

static int32_t need_same_dims(wi_context *ctx, const wi_step *s, int32_t i, int32_t j)
{
    const wi_tensor *a = &s->t[i], *b = &s->t[j];
    int same = a->ndim == b->ndim;
    for (int32_t d = 0; same && d < a->ndim; d++)
        same = a->dims[d] == b->dims[d];
    if (!same)
        return wi_set_error(ctx, WI_ERR_PARAMS, "tensors %d and %d differ in shape", i, j);
    return WI_OK;
}

/* ---- per-kernel prepare: decode params, check them against the tensors, fill the argument record ---- */

static int32_t prepare_copy(wi_context *ctx, wi_step *s, reader *r)
{
    wi_copy_args *a = &s->args.copy;
    int32_t n = rd_tuple(r, a->dims, WI_MAX_DIMS);
    int32_t ns = rd_tuple(r, a->src_strides, WI_MAX_DIMS);
    int32_t nd = rd_tuple(r, a->dst_strides, WI_MAX_DIMS);
    int64_t src_start = rd(r), dst_start = rd(r), count;
    TRY(end_params(ctx, r));
    if (ns != n || nd != n)
        return wi_set_error(ctx, WI_ERR_PARAMS, "dims, src_strides, dst_strides have lengths %d, %d, %d", n, ns,
                            nd);
    if (s->t[0].dtype != s->t[1].dtype)
        return wi_set_error(ctx, WI_ERR_PARAMS, "src is %s but dst is %s", dtype_name(s->t[0].dtype),
                            dtype_name(s->t[1].dtype));
    TRY(check_dims(ctx, n, a->dims, &count));
    TRY(need_view(ctx, s, 0, n, a->dims, a->src_strides, src_start));
    TRY(need_view(ctx, s, 1, n, a->dims, a->dst_strides, dst_start));
    a->ndim = n;
    a->itemsize = s->t[0].itemsize;
    a->src = count ? s->t[0].data + src_start * a->itemsize : s->t[0].data;
    a->dst = count ? s->t[1].data + dst_start * a->itemsize : s->t[1].data;
    return WI_OK;
}

static int32_t prepare_unary(wi_context *ctx, wi_step *s, reader *r)
{
    wi_unary_args *a = &s->args.unary;
    int64_t act = rd(r);
    a->alpha = rdf(r);
    a->beta = rdf(r);
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "act", act, 0, WI_ACT_COUNT - 1));
    TRY(need_all_f32(ctx, s));
    TRY(need_numel(ctx, s, 1, s->t[0].numel));
    a->act = (int32_t)act;
    a->n = s->t[0].numel;
    a->x = (const float *)s->t[0].data;
    a->y = (float *)s->t[1].data;
    return WI_OK;
}

static int binary_types_ok(int64_t op, int32_t in, int32_t out)
{
    if (op == WI_OP_AND || op == WI_OP_OR)
        return in == WI_BOOL && out == WI_BOOL;
    int numeric = in == WI_F32 || in == WI_I32 || in == WI_I64;
    if (op >= WI_OP_EQUAL)
        return out == WI_BOOL && (numeric || (op == WI_OP_EQUAL && in == WI_BOOL));
    return numeric && out == in;
}

static int32_t prepare_binary(wi_context *ctx, wi_step *s, reader *r)
{
    wi_binary_args *a = &s->args.binary;
    int64_t op = rd(r), count;
    int32_t n = rd_tuple(r, a->dims, WI_MAX_DIMS);
    int32_t na = rd_tuple(r, a->a_strides, WI_MAX_DIMS);
    int32_t nb = rd_tuple(r, a->b_strides, WI_MAX_DIMS);
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "op", op, 0, WI_OP_COUNT - 1));
    if (na != n || nb != n)
        return wi_set_error(ctx, WI_ERR_PARAMS, "dims, a_strides, b_strides have lengths %d, %d, %d", n, na, nb);
    if (s->t[0].dtype != s->t[1].dtype || !binary_types_ok(op, s->t[0].dtype, s->t[2].dtype))
        return wi_set_error(ctx, WI_ERR_UNSUPPORTED, "op %d on %s, %s -> %s is not implemented", (int)op,
                            dtype_name(s->t[0].dtype), dtype_name(s->t[1].dtype), dtype_name(s->t[2].dtype));
    TRY(check_dims(ctx, n, a->dims, &count));
    TRY(need_numel(ctx, s, 2, count));
    TRY(need_view(ctx, s, 0, n, a->dims, a->a_strides, 0));
    TRY(need_view(ctx, s, 1, n, a->dims, a->b_strides, 0));
    a->op = (int32_t)op;
    a->dtype = s->t[0].dtype;
    a->ndim = n;
    a->a = s->t[0].data;
    a->b = s->t[1].data;
    a->y = s->t[2].data;
    return WI_OK;
}

static int32_t prepare_where(wi_context *ctx, wi_step *s, reader *r)
{
    wi_where_args *a = &s->args.where;
    int64_t count;
    int32_t n = rd_tuple(r, a->dims, WI_MAX_DIMS);
    int32_t nc = rd_tuple(r, a->c_strides, WI_MAX_DIMS);
    int32_t nx = rd_tuple(r, a->x_strides, WI_MAX_DIMS);
    int32_t ny = rd_tuple(r, a->y_strides, WI_MAX_DIMS);
    TRY(end_params(ctx, r));
    if (nc != n || nx != n || ny != n)
        return wi_set_error(ctx, WI_ERR_PARAMS, "dims and strides differ in length");
    TRY(need_dtype(ctx, s, 0, WI_BOOL));
    TRY(need_dtype(ctx, s, 2, s->t[1].dtype));
    TRY(need_dtype(ctx, s, 3, s->t[1].dtype));
    TRY(check_dims(ctx, n, a->dims, &count));
    TRY(need_numel(ctx, s, 3, count));
    TRY(need_view(ctx, s, 0, n, a->dims, a->c_strides, 0));
    TRY(need_view(ctx, s, 1, n, a->dims, a->x_strides, 0));
    TRY(need_view(ctx, s, 2, n, a->dims, a->y_strides, 0));
    a->ndim = n;
    a->itemsize = s->t[1].itemsize;
    a->cond = s->t[0].data;
    a->x = s->t[1].data;
    a->y = s->t[2].data;
    a->out = s->t[3].data;
    return WI_OK;
}

/* ---- prepacked weights: GEMM operands that live in WEIGHTS are packed once and kept in ctx ---- */

struct wi_packed {
    wi_packed *next;
    const float *src;
    int64_t M, N, K, count, stride; /* count matrices, src + i * stride each */
    int32_t operand, trans, isa;
    float *data;
};

/* The packed form of p's operand (0: A, 1: B) for `count` matrices `stride` floats apart, packed on
 * first use; NULL if memory is short (the GEMM then packs per run as usual). */
static const float *packed_operand(wi_context *ctx, const wi_gemm_problem *p, int32_t operand, int64_t count,
                                   int64_t stride)
{
    const float *src = operand ? p->b : p->a;
    int32_t trans = operand ? p->trans_b : p->trans_a;
    int64_t M = operand ? 0 : p->M, N = operand ? p->N : 0;
    for (wi_packed *e = ctx->packed; e; e = e->next)
        if (e->src == src && e->M == M && e->N == N && e->K == p->K && e->count == count && e->stride == stride &&
            e->operand == operand && e->trans == trans && e->isa == ctx->isa)
            return e->data;
    int64_t each = wi_gemm_packed_floats(ctx->isa, operand, p->M, p->N, p->K);
    wi_packed *e = wi_alloc(sizeof *e);
    float *data = wi_alloc(each * count * (int64_t)sizeof(float));
    if (!e || !data) {
        wi_free(e);
        wi_free(data);
        return NULL;
    }
    for (int64_t i = 0; i < count; i++) {
        wi_gemm_problem q = *p;
        *(operand ? &q.b : &q.a) = src + i * stride;
        wi_gemm_pack_operand(ctx->isa, &q, operand, data + i * each);
    }
    *e = (wi_packed){ctx->packed, src, M, N, p->K, count, stride, operand, trans, ctx->isa, data};
    ctx->packed = e;
    return data;
}

void wi_clear_packed(wi_context *ctx)
{
    while (ctx->packed) {
        wi_packed *next = ctx->packed->next;
        wi_free(ctx->packed->data);
        wi_free(ctx->packed);
        ctx->packed = next;
    }
}

static int all_zero(int32_t n, const int64_t *v)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i])
            return 0;
    return 1;
}

static int32_t prepare_gemm(wi_context *ctx, wi_step *s, reader *r)
{
    wi_gemm_args *a = &s->args.gemm;
    int32_t n = rd_tuple(r, a->batch_dims, WI_MAX_DIMS - 1);
    int32_t na = rd_tuple(r, a->a_strides, WI_MAX_DIMS - 1);
    int32_t nb = rd_tuple(r, a->b_strides, WI_MAX_DIMS - 1);
    int64_t M = rd(r), N = rd(r), K = rd(r), trans_a = rd(r), trans_b = rd(r), nbatch, mk, kn, mn, total;
    float alpha = rdf(r), beta = rdf(r);
    int64_t bias_mode = rd(r), act = rd(r);
    float act_alpha = rdf(r), act_beta = rdf(r);
    TRY(end_params(ctx, r));
    if (na != n || nb != n)
        return wi_set_error(ctx, WI_ERR_PARAMS, "batch_dims, a_strides, b_strides have lengths %d, %d, %d", n, na,
                            nb);
    TRY(need_range(ctx, "M", M, 0, WI_MAX_EXTENT));
    TRY(need_range(ctx, "N", N, 0, WI_MAX_EXTENT));
    TRY(need_range(ctx, "K", K, 0, WI_MAX_EXTENT));
    TRY(need_range(ctx, "trans_a", trans_a, 0, 1));
    TRY(need_range(ctx, "trans_b", trans_b, 0, 1));
    TRY(need_range(ctx, "bias_mode", bias_mode, 0, WI_BIAS_COUNT - 1));
    TRY(need_range(ctx, "act", act, 0, WI_ACT_COUNT - 1));
    if (s->n_tensors != (bias_mode == WI_BIAS_NONE ? 3 : 4))
        return wi_set_error(ctx, WI_ERR_PARAMS, "bias_mode %d needs %d tensors, got %d", (int)bias_mode,
                            bias_mode == WI_BIAS_NONE ? 3 : 4, s->n_tensors);
    TRY(need_all_f32(ctx, s));
    TRY(check_dims(ctx, n, a->batch_dims, &nbatch));
    if (!mul_ok(M, K, &mk) || !mul_ok(K, N, &kn) || !mul_ok(M, N, &mn) || !mul_ok(nbatch, mn, &total))
        return wi_set_error(ctx, WI_ERR_PARAMS, "GEMM sizes overflow");
    /* each operand as a view: batch dims with their strides, then the contiguous matrix */
    a->batch_dims[n] = mk;
    a->a_strides[n] = 1;
    TRY(need_view(ctx, s, 0, n + 1, a->batch_dims, a->a_strides, 0));
    a->batch_dims[n] = kn;
    a->b_strides[n] = 1;
    TRY(need_view(ctx, s, 1, n + 1, a->batch_dims, a->b_strides, 0));
    TRY(need_numel(ctx, s, s->n_tensors - 1, total));
    if (bias_mode == WI_BIAS_SCALAR && s->t[2].numel < 1)
        return wi_set_error(ctx, WI_ERR_PARAMS, "a scalar bias needs at least one element");
    if (bias_mode > WI_BIAS_SCALAR)
        TRY(need_numel(ctx, s, 2, bias_mode == WI_BIAS_ROW ? N : bias_mode == WI_BIAS_COL ? M : mn));
    a->nbatch_dims = n;
    a->M = M;
    a->N = N;
    a->K = K;
    a->trans_a = (int32_t)trans_a;
    a->trans_b = (int32_t)trans_b;
    a->a = (const float *)s->t[0].data;
    a->b = (const float *)s->t[1].data;
    a->y = (float *)s->t[s->n_tensors - 1].data;
    a->ep = (wi_epilogue){alpha, beta, (int32_t)bias_mode, bias_mode ? (const float *)s->t[2].data : NULL,
                          NULL, (int32_t)act, act_alpha, act_beta};
    a->a_packed = a->b_packed = NULL;
    if (M > WI_GEMM_SMALL_M && mn > 0 && K > 0) { /* constant operands, the same for every batch */
        wi_gemm_problem q = {M, N, K, NULL, NULL, a->a, trans_a ? M : K, a->trans_a, a->b, trans_b ? K : N,
                             a->trans_b, NULL, NULL, a->y, N, a->ep};
        if (s->t[0].buffer == WI_WEIGHTS && (nbatch == 1 || all_zero(n, a->a_strides)))
            a->a_packed = packed_operand(ctx, &q, 0, 1, 0);
        if (s->t[1].buffer == WI_WEIGHTS && (nbatch == 1 || all_zero(n, a->b_strides)))
            a->b_packed = packed_operand(ctx, &q, 1, 1, 0);
    }
    s->scratch = wi_gemm_scratch(M, N, K, 0);
    return WI_OK;
}

/* Reads the 2-D window geometry shared by CONV and POOL: kernel, strides, pads, dilations. */
static int32_t read_window(wi_context *ctx, reader *r, int64_t k[2], int64_t st[2], int64_t p[4], int64_t d[2])
{
    int32_t nk = rd_tuple(r, k, 2), ns = rd_tuple(r, st, 2), np = rd_tuple(r, p, 4), nd = rd_tuple(r, d, 2);
    if (r->bad)
        return end_params(ctx, r);
    if (nk != 2 || ns != 2 || np != 4 || nd != 2)
        return wi_set_error(ctx, WI_ERR_PARAMS, "kernel, strides, pads, dilations need 2, 2, 4, 2 values");
    for (int32_t i = 0; i < 2; i++) {
        TRY(need_range(ctx, "kernel size", k[i], 1, 1 << 20));
        TRY(need_range(ctx, "stride", st[i], 1, 1 << 20));
        TRY(need_range(ctx, "dilation", d[i], 1, 1 << 20));
    }
    for (int32_t i = 0; i < 4; i++)
        TRY(need_range(ctx, "pad", p[i], 0, 1 << 20));
    return WI_OK;
}

/* Output extent of a window: (size + pads - dilated kernel) / stride + 1, or -1 if the kernel does not fit. */
static int64_t window_out(int64_t size, int64_t pad0, int64_t pad1, int64_t k, int64_t dil, int64_t stride)
{
    int64_t span = size + pad0 + pad1 - (dil * (k - 1) + 1);
    return span < 0 ? -1 : span / stride + 1;
}

static int32_t need_4d(wi_context *ctx, const wi_step *s, int32_t i)
{
    if (s->t[i].ndim != 4)
        return wi_set_error(ctx, WI_ERR_PARAMS, "tensor %d has %d dims, expected 4 (NCHW)", i, s->t[i].ndim);
    return WI_OK;
}

static int32_t prepare_conv(wi_context *ctx, wi_step *s, reader *r)
{
    wi_conv_args *a = &s->args.conv;
    int64_t group = rd(r), k[2], st[2], p[4], d[2];
    TRY(read_window(ctx, r, k, st, p, d));
    int64_t has_bias = rd(r), has_res = rd(r), act = rd(r);
    float act_alpha = rdf(r), act_beta = rdf(r);
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "has_bias", has_bias, 0, 1));
    TRY(need_range(ctx, "has_residual", has_res, 0, 1));
    TRY(need_range(ctx, "act", act, 0, WI_ACT_COUNT - 1));
    int32_t yi = (int32_t)(2 + has_bias + has_res);
    if (s->n_tensors != yi + 1)
        return wi_set_error(ctx, WI_ERR_PARAMS, "expected %d tensors, got %d", yi + 1, s->n_tensors);
    TRY(need_all_f32(ctx, s));
    TRY(need_4d(ctx, s, 0));
    TRY(need_4d(ctx, s, 1));
    TRY(need_4d(ctx, s, yi));
    const int64_t *x = s->t[0].dims, *w = s->t[1].dims, *y = s->t[yi].dims;
    TRY(need_range(ctx, "group", group, 1, x[1] > 0 ? x[1] : 1));
    if (x[1] % group || w[0] % group || w[1] != x[1] / group || w[2] != k[0] || w[3] != k[1])
        return wi_set_error(ctx, WI_ERR_PARAMS, "W shape does not match C = %lld, group = %lld, kernel %lldx%lld",
                            (long long)x[1], (long long)group, (long long)k[0], (long long)k[1]);
    int64_t oh = window_out(x[2], p[0], p[2], k[0], d[0], st[0]);
    int64_t ow = window_out(x[3], p[1], p[3], k[1], d[1], st[1]);
    if (y[0] != x[0] || y[1] != w[0] || y[2] != oh || y[3] != ow)
        return wi_set_error(ctx, WI_ERR_PARAMS, "Y shape does not match the convolution (expected [%lld, %lld, %lld, %lld])",
                            (long long)x[0], (long long)w[0], (long long)oh, (long long)ow);
    if (has_bias)
        TRY(need_numel(ctx, s, 2, w[0]));
    if (has_res)
        TRY(need_same_dims(ctx, s, yi - 1, yi));
    *a = (wi_conv_args){x[0], x[1], x[2], x[3], w[0], oh, ow, k[0], k[1], st[0], st[1], p[0], p[1], d[0], d[1],
                        group, (const float *)s->t[0].data, (const float *)s->t[1].data,
                        has_bias ? (const float *)s->t[2].data : NULL,
                        has_res ? (const float *)s->t[yi - 1].data : NULL, (float *)s->t[yi].data,
                        (int32_t)act, act_alpha, act_beta, NULL};
    int64_t mg = w[0] / group, kg = w[1] * k[0] * k[1];
    if (s->t[1].buffer == WI_WEIGHTS && wi_conv_uses_gemm(a) && mg > WI_GEMM_SMALL_M && kg > 0 && oh * ow > 0) {
        wi_gemm_problem q = {.M = mg, .N = oh * ow, .K = kg, .a = a->w, .lda = kg}; /* W_g: mg x kg, row-major */
        a->w_packed = packed_operand(ctx, &q, 0, group, mg * kg);
    }
    s->scratch = wi_conv_scratch(a);
    return WI_OK;
}

static int32_t prepare_pool(wi_context *ctx, wi_step *s, reader *r)
{
    wi_pool_args *a = &s->args.pool;
    int64_t kind = rd(r), k[2], st[2], p[4], d[2];
    TRY(read_window(ctx, r, k, st, p, d));
    int64_t cip = rd(r);
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "kind", kind, WI_POOL_MAX, WI_POOL_AVG));
    TRY(need_range(ctx, "count_include_pad", cip, 0, 1));
    TRY(need_all_f32(ctx, s));
    TRY(need_4d(ctx, s, 0));
    TRY(need_4d(ctx, s, 1));
    const int64_t *x = s->t[0].dims, *y = s->t[1].dims;
    int64_t size[2] = {x[2], x[3]};
    for (int32_t i = 0; i < 2; i++) {
        /* floor mode, or one more window (ceil mode) provided it starts inside the input or its left pad */
        int64_t lo = window_out(size[i], p[i], p[i + 2], k[i], d[i], st[i]), out = y[2 + i];
        if (lo < 0 || out < lo || out > lo + 1 || (out == lo + 1 && (out - 1) * st[i] >= size[i] + p[i]))
            return wi_set_error(ctx, WI_ERR_PARAMS, "output extent %lld does not fit input %lld with this window",
                                (long long)out, (long long)size[i]);
    }
    if (y[0] != x[0] || y[1] != x[1])
        return wi_set_error(ctx, WI_ERR_PARAMS, "X and Y differ in N or C");
    *a = (wi_pool_args){(int32_t)kind, (int32_t)cip, x[0] * x[1], x[2], x[3], y[2], y[3], k[0], k[1], st[0], st[1],
                        p[0], p[1], p[2], p[3], d[0], d[1], (const float *)s->t[0].data, (float *)s->t[1].data};
    return WI_OK;
}

/* outer * n * inner within limits: *all and *outer_inner receive the two products. */
static int32_t need_3d(wi_context *ctx, int64_t outer, int64_t n, int64_t inner, int64_t *all, int64_t *oi)
{
    *all = *oi = 0;
    if (outer < 0 || n < 0 || inner < 0 || !mul_ok(outer, inner, oi) || !mul_ok(*oi, n, all))
        return wi_set_error(ctx, WI_ERR_PARAMS, "outer, n, inner = %lld, %lld, %lld are invalid", (long long)outer,
                            (long long)n, (long long)inner);
    return WI_OK;
}

static int32_t prepare_reduce(wi_context *ctx, wi_step *s, reader *r)
{
    int64_t op = rd(r), outer = rd(r), n = rd(r), inner = rd(r), all, oi;
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "op", op, 0, WI_RED_COUNT - 1));
    TRY(need_3d(ctx, outer, n, inner, &all, &oi));
    TRY(need_all_f32(ctx, s));
    TRY(need_numel(ctx, s, 0, all));
    TRY(need_numel(ctx, s, 1, oi));
    s->args.reduce = (wi_reduce_args){(int32_t)op, outer, n, inner, (const float *)s->t[0].data,
                                      (float *)s->t[1].data};
    return WI_OK;
}

static int32_t prepare_softmax(wi_context *ctx, wi_step *s, reader *r)
{
    int64_t outer = rd(r), n = rd(r), inner = rd(r), log = rd(r), all, oi;
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "log", log, 0, 1));
    TRY(need_3d(ctx, outer, n, inner, &all, &oi));
    TRY(need_all_f32(ctx, s));
    TRY(need_numel(ctx, s, 0, all));
    TRY(need_numel(ctx, s, 1, all));
    s->args.softmax = (wi_softmax_args){(int32_t)log, outer, n, inner, (const float *)s->t[0].data,
                                        (float *)s->t[1].data};
    s->scratch = wi_softmax_scratch(&s->args.softmax);
    return WI_OK;
}

static int32_t prepare_layernorm(wi_context *ctx, wi_step *s, reader *r)
{
    int64_t outer = rd(r), n = rd(r), all, oi;
    float eps = rdf(r);
    int64_t has_bias = rd(r);
    TRY(end_params(ctx, r));
    TRY(need_range(ctx, "has_bias", has_bias, 0, 1));
    if (s->n_tensors != 3 + has_bias)
        return wi_set_error(ctx, WI_ERR_PARAMS, "expected %d tensors, got %d", (int)(3 + has_bias), s->n_tensors);
    TRY(need_3d(ctx, outer, n, 1, &all, &oi));
    TRY(need_all_f32(ctx, s));
    TRY(need_numel(ctx, s, 0, all));
    TRY(need_numel(ctx, s, 1, n));
    if (has_bias)
        TRY(need_numel(ctx, s, 2, n));
    TRY(need_numel(ctx, s, s->n_tensors - 1, all));
    s->args.layernorm = (wi_layernorm_args){outer, n, eps, (const float *)s->t[0].data,
                                            (const float *)s->t[1].data,
                                            has_bias ? (const float *)s->t[2].data : NULL,
                                            (float *)s->t[s->n_tensors - 1].data};
    return WI_OK;
}

static int32_t prepare_batchnorm(wi_context *ctx, wi_step *s, reader *r)
{
    float eps = rdf(r);
    TRY(end_params(ctx, r));
    TRY(need_all_f32(ctx, s));
    const wi_tensor *x = &s->t[0];
    if (x->ndim < 2)
        return wi_set_error(ctx, WI_ERR_PARAMS, "X needs at least 2 dims (N, C), has %d", x->ndim);
    TRY(need_same_dims(ctx, s, 0, 5));
    for (int32_t i = 1; i < 5; i++)
        TRY(need_numel(ctx, s, i, x->dims[1]));
    int64_t spatial = 1;
    for (int32_t d = 2; d < x->ndim; d++)
        spatial *= x->dims[d];
    s->args.batchnorm = (wi_batchnorm_args){x->dims[0], x->dims[1], spatial, eps, (const float *)x->data,
                                            (const float *)s->t[1].data, (const float *)s->t[2].data,
                                            (const float *)s->t[3].data, (const float *)s->t[4].data,
                                            (float *)s->t[5].data};
    return WI_OK;
}

static int32_t prepare_cast(wi_context *ctx, wi_step *s, reader *r)
{
    TRY(end_params(ctx, r));
    TRY(need_numel(ctx, s, 1, s->t[0].numel));
    s->args.cast = (wi_cast_args){s->t[0].dtype, s->t[1].dtype, s->t[0].numel, s->t[0].data, s->t[1].data};
    return WI_OK;
}

static int32_t prepare_gather(wi_context *ctx, wi_step *s, reader *r)
{
    int64_t outer = rd(r), axis_dim = rd(r), inner = rd(r), n_idx = rd(r), all, oi, out_all, unused;
    TRY(end_params(ctx, r));
    TRY(need_3d(ctx, outer, axis_dim, inner, &all, &oi));
    TRY(need_3d(ctx, outer, n_idx, inner, &out_all, &unused));
    if (s->t[1].dtype != WI_I32 && s->t[1].dtype != WI_I64)
        return wi_set_error(ctx, WI_ERR_UNSUPPORTED, "indices are %s, need int32 or int64",
                            dtype_name(s->t[1].dtype));
    TRY(need_dtype(ctx, s, 2, s->t[0].dtype));
    TRY(need_numel(ctx, s, 0, all));
    TRY(need_numel(ctx, s, 1, n_idx));
    TRY(need_numel(ctx, s, 2, out_all));
    s->args.gather = (wi_gather_args){s->t[0].itemsize, s->t[1].dtype, outer, axis_dim, inner, n_idx,
                                      s->t[0].data, s->t[1].data, s->t[2].data};
    return WI_OK;
}

/* ---- dispatch table ---- */

#define RUNNER(name, field, fn) \
    static int32_t name(wi_context *ctx, const wi_step *s) { return fn(ctx, &s->args.field); }
RUNNER(run_copy, copy, wi_copy_strided)
RUNNER(run_unary, unary, wi_elementwise_unary_f32)
RUNNER(run_binary, binary, wi_elementwise_binary)
RUNNER(run_where, where, wi_elementwise_where)
RUNNER(run_gemm, gemm, wi_gemm_batched_f32)
RUNNER(run_conv, conv, wi_conv_2d_f32)
RUNNER(run_pool, pool, wi_pool_2d_f32)
RUNNER(run_reduce, reduce, wi_reduce_axis_f32)
RUNNER(run_softmax, softmax, wi_reduce_softmax_f32)
RUNNER(run_layernorm, layernorm, wi_norm_layernorm_f32)
RUNNER(run_batchnorm, batchnorm, wi_norm_batchnorm_f32)
RUNNER(run_cast, cast, wi_cast_gather_cast)
RUNNER(run_gather, gather, wi_cast_gather_gather)

typedef struct {
    const char *name;
    int32_t min_tensors, max_tensors;
    int32_t (*prepare)(wi_context *ctx, wi_step *s, reader *r);
    int32_t (*run)(wi_context *ctx, const wi_step *s);
} kernel_def;

static const kernel_def KERNELS[WI_K_COUNT] = {
    [WI_K_COPY] = {"COPY", 2, 2, prepare_copy, run_copy},
    [WI_K_UNARY] = {"UNARY", 2, 2, prepare_unary, run_unary},
    [WI_K_BINARY] = {"BINARY", 3, 3, prepare_binary, run_binary},
    [WI_K_WHERE] = {"WHERE", 4, 4, prepare_where, run_where},
    [WI_K_GEMM] = {"GEMM", 3, 4, prepare_gemm, run_gemm},
    [WI_K_CONV] = {"CONV", 3, 5, prepare_conv, run_conv},
    [WI_K_POOL] = {"POOL", 2, 2, prepare_pool, run_pool},
    [WI_K_REDUCE] = {"REDUCE", 2, 2, prepare_reduce, run_reduce},
    [WI_K_SOFTMAX] = {"SOFTMAX", 2, 2, prepare_softmax, run_softmax},
    [WI_K_LAYERNORM] = {"LAYERNORM", 3, 4, prepare_layernorm, run_layernorm},
    [WI_K_BATCHNORM] = {"BATCHNORM", 6, 6, prepare_batchnorm, run_batchnorm},
    [WI_K_CAST] = {"CAST", 2, 2, prepare_cast, run_cast},
    [WI_K_GATHER] = {"GATHER", 3, 3, prepare_gather, run_gather},
};

typedef struct {
    const int64_t *w;
    int64_t n_words;
    uint8_t *const *buffers;
    const int64_t *sizes;
    int32_t n_buffers;
} plan_view;

static int32_t decode_tensor(wi_context *ctx, const plan_view *pv, int64_t *pos, int64_t end, int32_t i,
                             wi_tensor *t)
{
    const int64_t *w = pv->w;
    if (end - *pos < 4 || end - *pos - 4 < w[*pos + 3] || w[*pos + 3] < 0)
        return wi_set_error(ctx, WI_ERR_PLAN, "tensor %d runs past the end of the step", i);
    int64_t buf = w[*pos], offset = w[*pos + 1], dtype = w[*pos + 2], ndim = w[*pos + 3], nbytes;
    if (ndim > WI_MAX_DIMS)
        return wi_set_error(ctx, WI_ERR_TENSOR, "tensor %d has %lld dims (at most %d)", i, (long long)ndim,
                            WI_MAX_DIMS);
    t->ndim = (int32_t)ndim;
    for (int32_t d = 0; d < t->ndim; d++)
        t->dims[d] = w[*pos + 4 + d];
    *pos += 4 + ndim;
    TRY(check_dims(ctx, t->ndim, t->dims, &t->numel));
    t->itemsize = itemsize_of(dtype);
    t->dtype = (int32_t)dtype;
    if (!t->itemsize)
        return wi_set_error(ctx, WI_ERR_UNSUPPORTED, "tensor %d has dtype %lld (%s), not supported", i,
                            (long long)dtype, dtype_name(t->dtype));
    if (buf < 0 || buf >= pv->n_buffers)
        return wi_set_error(ctx, WI_ERR_TENSOR, "tensor %d uses buffer %lld of %d", i, (long long)buf,
                            pv->n_buffers);
    int64_t size = pv->sizes[buf];
    nbytes = t->numel * t->itemsize;
    if (offset < 0 || size < 0 || offset > size || nbytes > size - offset)
        return wi_set_error(ctx, WI_ERR_TENSOR, "tensor %d (%lld bytes at offset %lld) exceeds buffer %lld (%lld bytes)",
                            i, (long long)nbytes, (long long)offset, (long long)buf, (long long)size);
    if (!pv->buffers[buf]) {
        if (nbytes)
            return wi_set_error(ctx, WI_ERR_TENSOR, "tensor %d uses buffer %lld, which is NULL", i, (long long)buf);
        t->data = NULL;
        return WI_OK;
    }
    t->buffer = (int32_t)buf;
    t->data = pv->buffers[buf] + offset;
    if ((uintptr_t)t->data % (uintptr_t)t->itemsize)
        return wi_set_error(ctx, WI_ERR_TENSOR, "tensor %d is not aligned to its %d-byte elements", i, t->itemsize);
    return WI_OK;
}

static int32_t decode_step(wi_context *ctx, const plan_view *pv, int64_t *pos, wi_step *s, const kernel_def **def)
{
    const int64_t *w = pv->w;
    ctx->kernel_name = "?";
    if (pv->n_words - *pos < 3)
        return wi_set_error(ctx, WI_ERR_PLAN, "step header runs past the end of the plan");
    int64_t kernel = w[*pos], len = w[*pos + 1], n_tensors = w[*pos + 2];
    if (kernel <= 0 || kernel >= WI_K_COUNT)
        return wi_set_error(ctx, WI_ERR_PLAN, "unknown kernel id %lld", (long long)kernel);
    *def = &KERNELS[kernel];
    ctx->kernel_name = (*def)->name;
    if (len < 3 || len > pv->n_words - *pos)
        return wi_set_error(ctx, WI_ERR_PLAN, "step length %lld does not fit the plan", (long long)len);
    if (n_tensors < (*def)->min_tensors || n_tensors > (*def)->max_tensors)
        return wi_set_error(ctx, WI_ERR_PARAMS, "has %lld tensors, expects %d to %d", (long long)n_tensors,
                            (*def)->min_tensors, (*def)->max_tensors);
    int64_t p = *pos + 3, end = *pos + len;
    s->n_tensors = (int32_t)n_tensors;
    s->scratch = 0;
    for (int32_t i = 0; i < s->n_tensors; i++)
        TRY(decode_tensor(ctx, pv, &p, end, i, &s->t[i]));
    *pos = end;
    reader r = {w + p, end - p, 0, 0};
    return (*def)->prepare(ctx, s, &r);
}

static int64_t align_up(int64_t n) { return (n + WI_ALIGN - 1) / WI_ALIGN * WI_ALIGN; }

static int32_t grow_scratch(wi_context *ctx, int64_t per_thread)
{
    int64_t need = ctx->n_threads * align_up(per_thread);
    if (need <= ctx->scratch_bytes)
        return WI_OK;
    wi_free(ctx->scratch);
    ctx->scratch = wi_alloc(need);
    ctx->scratch_bytes = ctx->scratch ? need : 0;
    if (!ctx->scratch)
        return wi_set_error(ctx, WI_ERR_NOMEM, "cannot allocate %lld bytes of scratch", (long long)need);
    return WI_OK;
}

int32_t wi_run_plan(wi_context *ctx, const int64_t *plan, int64_t n_words, uint8_t *const *buffers,
                    const int64_t *buffer_sizes, int32_t n_buffers)
{
    if (!ctx)
        return WI_ERR_PLAN;
    ctx->step = -1;
    ctx->error[0] = 0;
    if (!plan || n_words < 3)
        return wi_set_error(ctx, WI_ERR_PLAN, "%lld words, a plan has at least 3", (long long)n_words);
    if (n_buffers < 0 || (n_buffers > 0 && (!buffers || !buffer_sizes)))
        return wi_set_error(ctx, WI_ERR_PLAN, "missing buffer table");
    if (plan[0] != WI_MAGIC)
        return wi_set_error(ctx, WI_ERR_PLAN, "bad magic number %lld", (long long)plan[0]);
    if (plan[1] != WI_VERSION)
        return wi_set_error(ctx, WI_ERR_PLAN, "format version %lld, this runtime reads %d", (long long)plan[1],
                            WI_VERSION);
    if (plan[2] < 0 || plan[2] > n_words / 3)
        return wi_set_error(ctx, WI_ERR_PLAN, "%lld steps cannot fit in %lld words", (long long)plan[2],
                            (long long)n_words);
    plan_view pv = {plan, n_words, buffers, buffer_sizes, n_buffers};
    wi_step s;
    const kernel_def *def;
    int64_t per_thread = 0, pos = 3;
    for (ctx->step = 0; ctx->step < plan[2]; ctx->step++) {
        TRY(decode_step(ctx, &pv, &pos, &s, &def));
        per_thread = s.scratch > per_thread ? s.scratch : per_thread;
    }
    ctx->step = -1;
    if (pos != n_words)
        return wi_set_error(ctx, WI_ERR_PLAN, "%lld words after the last step", (long long)(n_words - pos));
    TRY(grow_scratch(ctx, per_thread));
    pos = 3;
    for (ctx->step = 0; ctx->step < plan[2]; ctx->step++) {
        TRY(decode_step(ctx, &pv, &pos, &s, &def));
        ctx->scratch_stride = align_up(s.scratch);
        TRY(def->run(ctx, &s));
    }
    ctx->step = -1;
    return WI_OK;
}

const char *wi_last_error(wi_context *ctx) { return ctx ? ctx->error : "no context"; }

int64_t wi_chunks(const wi_context *ctx, int64_t n, int64_t min_chunk)
{
    int64_t by_size = (n + min_chunk - 1) / min_chunk, cap = (int64_t)ctx->n_threads * 4;
    return by_size < cap ? (by_size > 0 ? by_size : 1) : cap;
}

/* ---- context ---- */

static int32_t detect_isa(void)
{
#if WI_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return WI_ISA_GENERIC;
    return __builtin_cpu_supports("avx512f") ? WI_ISA_AVX512 : WI_ISA_AVX2;
#elif defined(__wasm_simd128__)
    return WI_ISA_WASM_SIMD;
#else
    return WI_ISA_GENERIC;
#endif
}

wi_context *wi_create(int32_t n_threads)
{
    wi_context *ctx = wi_alloc(sizeof *ctx);
    if (!ctx)
        return NULL;
    *ctx = (wi_context){0};
    ctx->step = -1;
    ctx->isa = ctx->isa_max = detect_isa();
    int32_t wanted = n_threads < 1 ? 1 : (n_threads > 256 ? 256 : n_threads);
    ctx->pool = wi_pool_create(wanted, &ctx->n_threads);
    return ctx;
}

void wi_destroy(wi_context *ctx)
{
    if (!ctx)
        return;
    wi_pool_destroy(ctx->pool);
    wi_clear_packed(ctx);
    wi_free(ctx->scratch);
    wi_free(ctx);
}

int32_t wi_num_threads(wi_context *ctx) { return ctx->n_threads; }

int32_t wi_select_isa(wi_context *ctx, int32_t isa)
{
    if (isa >= 0)
        ctx->isa = isa < ctx->isa_max ? isa : ctx->isa_max;
    return ctx->isa;
}
