/* GEMM: C = epilogue(op(A) @ op(B)), the compute core of MatMul, Gemm and Conv.
 *
 * Classic blocking: for each NC-wide column block and KC-deep slice of K, B is packed into NR-wide
 * panels, then each MC x KC block of A into MR-row panels, and a register-blocked micro-kernel
 * sweeps them. The first K slice stores, later ones accumulate, the last applies the epilogue while
 * the tile is still in L1. Threads get one rectangle of C each (no barriers; the grid that packs the
 * least is chosen). Constant operands may come prepacked (plan.c caches them); with at most
 * WI_GEMM_SMALL_M rows B is not packed at all but streamed in place. Micro-kernels: AVX-512 8x32,
 * AVX2+FMA 6x16 (chosen at run time), wasm SIMD128 2x16 and a portable 4x8 one.
 */
#include "internal.h"
#include "threads.h"

#if WI_X86
#include <immintrin.h>
#endif

#define KC 256
#define NC 1024
#define MR_MAX 8
#define MC_MAX 192

typedef void (*ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int32_t acc);

typedef struct {
    int32_t mr, nr, mc;
    ukernel_fn fn;
} ukernel;

/* ---- micro-kernels: c[mr x nr] (row stride ldc) = or += a panel (kc x mr) times b panel (kc x nr) ---- */

/* 4x8 portable: plain C the compiler can vectorise for any target. */
static void ukernel_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int32_t acc)
{
    float t[4][8] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += 4, b += 8)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
                t[i][j] += a[i] * b[j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

#if WI_X86
/* 6x16 AVX2+FMA: 12 ymm accumulators, two B vectors and one broadcast A value per k. */
#define FMA_ROW2(i)                                         \
    do {                                                    \
        __m256 a_ = _mm256_broadcast_ss(a + i);             \
        c##i##0 = _mm256_fmadd_ps(a_, b0, c##i##0);          \
        c##i##1 = _mm256_fmadd_ps(a_, b1, c##i##1);          \
    } while (0)
#define STORE_ROW2(i)                                                                     \
    do {                                                                                  \
        float *r_ = c + i * ldc;                                                          \
        if (acc) {                                                                        \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(r_));                        \
            c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(r_ + 8));                    \
        }                                                                                 \
        _mm256_storeu_ps(r_, c##i##0);                                                    \
        _mm256_storeu_ps(r_ + 8, c##i##1);                                                \
    } while (0)

WI_TARGET_AVX2 static void ukernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                                        int32_t acc)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        FMA_ROW2(0);
        FMA_ROW2(1);
        FMA_ROW2(2);
        FMA_ROW2(3);
        FMA_ROW2(4);
        FMA_ROW2(5);
        a += 6;
        b += 16;
    }
    STORE_ROW2(0);
    STORE_ROW2(1);
    STORE_ROW2(2);
    STORE_ROW2(3);
    STORE_ROW2(4);
    STORE_ROW2(5);
}

/* AVX-512, MR x 32: 2*MR zmm accumulators, written once as a loop the compiler unrolls into registers. */
#define AVX512_KERNEL(MR)                                                                                     \
    WI_TARGET_AVX512 static void ukernel_avx512_##MR(int64_t kc, const float *a, const float *b, float *c,   \
                                                     int64_t ldc, int32_t acc)                              \
    {                                                                                                       \
        __m512 t[MR][2];                                                                                    \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) t[i][0] = t[i][1] = _mm512_setzero_ps();      \
        for (int64_t k = 0; k < kc; k++, a += MR, b += 32) {                                                \
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);                                     \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                           \
            {                                                                                               \
                __m512 ai = _mm512_set1_ps(a[i]);                                                           \
                t[i][0] = _mm512_fmadd_ps(ai, b0, t[i][0]);                                                 \
                t[i][1] = _mm512_fmadd_ps(ai, b1, t[i][1]);                                                 \
            }                                                                                               \
        }                                                                                                   \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                               \
        {                                                                                                   \
            float *r = c + i * ldc;                                                                         \
            if (acc) {                                                                                      \
                t[i][0] = _mm512_add_ps(t[i][0], _mm512_loadu_ps(r));                                       \
                t[i][1] = _mm512_add_ps(t[i][1], _mm512_loadu_ps(r + 16));                                  \
            }                                                                                               \
            _mm512_storeu_ps(r, t[i][0]);                                                                   \
            _mm512_storeu_ps(r + 16, t[i][1]);                                                              \
        }                                                                                                   \
    }
AVX512_KERNEL(8)
#endif

#ifdef __wasm_simd128__
/* 2x16 for wasm SIMD128: 8 v128 accumulators, four B vectors and one splat A value per k. Engines
 * give wasm at most 16 vector registers and V8 spills past about 10 accumulators, so taller tiles
 * lose (V8, this project's measurements: 2x16 ~60 GFLOP/s, 4x8 ~50, 4x12/6x8/4x16 ~30). Relaxed-SIMD
 * builds fuse the multiply-add. */
typedef float wi_v4 __attribute__((vector_size(16)));
#ifdef __wasm_relaxed_simd__
#define V4_MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define V4_MADD(a, b, c) ((a) * (b) + (c))
#endif

static void ukernel_wasm(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int32_t acc)
{
    wi_v4 t[2][4] = {{{0}}}, bv[4], old;
    for (int64_t k = 0; k < kc; k++, a += 2, b += 16) {
        __builtin_memcpy(bv, b, sizeof bv);
        for (int i = 0; i < 2; i++) {
            wi_v4 ai = {a[i], a[i], a[i], a[i]};
            for (int j = 0; j < 4; j++)
                t[i][j] = V4_MADD(ai, bv[j], t[i][j]);
        }
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            float *r = c + i * ldc + 4 * j;
            if (acc) {
                __builtin_memcpy(&old, r, sizeof old);
                t[i][j] += old;
            }
            __builtin_memcpy(r, &t[i][j], sizeof old);
        }
}
#endif

static ukernel select_ukernel(int32_t isa)
{
#ifdef __wasm_simd128__
    if (isa == WI_ISA_WASM_SIMD)
        return (ukernel){2, 16, 128, ukernel_wasm};
#endif
#if WI_X86
    if (isa >= WI_ISA_AVX512)
        return (ukernel){8, 32, 128, ukernel_avx512_8};
    if (isa >= WI_ISA_AVX2)
        return (ukernel){6, 16, 144, ukernel_avx2};
#endif
    (void)isa;
    return (ukernel){4, 8, 128, ukernel_generic};
}

/* Per-thread scratch, in floats: [A block | edge tile | B block | slack for im2col's vector spill]. */
#define A_FLOATS ((MC_MAX + MR_MAX) * KC)
#define TILE_OFFSET (A_FLOATS + 16)
#define B_OFFSET (TILE_OFFSET + MR_MAX * WI_NR_MAX + 16)
_Static_assert(B_OFFSET % 16 == 0, "packed B panels must stay 64-byte aligned");

int64_t wi_gemm_scratch(int64_t M, int64_t N, int64_t K, int32_t b_packer)
{
    if (M <= WI_GEMM_SMALL_M && !b_packer)
        return M * K * (int64_t)sizeof(float);
    int64_t b_floats = (K < KC ? K : KC) * ((N < NC ? N : NC) + WI_NR_MAX);
    return (B_OFFSET + b_floats + 16) * (int64_t)sizeof(float);
}

/* ---- packing ---- */

/* Rows [i0, i0 + mc) x k [k0, k0 + kc) of A into mr-row panels: dst[(panel * kc + k) * mr + i]. */
static void pack_a(const wi_gemm_problem *p, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int32_t mr,
                   float *dst)
{
    for (int64_t ip = 0; ip < mc; ip += mr, dst += kc * mr) {
        int64_t rows = mc - ip < mr ? mc - ip : mr;
        if (p->trans_a) {
            const float *src = p->a + k0 * p->lda + i0 + ip;
            for (int64_t k = 0; k < kc; k++, src += p->lda) {
                for (int64_t i = 0; i < rows; i++)
                    dst[k * mr + i] = src[i];
                for (int64_t i = rows; i < mr; i++)
                    dst[k * mr + i] = 0.0f;
            }
        } else {
            for (int64_t i = 0; i < mr; i++) {
                if (i >= rows) {
                    for (int64_t k = 0; k < kc; k++)
                        dst[k * mr + i] = 0.0f;
                    continue;
                }
                const float *src = p->a + (i0 + ip + i) * p->lda + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * mr + i] = src[k];
            }
        }
    }
}

/* Columns [j0, j0 + nc) x k [k0, k0 + kc) of a plain B into nr-wide panels: dst[(panel * kc + k) * nr + j]. */
static void pack_b_matrix(const wi_gemm_problem *p, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int32_t nr,
                          float *dst)
{
    for (int64_t jp = 0; jp < nc; jp += nr, dst += kc * nr) {
        int64_t cols = nc - jp < nr ? nc - jp : nr;
        if (p->trans_b) {
            for (int64_t j = 0; j < cols; j++) {
                const float *src = p->b + (j0 + jp + j) * p->ldb + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * nr + j] = src[k];
            }
            for (int64_t j = cols; j < nr; j++)
                for (int64_t k = 0; k < kc; k++)
                    dst[k * nr + j] = 0.0f;
        } else {
            const float *src = p->b + k0 * p->ldb + j0 + jp;
            for (int64_t k = 0; k < kc; k++, src += p->ldb) {
                for (int64_t j = 0; j < cols; j++)
                    dst[k * nr + j] = src[j];
                for (int64_t j = cols; j < nr; j++)
                    dst[k * nr + j] = 0.0f;
            }
        }
    }
}

int64_t wi_gemm_packed_floats(int32_t isa, int32_t operand, int64_t M, int64_t N, int64_t K)
{
    ukernel uk = select_ukernel(isa);
    return operand == 0 ? (M + uk.mr - 1) / uk.mr * uk.mr * K : (N + uk.nr - 1) / uk.nr * uk.nr * K;
}

/* Slice pc (k in [pc, pc + kc)) starts at pc * (M or N rounded up to whole panels), which is where
 * gemm_part looks for it; within a slice the panels follow each other as in the scratch blocks. */
void wi_gemm_pack_operand(int32_t isa, const wi_gemm_problem *p, int32_t operand, float *dst)
{
    ukernel uk = select_ukernel(isa);
    for (int64_t pc = 0; pc < p->K; pc += KC) {
        int64_t kc = p->K - pc < KC ? p->K - pc : KC;
        if (operand == 0)
            pack_a(p, 0, p->M, pc, kc, uk.mr, dst + pc * ((p->M + uk.mr - 1) / uk.mr * uk.mr));
        else
            pack_b_matrix(p, pc, kc, 0, p->N, uk.nr, dst + pc * ((p->N + uk.nr - 1) / uk.nr * uk.nr));
    }
}

/* ---- epilogue ---- */

WI_INLINE void epilogue_body(const wi_epilogue *ep, float *c, int64_t ldc, int64_t i0, int64_t j0, int64_t m,
                             int64_t n)
{
    float alpha = ep->alpha, beta = ep->beta;
    for (int64_t i = i0; i < i0 + m; i++) {
        float *r = c + i * ldc + j0;
        float add = ep->bias_mode == WI_BIAS_SCALAR ? beta * ep->bias[0]
                    : ep->bias_mode == WI_BIAS_COL  ? beta * ep->bias[i]
                                                    : 0.0f;
        const float *vec = ep->bias_mode == WI_BIAS_ROW    ? ep->bias + j0
                           : ep->bias_mode == WI_BIAS_FULL ? ep->bias + i * ldc + j0
                                                           : NULL;
        if (alpha != 1.0f || add != 0.0f)
            for (int64_t j = 0; j < n; j++)
                r[j] = alpha * r[j] + add;
        if (vec)
            for (int64_t j = 0; j < n; j++)
                r[j] += beta * vec[j];
        if (ep->residual) {
            const float *res = ep->residual + i * ldc + j0;
            for (int64_t j = 0; j < n; j++)
                r[j] += res[j];
        }
        if (ep->act == WI_ACT_RELU)
            for (int64_t j = 0; j < n; j++)
                r[j] = r[j] < 0.0f ? 0.0f : r[j];
        else if (ep->act == WI_ACT_CLIP) /* ReLU6 and friends: max, then min, NaN stays */
            for (int64_t j = 0; j < n; j++) {
                float v = r[j] < ep->act_alpha ? ep->act_alpha : r[j];
                r[j] = v > ep->act_beta ? ep->act_beta : v;
            }
    }
}

static void epilogue_generic(const wi_epilogue *ep, float *c, int64_t ldc, int64_t i0, int64_t j0, int64_t m,
                             int64_t n)
{
    epilogue_body(ep, c, ldc, i0, j0, m, n);
}

#if WI_X86
WI_TARGET_AVX2 static void epilogue_avx2(const wi_epilogue *ep, float *c, int64_t ldc, int64_t i0, int64_t j0,
                                         int64_t m, int64_t n)
{
    epilogue_body(ep, c, ldc, i0, j0, m, n);
}
#endif

static int epilogue_trivial(const wi_epilogue *ep)
{
    return ep->alpha == 1.0f && ep->bias_mode == WI_BIAS_NONE && !ep->residual && ep->act == WI_ACT_NONE;
}

void wi_gemm_epilogue_f32(int32_t isa, const wi_epilogue *ep, float *c, int64_t ldc, int64_t i0, int64_t j0,
                          int64_t m, int64_t n)
{
    if (epilogue_trivial(ep))
        return;
#if WI_X86
    if (isa >= WI_ISA_AVX2)
        epilogue_avx2(ep, c, ldc, i0, j0, m, n);
    else
#endif
        epilogue_generic(ep, c, ldc, i0, j0, m, n);
    if (ep->act != WI_ACT_NONE && ep->act != WI_ACT_RELU && ep->act != WI_ACT_CLIP)
        for (int64_t i = i0; i < i0 + m; i++)
            wi_elementwise_act_f32(isa, ep->act, ep->act_alpha, ep->act_beta, c + i * ldc + j0,
                                   c + i * ldc + j0, n);
}

/* ---- small M: B read in place, no packing (M is too small to pay for packing B) ---- */

WI_INLINE float hsum(const wi_v8 *v)
{
    return (((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3])) + (((*v)[4] + (*v)[5]) + ((*v)[6] + (*v)[7]));
}

/* C[i, j0:j1] for up to 4 rows of contiguous A rows `ar` (row stride K), B not transposed:
 * 16 columns at a time, accumulated over all of K. */
WI_INLINE void small_rows_nt(const wi_gemm_problem *p, const float *ar, int64_t rows, int64_t j0, int64_t j1,
                             float *c)
{
    int64_t K = p->K, j = j0;
    for (; j + 16 <= j1; j += 16) {
        wi_v8 acc[4][2] = {{{0}}}, b0, b1;
        for (int64_t k = 0; k < K; k++) {
            wi_load8(&b0, p->b + k * p->ldb + j);
            wi_load8(&b1, p->b + k * p->ldb + j + 8);
            for (int64_t i = 0; i < 4; i++)
                if (i < rows) {
                    acc[i][0] += ar[i * K + k] * b0;
                    acc[i][1] += ar[i * K + k] * b1;
                }
        }
        for (int64_t i = 0; i < rows; i++) {
            wi_store8(c + i * p->ldc + j, &acc[i][0]);
            wi_store8(c + i * p->ldc + j + 8, &acc[i][1]);
        }
    }
    for (; j < j1; j++)
        for (int64_t i = 0; i < rows; i++) {
            float t = 0.0f;
            for (int64_t k = 0; k < K; k++)
                t += ar[i * K + k] * p->b[k * p->ldb + j];
            c[i * p->ldc + j] = t;
        }
}

/* The same with B transposed (rows of B are contiguous in k): dot products, two columns at a time. */
WI_INLINE void small_rows_t(const wi_gemm_problem *p, const float *ar, int64_t rows, int64_t j0, int64_t j1,
                            float *c)
{
    int64_t K = p->K, k8 = K / 8 * 8;
    for (int64_t j = j0; j < j1; j += 2) {
        int64_t nj = j1 - j < 2 ? j1 - j : 2;
        const float *b0 = p->b + j * p->ldb, *b1 = p->b + (j + nj - 1) * p->ldb;
        wi_v8 acc[4][2] = {{{0}}}, x0, x1, av;
        for (int64_t k = 0; k < k8; k += 8) {
            wi_load8(&x0, b0 + k);
            wi_load8(&x1, b1 + k);
            for (int64_t i = 0; i < 4; i++)
                if (i < rows) {
                    wi_load8(&av, ar + i * K + k);
                    acc[i][0] += av * x0;
                    acc[i][1] += av * x1;
                }
        }
        for (int64_t i = 0; i < rows; i++) {
            float t0 = hsum(&acc[i][0]), t1 = hsum(&acc[i][1]);
            for (int64_t k = k8; k < K; k++) {
                t0 += ar[i * K + k] * b0[k];
                t1 += ar[i * K + k] * b1[k];
            }
            c[i * p->ldc + j] = t0;
            if (nj == 2)
                c[i * p->ldc + j + 1] = t1;
        }
    }
}

WI_INLINE void small_body(const wi_gemm_problem *p, const float *ar, int64_t rows, int64_t j0, int64_t j1,
                          float *c)
{
    if (p->trans_b)
        small_rows_t(p, ar, rows, j0, j1, c);
    else
        small_rows_nt(p, ar, rows, j0, j1, c);
}

static void small_generic(const wi_gemm_problem *p, const float *ar, int64_t rows, int64_t j0, int64_t j1,
                          float *c)
{
    small_body(p, ar, rows, j0, j1, c);
}

#if WI_X86
WI_TARGET_AVX2 static void small_avx2(const wi_gemm_problem *p, const float *ar, int64_t rows, int64_t j0,
                                      int64_t j1, float *c)
{
    small_body(p, ar, rows, j0, j1, c);
}
#endif

typedef struct {
    wi_context *ctx;
    const wi_gemm_problem *p;
    int64_t n_chunks;
} small_job;

/* Columns of chunk `task` for all rows; A rows are first copied contiguous into the thread's scratch. */
static void small_task(void *arg, int64_t task, int32_t thread)
{
    const small_job *job = arg;
    const wi_gemm_problem *p = job->p;
    int64_t j0 = p->N * task / job->n_chunks / 16 * 16, j1 = task + 1 == job->n_chunks ? p->N
                                                            : p->N * (task + 1) / job->n_chunks / 16 * 16;
    float *ar = wi_scratch_thread(job->ctx, thread);
    for (int64_t i = 0; i < p->M; i++)
        for (int64_t k = 0; k < p->K; k++)
            ar[i * p->K + k] = p->trans_a ? p->a[k * p->lda + i] : p->a[i * p->lda + k];
    for (int64_t i0 = 0; i0 < p->M && j0 < j1; i0 += 4) {
        int64_t rows = p->M - i0 < 4 ? p->M - i0 : 4;
        float *c = p->c + i0 * p->ldc;
#if WI_X86
        if (job->ctx->isa >= WI_ISA_AVX2)
            small_avx2(p, ar + i0 * p->K, rows, j0, j1, c);
        else
#endif
            small_generic(p, ar + i0 * p->K, rows, j0, j1, c);
        wi_gemm_epilogue_f32(job->ctx->isa, &p->ep, p->c, p->ldc, i0, j0, rows, j1 - j0);
    }
}

/* ---- driver ---- */

/* Rows [m0, m1) x columns [n0, n1) of C on one thread, with that thread's packing buffers. */
static void gemm_part(wi_context *ctx, const wi_gemm_problem *p, ukernel uk, int32_t thread, int64_t m0,
                      int64_t m1, int64_t n0, int64_t n1)
{
    float *apack = wi_scratch_thread(ctx, thread), *tile = apack + TILE_OFFSET, *bpack = apack + B_OFFSET;
    int64_t a_rows = (p->M + uk.mr - 1) / uk.mr * uk.mr, b_cols = (p->N + uk.nr - 1) / uk.nr * uk.nr;
    int32_t trivial_ep = epilogue_trivial(&p->ep);
    for (int64_t jc = n0; jc < n1; jc += NC) {
        int64_t nc = n1 - jc < NC ? n1 - jc : NC;
        for (int64_t pc = 0; pc < p->K; pc += KC) {
            int64_t kc = p->K - pc < KC ? p->K - pc : KC;
            int32_t acc = pc > 0, last = pc + kc == p->K;
            const float *bblock = bpack;
            if (p->b_packed) /* prepacked: slice pc holds kc x b_cols, panel by panel */
                bblock = p->b_packed + pc * b_cols + jc * kc;
            else if (p->pack_b)
                p->pack_b(p, pc, kc, jc, nc, uk.nr, bpack);
            else
                pack_b_matrix(p, pc, kc, jc, nc, uk.nr, bpack);
            for (int64_t ic = m0; ic < m1; ic += uk.mc) {
                int64_t mc = m1 - ic < uk.mc ? m1 - ic : uk.mc;
                const float *ablock = apack;
                if (p->a_packed)
                    ablock = p->a_packed + pc * a_rows + ic * kc;
                else
                    pack_a(p, ic, mc, pc, kc, uk.mr, apack);
                for (int64_t jr = 0; jr < nc; jr += uk.nr) {
                    const float *bpanel = bblock + jr * kc;
                    int64_t cols = nc - jr < uk.nr ? nc - jr : uk.nr;
                    for (int64_t ir = 0; ir < mc; ir += uk.mr) {
                        const float *apanel = ablock + ir * kc;
                        int64_t rows = mc - ir < uk.mr ? mc - ir : uk.mr;
                        float *c = p->c + (ic + ir) * p->ldc + jc + jr;
                        if (rows == uk.mr && cols == uk.nr) {
                            uk.fn(kc, apanel, bpanel, c, p->ldc, acc);
                        } else { /* edge tile: full kernel into a buffer, then the valid part */
                            uk.fn(kc, apanel, bpanel, tile, uk.nr, 0);
                            for (int64_t r = 0; r < rows; r++)
                                for (int64_t q = 0; q < cols; q++)
                                    c[r * p->ldc + q] = (acc ? c[r * p->ldc + q] : 0.0f) + tile[r * uk.nr + q];
                        }
                        if (last && !trivial_ep)
                            wi_gemm_epilogue_f32(ctx->isa, &p->ep, p->c, p->ldc, ic + ir, jc + jr, rows, cols);
                    }
                }
            }
        }
    }
}

typedef struct {
    wi_context *ctx;
    const wi_gemm_problem *p;
    ukernel uk;
    int64_t pm, pn; /* the grid of parts: pm row ranges times pn column ranges */
} gemm_job;

/* Boundary i of `parts` near-equal ranges of n, on multiples of `unit` (except the end). */
static int64_t split_at(int64_t n, int64_t parts, int64_t i, int64_t unit)
{
    return i == parts ? n : (n * i / parts) / unit * unit;
}

static void part_task(void *arg, int64_t task, int32_t thread)
{
    const gemm_job *job = arg;
    const wi_gemm_problem *p = job->p;
    int64_t im = task / job->pn, in = task % job->pn;
    int64_t m0 = split_at(p->M, job->pm, im, job->uk.mr), m1 = split_at(p->M, job->pm, im + 1, job->uk.mr);
    int64_t n0 = split_at(p->N, job->pn, in, job->uk.nr), n1 = split_at(p->N, job->pn, in + 1, job->uk.nr);
    if (m0 < m1 && n0 < n1)
        gemm_part(job->ctx, p, job->uk, thread, m0, m1, n0, n1);
}

void wi_gemm_f32(wi_context *ctx, const wi_gemm_problem *p, int32_t thread)
{
    if (p->M == 0 || p->N == 0)
        return;
    if (p->K == 0) {
        for (int64_t i = 0; i < p->M; i++)
            for (int64_t j = 0; j < p->N; j++)
                p->c[i * p->ldc + j] = 0.0f;
        wi_gemm_epilogue_f32(ctx->isa, &p->ep, p->c, p->ldc, 0, 0, p->M, p->N);
        return;
    }
    double flops = 2.0 * (double)p->M * (double)p->N * (double)p->K;
    if (p->M <= WI_GEMM_SMALL_M && !p->pack_b) {
        small_job sj = {ctx, p, 1};
        if (thread < 0 && flops >= 2e6)
            sj.n_chunks = wi_chunks(ctx, p->N, 64);
        if (thread >= 0)
            small_task(&sj, 0, thread);
        else
            wi_parallel_for(ctx, sj.n_chunks, small_task, &sj);
        return;
    }
    gemm_job job = {ctx, p, select_ukernel(ctx->isa), 1, 1};
    if (thread >= 0 || ctx->n_threads == 1 || flops < 2e6) {
        gemm_part(ctx, p, job.uk, thread >= 0 ? thread : 0, 0, p->M, 0, p->N);
        return;
    }
    /* One part per thread, no barriers: each packs the B columns and A rows it needs. Of the grids
     * with n_threads parts, take the one that packs the fewest elements (B once per row range,
     * A once per column range). */
    int64_t m_units = (p->M + job.uk.mr - 1) / job.uk.mr, n_units = (p->N + job.uk.nr - 1) / job.uk.nr;
    double best = -1.0;
    for (int64_t pm = 1; pm <= ctx->n_threads; pm++) {
        int64_t pn = ctx->n_threads / pm;
        if (pm * pn != ctx->n_threads || pm > m_units || pn > n_units)
            continue;
        double cost = (double)pm * (double)p->N * (double)p->K + (double)pn * (double)p->M * (double)p->K;
        if (best < 0 || cost < best) {
            best = cost;
            job.pm = pm;
            job.pn = pn;
        }
    }
    if (best < 0) { /* too small to give every thread a part: split the longer side as far as it goes */
        job.pm = m_units >= n_units ? (m_units < ctx->n_threads ? m_units : ctx->n_threads) : 1;
        job.pn = m_units >= n_units ? 1 : (n_units < ctx->n_threads ? n_units : ctx->n_threads);
    }
    wi_parallel_for(ctx, job.pm * job.pn, part_task, &job);
}

/* ---- batched GEMM (the GEMM kernel) ---- */

typedef struct {
    wi_context *ctx;
    const wi_gemm_args *a;
    int64_t nbatch;
} batch_job;

static void batch_problem(const wi_gemm_args *a, int64_t batch, wi_gemm_problem *p)
{
    int64_t a_off = 0, b_off = 0, rest = batch;
    for (int32_t d = a->nbatch_dims - 1; d >= 0; d--) {
        int64_t i = rest % a->batch_dims[d];
        rest /= a->batch_dims[d];
        a_off += i * a->a_strides[d];
        b_off += i * a->b_strides[d];
    }
    *p = (wi_gemm_problem){a->M, a->N, a->K, a->a_packed, a->b_packed, a->a + a_off, a->trans_a ? a->M : a->K,
                           a->trans_a,
                           a->b + b_off, a->trans_b ? a->K : a->N, a->trans_b, NULL, NULL,
                           a->y + batch * a->M * a->N, a->N, a->ep};
}

static void batch_task(void *arg, int64_t task, int32_t thread)
{
    const batch_job *job = arg;
    wi_gemm_problem p;
    batch_problem(job->a, task, &p);
    wi_gemm_f32(job->ctx, &p, thread);
}

int32_t wi_gemm_batched_f32(wi_context *ctx, const wi_gemm_args *a)
{
    batch_job job = {ctx, a, 1};
    for (int32_t d = 0; d < a->nbatch_dims; d++)
        job.nbatch *= a->batch_dims[d];
    /* many batches: one whole GEMM per task; few big ones: split each GEMM over the pool */
    double flops = 2.0 * (double)a->M * (double)a->N * (double)a->K;
    if (ctx->n_threads > 1 && job.nbatch >= ctx->n_threads && (double)job.nbatch * flops >= 2e6 &&
        (job.nbatch >= 4 * ctx->n_threads || flops < 4e6)) {
        wi_parallel_for(ctx, job.nbatch, batch_task, &job);
        return WI_OK;
    }
    for (int64_t b = 0; b < job.nbatch; b++) {
        wi_gemm_problem p;
        batch_problem(a, b, &p);
        wi_gemm_f32(ctx, &p, -1);
    }
    return WI_OK;
}
