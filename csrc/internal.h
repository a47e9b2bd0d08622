/* Shared between plan.c and the kernel files: the context, checked kernel arguments, prototypes.
 *
 * plan.c is the trust boundary: it decodes and validates every step and hands kernels argument
 * records whose pointers and sizes are already known to be in bounds. Kernels use no libc.
 */
#ifndef WI_INTERNAL_H
#define WI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "webinfer.h"

#define WI_MAX_DIMS 8
#define WI_MAX_TENSORS 8
#define WI_ALIGN 64
#define WI_NR_MAX 32 /* widest GEMM micro-kernel panel */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define WI_X86 1
#define WI_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define WI_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define WI_X86 0
#endif
#define WI_INLINE static inline __attribute__((always_inline))

/* 8 floats as a GCC/Clang vector: one ymm with AVX2, two xmm or two wasm v128 otherwise. Loads and
 * stores go through memcpy (any alignment) and pointers, so no vector crosses a call boundary. */
typedef float wi_v8 __attribute__((vector_size(32)));
WI_INLINE void wi_load8(wi_v8 *v, const float *p) { __builtin_memcpy(v, p, sizeof *v); }
WI_INLINE void wi_store8(float *p, const wi_v8 *v) { __builtin_memcpy(p, v, sizeof *v); }

/* ONNX TensorProto.DataType codes (dtypes.py). */
enum {
    WI_F32 = 1, WI_U8 = 2, WI_I8 = 3, WI_U16 = 4, WI_I16 = 5, WI_I32 = 6, WI_I64 = 7,
    WI_BOOL = 9, WI_F16 = 10, WI_F64 = 11, WI_U32 = 12, WI_U64 = 13
};

/* kernels.py enums. */
enum { WI_K_COPY = 1, WI_K_UNARY, WI_K_BINARY, WI_K_WHERE, WI_K_GEMM, WI_K_CONV, WI_K_POOL,
       WI_K_REDUCE, WI_K_SOFTMAX, WI_K_LAYERNORM, WI_K_BATCHNORM, WI_K_CAST, WI_K_GATHER, WI_K_COUNT };
enum { WI_ACT_NONE, WI_ACT_RELU, WI_ACT_SIGMOID, WI_ACT_TANH, WI_ACT_ERF, WI_ACT_GELU, WI_ACT_GELU_TANH,
       WI_ACT_SQRT, WI_ACT_EXP, WI_ACT_LOG, WI_ACT_ABS, WI_ACT_NEG, WI_ACT_RECIPROCAL,
       WI_ACT_HARDSIGMOID, WI_ACT_HARDSWISH, WI_ACT_CLIP, WI_ACT_LEAKYRELU, WI_ACT_FLOOR, WI_ACT_CEIL,
       WI_ACT_COUNT };
enum { WI_OP_ADD, WI_OP_SUB, WI_OP_MUL, WI_OP_DIV, WI_OP_POW, WI_OP_MAX, WI_OP_MIN, WI_OP_EQUAL,
       WI_OP_LESS, WI_OP_GREATER, WI_OP_AND, WI_OP_OR, WI_OP_COUNT };
enum { WI_RED_SUM, WI_RED_MEAN, WI_RED_MAX, WI_RED_MIN, WI_RED_PROD, WI_RED_COUNT };
enum { WI_BIAS_NONE, WI_BIAS_SCALAR, WI_BIAS_ROW, WI_BIAS_COL, WI_BIAS_FULL, WI_BIAS_COUNT };
enum { WI_POOL_MAX, WI_POOL_AVG };

typedef struct wi_pool wi_pool;
typedef struct wi_packed wi_packed;

struct wi_context {
    int32_t n_threads;
    int32_t isa;      /* WI_ISA_* the kernels use */
    int32_t isa_max;  /* what the CPU supports */
    wi_pool *pool;
    uint8_t *scratch; /* [thread 0 | thread 1 | ...], grown by plan.c before a plan runs */
    int64_t scratch_bytes;
    int64_t scratch_stride; /* bytes per thread for the step being run */
    wi_packed *packed; /* weight matrices packed for the GEMM micro-kernels, kept across runs */
    int64_t step;      /* index of the step being decoded or run, -1 outside steps (for messages) */
    const char *kernel_name;
    char error[384];
};

static inline void *wi_scratch_thread(wi_context *ctx, int32_t thread)
{
    return ctx->scratch + (int64_t)thread * ctx->scratch_stride;
}

/* ---- checked kernel arguments (pointers already offset; counts in elements) ---- */

typedef struct {
    int32_t ndim, itemsize;
    int64_t dims[WI_MAX_DIMS], src_strides[WI_MAX_DIMS], dst_strides[WI_MAX_DIMS];
    const uint8_t *src; /* at src_start */
    uint8_t *dst;       /* at dst_start */
} wi_copy_args;

typedef struct {
    int32_t act;
    float alpha, beta;
    int64_t n;
    const float *x;
    float *y;
} wi_unary_args;

typedef struct {
    int32_t op, dtype, ndim; /* dtype of a and b */
    int64_t dims[WI_MAX_DIMS], a_strides[WI_MAX_DIMS], b_strides[WI_MAX_DIMS];
    const uint8_t *a, *b;
    uint8_t *y;
} wi_binary_args;

typedef struct {
    int32_t ndim, itemsize;
    int64_t dims[WI_MAX_DIMS], c_strides[WI_MAX_DIMS], x_strides[WI_MAX_DIMS], y_strides[WI_MAX_DIMS];
    const uint8_t *cond, *x, *y;
    uint8_t *out;
} wi_where_args;

/* What GEMM and conv add to the raw product: y = act(alpha * acc + beta * bias + residual). */
typedef struct {
    float alpha, beta;
    int32_t bias_mode; /* WI_BIAS_*: ROW indexes bias by column, COL by row, FULL by both (ld = ldc) */
    const float *bias;
    const float *residual; /* optional, same layout as C */
    int32_t act;
    float act_alpha, act_beta;
} wi_epilogue;

typedef struct wi_gemm_problem wi_gemm_problem;
/* Packs columns [j0, j0 + nc) x rows [k0, k0 + kc) of B into nr-wide panels (k-major, zero padded). */
typedef void (*wi_pack_b_fn)(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                             int32_t nr, float *dst);

struct wi_gemm_problem {
    int64_t M, N, K;
    const float *a_packed, *b_packed; /* whole operand already in panels (wi_gemm_pack_operand), or NULL */
    const float *a; /* A[i, k] = trans_a ? a[k * lda + i] : a[i * lda + k] */
    int64_t lda;
    int32_t trans_a;
    const float *b; /* B[k, j] = trans_b ? b[j * ldb + k] : b[k * ldb + j], unless pack_b is set */
    int64_t ldb;
    int32_t trans_b;
    wi_pack_b_fn pack_b;
    const void *pack_arg;
    float *c;
    int64_t ldc;
    wi_epilogue ep;
};

typedef struct {
    int32_t nbatch_dims;
    int64_t batch_dims[WI_MAX_DIMS], a_strides[WI_MAX_DIMS], b_strides[WI_MAX_DIMS];
    int64_t M, N, K;
    int32_t trans_a, trans_b;
    const float *a, *b;
    const float *a_packed, *b_packed; /* set when that operand is the same constant for every batch */
    float *y;
    wi_epilogue ep;
} wi_gemm_args;

typedef struct {
    int64_t N, C, H, W, M, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, group;
    const float *x, *w, *bias, *residual;
    float *y;
    int32_t act;
    float act_alpha, act_beta;
    const float *w_packed; /* each group's W in panels, one after another, or NULL */
} wi_conv_args;

typedef struct {
    int32_t kind, count_include_pad;
    int64_t planes, H, W, OH, OW, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw;
    const float *x;
    float *y;
} wi_pool_args;

typedef struct {
    int32_t op;
    int64_t outer, n, inner;
    const float *x;
    float *y;
} wi_reduce_args;

typedef struct {
    int32_t log;
    int64_t outer, n, inner;
    const float *x;
    float *y;
} wi_softmax_args;

typedef struct {
    int64_t outer, n;
    float epsilon;
    const float *x, *scale, *bias; /* bias may be NULL */
    float *y;
} wi_layernorm_args;

typedef struct {
    int64_t N, C, S; /* S = spatial size */
    float epsilon;
    const float *x, *scale, *bias, *mean, *var;
    float *y;
} wi_batchnorm_args;

typedef struct {
    int32_t src_dtype, dst_dtype;
    int64_t n;
    const uint8_t *x;
    uint8_t *y;
} wi_cast_args;

typedef struct {
    int32_t itemsize, idx_dtype;
    int64_t outer, axis_dim, inner, n_idx;
    const uint8_t *data, *idx;
    uint8_t *y;
} wi_gather_args;

/* ---- kernels; each returns WI_OK or an error code after calling wi_set_error ---- */

int32_t wi_copy_strided(wi_context *ctx, const wi_copy_args *a);
int32_t wi_elementwise_unary_f32(wi_context *ctx, const wi_unary_args *a);
int32_t wi_elementwise_binary(wi_context *ctx, const wi_binary_args *a);
int32_t wi_elementwise_where(wi_context *ctx, const wi_where_args *a);
int32_t wi_gemm_batched_f32(wi_context *ctx, const wi_gemm_args *a);
int32_t wi_conv_2d_f32(wi_context *ctx, const wi_conv_args *a);
int32_t wi_pool_2d_f32(wi_context *ctx, const wi_pool_args *a);
int32_t wi_reduce_axis_f32(wi_context *ctx, const wi_reduce_args *a);
int32_t wi_reduce_softmax_f32(wi_context *ctx, const wi_softmax_args *a);
int32_t wi_norm_layernorm_f32(wi_context *ctx, const wi_layernorm_args *a);
int32_t wi_norm_batchnorm_f32(wi_context *ctx, const wi_batchnorm_args *a);
int32_t wi_cast_gather_cast(wi_context *ctx, const wi_cast_args *a);
int32_t wi_cast_gather_gather(wi_context *ctx, const wi_gather_args *a);

/* Scratch bytes a kernel needs per thread (see wi_scratch_thread). b_packer: B will come from a
 * wi_pack_b_fn, which rules out the small-M path. */
int64_t wi_gemm_scratch(int64_t M, int64_t N, int64_t K, int32_t b_packer);
int64_t wi_conv_scratch(const wi_conv_args *a);
int64_t wi_softmax_scratch(const wi_softmax_args *a);

/* Prepacking constant operands (plan.c caches the results in ctx->packed). operand 0 packs the M x K
 * matrix A, 1 the K x N matrix B, whole, for the micro-kernel `isa` selects. */
#define WI_GEMM_SMALL_M 8 /* up to this many rows, B is read in place instead of packed */
#define WI_GEMM_KC 256    /* gemm.c's K slice (its KC): a packed operand holds K in slices this deep */
int64_t wi_gemm_packed_floats(int32_t isa, int32_t operand, int64_t M, int64_t N, int64_t K);
void wi_gemm_pack_operand(int32_t isa, const wi_gemm_problem *p, int32_t operand, float *dst);
/* True when conv runs as GEMM (then W can be prepacked as A, see wi_conv_args.w_packed). */
int wi_conv_uses_gemm(const wi_conv_args *a);

/* Implicit-GEMM conv (conv_igemm.c, x86): whether it runs `a` with `isa` (needs w_packed), its
 * scratch per thread, and the run. */
int wi_conv_igemm_ok(const wi_conv_args *a, int32_t isa);
int64_t wi_conv_igemm_scratch(const wi_conv_args *a);
void wi_conv_igemm(wi_context *ctx, const wi_conv_args *a);

/* Depthwise conv with AVX-512 (conv_dw.c): the same trio. */
int wi_conv_dw_ok(const wi_conv_args *a, int32_t isa);
int64_t wi_conv_dw_scratch(const wi_conv_args *a);
void wi_conv_dw(wi_context *ctx, const wi_conv_args *a);

/* GEMM core, also used by conv. thread < 0: split over the pool; else run on that thread alone. */
void wi_gemm_f32(wi_context *ctx, const wi_gemm_problem *p, int32_t thread);
/* Apply an epilogue to rows [i0, i0 + m) x columns [j0, j0 + n) of c (row stride ldc). */
void wi_gemm_epilogue_f32(int32_t isa, const wi_epilogue *ep, float *c, int64_t ldc, int64_t i0,
                          int64_t j0, int64_t m, int64_t n);
/* y[i] = act(x[i]) for n contiguous floats (x may equal y). */
void wi_elementwise_act_f32(int32_t isa, int32_t act, float alpha, float beta, const float *x, float *y,
                            int64_t n);

/* Formats "step i (KERNEL): message" into ctx->error (%s, %d and %lld only) and returns code. */
int32_t wi_set_error(wi_context *ctx, int32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Work splitting: at most n_threads * 4 chunks of at least min_chunk items. */
int64_t wi_chunks(const wi_context *ctx, int64_t n, int64_t min_chunk);

#endif
