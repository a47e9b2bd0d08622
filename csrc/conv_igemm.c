/* CONV as an implicit GEMM (x86, AVX-512 and AVX2): Y_g [M/g x OH*OW] = W_g [M/g x K] times the im2col
 * matrix of X [K x OH*OW], K = C/g * KH * KW, whose rows the micro-kernels read in place instead of
 * from packed panels: kernel row k is b + off[k], B's columns being contiguous.
 *
 * Where B comes from (ig_geom.mode):
 *  - VIRTUAL: with stride s, tap (kh, kw) of output (oh, ow) reads padded input row oh*s + kh*dh,
 *    column ow*s + kw*dw. Split the padded input into phase planes by (row mod s, column mod s) and
 *    that is plane(tap)[(oh + ah) * Wq + ow + aw]: one fixed offset from j = oh * Wq + ow for every
 *    tap. Outputs are computed over a "virtual" row width Wq = OW + aw_max (the extra columns are
 *    computed and dropped), and im2col row k is the run buf + off[k] + j. The input is copied once
 *    (not KH*KW times), per band of output rows, into the thread's scratch.
 *  - DIRECT (1x1, stride 1, unpadded): B is X itself.
 *  - PACKED (small outputs, where virtual columns would cost whole tiles): the im2col matrix proper,
 *    gathered once from the phase planes, so tiles cover exactly OH * OW columns (7x7: 48 + 1).
 * W comes prepacked (plan.c, wi_gemm_pack_operand: MR-row panels, K in WI_GEMM_KC slices).
 *
 * Tasks are (output-channel panels) x (band of output rows, or of columns): each copies what it reads
 * into its own scratch, so tasks need no barrier. Within a task, column blocks of ncb columns: for
 * each K slice, each tile (AVX-512: 32 columns; 48 in packed mode; a 16-wide one and single columns
 * at the end rather than a mostly empty tile), each 8-row panel: one micro-kernel call. The tiles
 * accumulate in scratch over the slices; the last slice's call applies bias, residual and ReLU/Clip
 * and stores straight to Y, dropping virtual columns (other activations: a pass afterwards). Weights
 * stream from DRAM in a whole model (ResNet-18's do not fit in L3), hence the software prefetch.
 */
#include "internal.h"
#include "threads.h"

#if WI_X86
#include <immintrin.h>

#define IG_NR_MAX 48 /* widest tile; AVX-512 tiles are stored with this row stride */
#define IG_MR_MAX 8
#define IG_BAND_FLOATS (96 * 1024) /* a band's phase planes aim at this size (L2-resident) */
#define IG_MAX_TAPS 64
#define IG_PREFETCH 1024 /* floats of A prefetched ahead (4 KiB) */
#define IG_CBLOCK (48 * 1024) /* floats of the tiles a column block accumulates (L2-resident) */

/* Geometry shared by all tasks of one conv. */
typedef struct {
    int64_t cg, mg, K;           /* channels in, out per group; K = cg * KH * KW */
    int64_t nph, npw;            /* phase planes per channel (rows x columns) */
    int64_t rph[IG_MAX_TAPS], cph[IG_MAX_TAPS]; /* phase of each plane index */
    int64_t ah_max, Wq;          /* extra rows a plane holds below its band; virtual row width */
    int64_t band;                /* output rows per band (copy modes) */
    int64_t ncb;                 /* columns per block: its tiles for all M stay in L2 over the K slices */
    int32_t mode;                /* IG_* */
} ig_geom;

/* Where B comes from. VIRTUAL: the phase planes, virtual columns and all. DIRECT (1x1, stride 1,
 * unpadded): X itself. PACKED (small outputs, where the virtual columns would cost whole tiles): the
 * im2col matrix, gathered once from the phase planes, so tiles cover exactly OH * OW columns. */
enum { IG_VIRTUAL, IG_DIRECT, IG_PACKED };

/* Phase index and plane offset of each kernel row / column. */
typedef struct {
    int64_t phi[IG_MAX_TAPS], ah[IG_MAX_TAPS], pwi[IG_MAX_TAPS], aw[IG_MAX_TAPS];
} ig_taps;

static int64_t phase_of(int64_t *list, int64_t *n, int64_t v)
{
    for (int64_t i = 0; i < *n; i++)
        if (list[i] == v)
            return i;
    list[*n] = v;
    return (*n)++;
}

/* Row stride of the packed im2col matrix: whole cache lines, so a tile's rows are dense in L1. */
static int64_t packed_stride(int64_t P) { return (P + 15) / 16 * 16; }

/* FMAs per k and 8-row panel for n columns: `wide` tiles, then at most one 32-wide and one 16-wide
 * tile and 8 single columns (see the column loop in ig_task). */
static int64_t tile_cost(int64_t n, int64_t wide)
{
    int64_t full = n / wide, left = n % wide, cost = full * wide / 2;
    if (left > 32) { /* wide = 48 */
        cost += 16;
        left -= 32;
    }
    return cost + (left > 24 ? 16 : left > 16 ? 8 + (left - 16) : left > 8 ? 8 : left);
}

static void ig_setup(const wi_conv_args *a, ig_geom *g, ig_taps *t)
{
    *g = (ig_geom){0};
    g->cg = a->C / a->group;
    g->mg = a->M / a->group;
    g->K = g->cg * a->KH * a->KW;
    int64_t aw_max = 0;
    for (int64_t kh = 0; kh < a->KH; kh++) {
        t->phi[kh] = phase_of(g->rph, &g->nph, kh * a->dh % a->sh);
        t->ah[kh] = kh * a->dh / a->sh;
        g->ah_max = t->ah[kh] > g->ah_max ? t->ah[kh] : g->ah_max;
    }
    for (int64_t kw = 0; kw < a->KW; kw++) {
        t->pwi[kw] = phase_of(g->cph, &g->npw, kw * a->dw % a->sw);
        t->aw[kw] = kw * a->dw / a->sw;
        aw_max = t->aw[kw] > aw_max ? t->aw[kw] : aw_max;
    }
    g->Wq = a->OW + aw_max;
    int64_t P = a->OH * a->OW, per_row = g->cg * g->nph * g->npw * g->Wq;
    g->band = IG_BAND_FLOATS / (per_row > 0 ? per_row : 1) - g->ah_max;
    g->band = g->band < 1 ? 1 : g->band > a->OH ? a->OH : g->band;
    g->ncb = IG_CBLOCK * 2 / 3 / (g->mg + 8) / 32 * 32;
    g->ncb = g->ncb < 64 ? 64 : g->ncb > 1024 ? 1024 : g->ncb;
    g->mode = IG_VIRTUAL;
    if (a->KH == 1 && a->KW == 1 && a->sh == 1 && a->sw == 1 && a->pt == 0 && a->pl == 0 && a->OH == a->H &&
        a->OW == a->W)
        g->mode = IG_DIRECT;
    else if (P <= 256 && g->K * packed_stride(P) <= (1 << 20) &&
             100 * tile_cost(P, 48) <= 92 * tile_cost(a->OH * g->Wq, 32)) {
        g->mode = IG_PACKED; /* one band, one column block */
        g->band = a->OH;
        g->ncb = P;
    }
}

/* Floats of one band's phase planes, with the slack the last tile's reads run into. */
static int64_t band_floats(const ig_geom *g, int64_t rows)
{
    return g->cg * g->nph * g->npw * (rows + g->ah_max) * g->Wq + g->Wq + IG_NR_MAX + 16;
}

/* Per-thread scratch, in floats: [band planes | im2col | a column block's tiles | edge B slice (direct)
 * or dense last columns (packed) | offsets | edge offsets | tail offsets]; ig_layout gives the offsets. */
typedef struct {
    int64_t col, tile, edge, off, total;
} ig_layout;

static ig_layout ig_layout_of(const wi_conv_args *a, const ig_geom *g)
{
    ig_layout l;
    int64_t P = a->OH * a->OW;
    l.col = g->mode == IG_DIRECT ? 0 : (band_floats(g, g->band) + 15) / 16 * 16;
    l.tile = l.col + (g->mode == IG_PACKED ? (g->K * packed_stride(P) + IG_NR_MAX + 16 + 15) / 16 * 16 : 0);
    l.edge = l.tile + (g->mg + IG_MR_MAX) * (g->ncb / 32 + 3) * IG_NR_MAX; /* tiles >= 32 wide but 3 */
    l.off = l.edge + (g->mode == IG_DIRECT ? WI_GEMM_KC * IG_NR_MAX : g->mode == IG_PACKED ? g->K * 8 : 0);
    l.total = l.off + g->K + 2 * WI_GEMM_KC + 32;
    return l;
}

int wi_conv_igemm_ok(const wi_conv_args *a, int32_t isa)
{
    if (isa < WI_ISA_AVX2 || !a->w_packed || a->KH > IG_MAX_TAPS || a->KW > IG_MAX_TAPS)
        return 0;
    ig_geom g;
    ig_taps t;
    ig_setup(a, &g, &t);
    if (isa < WI_ISA_AVX512 && g.mode == IG_DIRECT) /* no fused epilogue with AVX2: gemm.c does as well */
        return 0;
    /* offsets are int32; keep bands and whole planes well inside that */
    return ig_layout_of(a, &g).total < ((int64_t)1 << 30) && g.cg * a->H * a->W < ((int64_t)1 << 30) &&
           g.K < ((int64_t)1 << 24);
}

int64_t wi_conv_igemm_scratch(const wi_conv_args *a)
{
    ig_geom g;
    ig_taps t;
    ig_setup(a, &g, &t);
    return ig_layout_of(a, &g).total * (int64_t)sizeof(float);
}

/* ---- copying a band's phase planes ---- */

WI_INLINE __mmask16 lane_mask(int64_t lo, int64_t hi) /* bits l with lo <= l < hi */
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
}

/* dst[q] = row[q * s + off] where that is inside [0, W), else 0, for q in [0, n): whole vectors, the
 * masked-off lanes never touch memory; stride 2 deinterleaves pairs of vectors. */
WI_TARGET_AVX512 static void phase_row_avx512(float *dst, int64_t n, const float *row, int64_t W, int64_t off,
                                              int64_t s)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t q = 0; q < n; q += 16) {
        __mmask16 out = n - q >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - q)) - 1);
        int64_t i0 = q * s + off; /* input index of lane 0 */
        __m512 v;
        if (s == 1) {
            v = _mm512_maskz_loadu_ps(lane_mask(-i0, W - i0), row + i0);
        } else {
            __m512 lo = _mm512_maskz_loadu_ps(lane_mask(-i0, W - i0), row + i0);
            __m512 hi = _mm512_maskz_loadu_ps(lane_mask(-i0 - 16, W - i0 - 16), row + i0 + 16);
            v = _mm512_permutex2var_ps(lo, even, hi);
        }
        _mm512_mask_storeu_ps(dst + q, out, v);
    }
}

/* The same for any stride, one element at a time. */
WI_INLINE void phase_row_plain(float *dst, int64_t n, const float *row, int64_t W, int64_t off, int64_t s)
{
    for (int64_t q = 0; q < n; q++) {
        int64_t i = q * s + off;
        dst[q] = i >= 0 && i < W ? row[i] : 0.0f;
    }
}

/* Planes for output rows [r0, r0 + rows) of image/group input x: plane (c, phi, pwi) row R holds padded
 * input row (r0 + R) * sh + rph[phi], columns Cc * sw + cph[pwi], for R < rows + ah_max. */
WI_INLINE void copy_body(const wi_conv_args *a, const ig_geom *g, const float *x, int64_t r0, int64_t rows,
                         float *buf, int32_t isa)
{
    int64_t hq = rows + g->ah_max, Wq = g->Wq;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t i = 0; i < g->nph; i++)
            for (int64_t j = 0; j < g->npw; j++) {
                float *plane = buf + ((c * g->nph + i) * g->npw + j) * hq * Wq;
                for (int64_t R = 0; R < hq; R++) {
                    int64_t ih = (r0 + R) * a->sh + g->rph[i] - a->pt;
                    float *d = plane + R * Wq;
                    if (ih < 0 || ih >= a->H) {
                        for (int64_t q = 0; q < Wq; q++)
                            d[q] = 0.0f;
                        continue;
                    }
                    const float *row = x + (c * a->H + ih) * a->W;
                    if (isa >= WI_ISA_AVX512 && a->sw <= 2)
                        phase_row_avx512(d, Wq, row, a->W, g->cph[j] - a->pl, a->sw);
                    else
                        phase_row_plain(d, Wq, row, a->W, g->cph[j] - a->pl, a->sw);
                }
            }
    for (int64_t q = 0; q < Wq + IG_NR_MAX + 16; q++)
        buf[g->cg * g->nph * g->npw * hq * Wq + q] = 0.0f;
}

WI_TARGET_AVX512 static void copy_avx512(const wi_conv_args *a, const ig_geom *g, const float *x, int64_t r0,
                                         int64_t rows, float *buf)
{
    copy_body(a, g, x, r0, rows, buf, WI_ISA_AVX512);
}

WI_TARGET_AVX2 static void copy_avx2(const wi_conv_args *a, const ig_geom *g, const float *x, int64_t r0,
                                     int64_t rows, float *buf)
{
    copy_body(a, g, x, r0, rows, buf, WI_ISA_AVX2);
}

/* dst = rows runs of n floats, src's rows (stride wq) without their virtual columns. */
WI_TARGET_AVX512 static void gather_row_avx512(float *dst, const float *src, int64_t rows, int64_t n, int64_t wq)
{
    for (int64_t r = 0; r < rows; r++, dst += n, src += wq)
        for (int64_t q = 0; q < n; q += 16) {
            __mmask16 m = lane_mask(0, n - q);
            _mm512_mask_storeu_ps(dst + q, m, _mm512_maskz_loadu_ps(m, src + q));
        }
}

/* ---- micro-kernels: c[MR x NR] (row stride IG_NR_MAX, AVX2: 16) = or += a panel (kc x MR) times
 * rows b + off[k] ---- */

/* Where a tile's last K slice goes straight to Y (the fused epilogue): the output rows of the panel,
 * and the tile columns as up to IG_OUT_SEGS runs, each a masked store per 16 lanes. */
#define IG_OUT_SEGS 3
typedef struct {
    float *y;          /* the panel's first output plane */
    const float *res;  /* its residual plane, or NULL */
    const float *bias; /* its bias, or NULL */
    int64_t P, rows;   /* plane stride; rows to store (a last panel may be partial) */
    int32_t n_seg;
    int64_t shift[IG_OUT_SEGS];             /* Y offset of tile column 0 in each run */
    __mmask16 mask[IG_OUT_SEGS][IG_NR_MAX / 16]; /* lanes of each 16-column vector in each run */
    float lo, hi;      /* clamp: ReLU, Clip, or none */
} ig_out;

typedef void (*ig_kernel_fn)(int64_t kc, const float *a, const float *b, const int32_t *off, float *c,
                             int32_t acc, const ig_out *o);

/* Row i, vector v of a finished tile: bias, residual, clamp, then the runs' masked stores (plain ones
 * for a whole vector in one run: masked stores are slow on AMD cores). */
WI_TARGET_AVX512 WI_INLINE void ig_store(__m512 t, const ig_out *o, int64_t i, int v)
{
    float *y = o->y + i * o->P + 16 * v;
    const float *res = o->res ? o->res + i * o->P + 16 * v : NULL;
    if (o->bias)
        t = _mm512_add_ps(t, _mm512_set1_ps(o->bias[i]));
    if (o->n_seg == 1 && o->mask[0][v] == 0xffff) {
        if (res)
            t = _mm512_add_ps(t, _mm512_loadu_ps(res + o->shift[0]));
        _mm512_storeu_ps(y + o->shift[0], _mm512_min_ps(_mm512_set1_ps(o->hi), _mm512_max_ps(_mm512_set1_ps(o->lo), t)));
        return;
    }
    if (res) {
        __m512 r = _mm512_setzero_ps();
        for (int32_t s = 0; s < o->n_seg; s++)
            r = _mm512_mask_loadu_ps(r, o->mask[s][v], res + o->shift[s]);
        t = _mm512_add_ps(t, r);
    }
    t = _mm512_min_ps(_mm512_set1_ps(o->hi), _mm512_max_ps(_mm512_set1_ps(o->lo), t)); /* NaN stays NaN */
    for (int32_t s = 0; s < o->n_seg; s++)
        _mm512_mask_storeu_ps(y + o->shift[s], o->mask[s][v], t);
}

/* 8 x 16V: 8V accumulators, V B vectors and one broadcast A value per k. o: the last slice, to Y. */
#define IG_KERNEL(NAME, V)                                                                                    \
    WI_TARGET_AVX512 static void NAME(int64_t kc, const float *a, const float *b, const int32_t *off, float *c, \
                                      int32_t acc, const ig_out *o)                                        \
    {                                                                                                      \
        __m512 t[8][V];                                                                                    \
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) \
            t[i][v] = acc ? _mm512_loadu_ps(c + i * IG_NR_MAX + 16 * v) : _mm512_setzero_ps();             \
        for (int64_t k = 0; k < kc; k++, a += 8) {                                                         \
            const float *br = b + off[k];                                                                  \
            __m512 bv[V];                                                                                  \
            _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_ps(br + 16 * v);      \
            _mm_prefetch((const char *)(a + IG_PREFETCH), _MM_HINT_T0);                                    \
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)                                            \
            {                                                                                              \
                __m512 ai = _mm512_set1_ps(a[i]);                                                          \
                _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) t[i][v] = _mm512_fmadd_ps(ai, bv[v], t[i][v]); \
            }                                                                                              \
        }                                                                                                  \
        if (o) {                                                                                           \
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) if (i < o->rows)                           \
                _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) ig_store(t[i][v], o, i, v);            \
            return;                                                                                        \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) \
            _mm512_storeu_ps(c + i * IG_NR_MAX + 16 * v, t[i][v]);                                         \
    }
IG_KERNEL(ig_kernel_avx512, 2)   /* the main tile */
IG_KERNEL(ig_kernel48_avx512, 3) /* the packed mode's tiles, whose rows are dense */
IG_KERNEL(ig_kernel16_avx512, 1) /* a last 9..24 columns */

/* 8 x R for the last R <= 8 columns: one 8-row A vector times R broadcast B values per k, so a
 * lone column costs one FMA per k, not a 16-lane tile's eight. U chains per column hide the latency. */
#define IG_COLUMNS(R, U)                                                                                      \
    WI_TARGET_AVX512 static void ig_columns##R(int64_t kc, const float *a, const float *b, const int32_t *off, \
                                               float *c, int32_t acc, const ig_out *o)                     \
    {                                                                                                      \
        (void)o; /* never fused */                                                                         \
        __m256 t[R][U];                                                                                    \
        _Pragma("GCC unroll 8") for (int j = 0; j < R; j++) _Pragma("GCC unroll 4") for (int u = 0; u < U; u++) \
            t[j][u] = _mm256_setzero_ps();                                                                 \
        int64_t k = 0;                                                                                     \
        for (; k + U <= kc; k += U)                                                                        \
            _Pragma("GCC unroll 4") for (int u = 0; u < U; u++)                                            \
            {                                                                                              \
                __m256 av = _mm256_loadu_ps(a + (k + u) * 8);                                              \
                const float *br = b + off[k + u];                                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < R; j++)                                        \
                    t[j][u] = _mm256_fmadd_ps(av, _mm256_set1_ps(br[j]), t[j][u]);                         \
            }                                                                                              \
        for (; k < kc; k++) {                                                                              \
            __m256 av = _mm256_loadu_ps(a + k * 8);                                                        \
            _Pragma("GCC unroll 8") for (int j = 0; j < R; j++)                                            \
                t[j][0] = _mm256_fmadd_ps(av, _mm256_set1_ps(b[off[k] + j]), t[j][0]);                     \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int j = 0; j < R; j++)                                                \
        {                                                                                                  \
            float v[8];                                                                                    \
            for (int u = 1; u < U; u++)                                                                    \
                t[j][0] = _mm256_add_ps(t[j][0], t[j][u]);                                                 \
            _mm256_storeu_ps(v, t[j][0]);                                                                  \
            for (int i = 0; i < 8; i++)                                                                    \
                c[i * IG_NR_MAX + j] = acc ? c[i * IG_NR_MAX + j] + v[i] : v[i];                           \
        }                                                                                                  \
    }
IG_COLUMNS(1, 8)
IG_COLUMNS(2, 4)
IG_COLUMNS(3, 3)
IG_COLUMNS(4, 2)
IG_COLUMNS(5, 2)
IG_COLUMNS(6, 2)
IG_COLUMNS(7, 2)
IG_COLUMNS(8, 1)

/* 6 x 16 with AVX2 (the AVX2 packing's panel height): 12 accumulators; never fused. */
WI_TARGET_AVX2 static void ig_kernel_avx2(int64_t kc, const float *a, const float *b, const int32_t *off,
                                          float *c, int32_t acc, const ig_out *o)
{
    (void)o;
    __m256 t[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        t[i][0] = acc ? _mm256_loadu_ps(c + i * 16) : _mm256_setzero_ps();
        t[i][1] = acc ? _mm256_loadu_ps(c + i * 16 + 8) : _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++, a += 6) {
        const float *br = b + off[k];
        __m256 b0 = _mm256_loadu_ps(br), b1 = _mm256_loadu_ps(br + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            t[i][0] = _mm256_fmadd_ps(ai, b0, t[i][0]);
            t[i][1] = _mm256_fmadd_ps(ai, b1, t[i][1]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_ps(c + i * 16, t[i][0]);
        _mm256_storeu_ps(c + i * 16 + 8, t[i][1]);
    }
}

/* ---- epilogue: tile rows -> Y, virtual columns dropped ---- */

typedef struct {
    int64_t q, y, n; /* tile column, Y offset (within the channel plane), count */
} ig_seg;

/* y[t] = act(tile[t] + bias + res[t]) for RELU / CLIP / NONE; other activations run afterwards. */
WI_INLINE void epi_run(const float *tile, float *y, const float *res, int64_t n, float bias, int32_t act,
                       float lo, float hi)
{
    if (act == WI_ACT_RELU) {
        lo = 0.0f;
        hi = __builtin_inff();
    } else if (act != WI_ACT_CLIP) {
        lo = -__builtin_inff();
        hi = __builtin_inff();
    }
    for (int64_t t = 0; t < n; t++) {
        float v = tile[t] + bias + (res ? res[t] : 0.0f);
        v = v < lo ? lo : v; /* NaN stays NaN */
        y[t] = v > hi ? hi : v;
    }
}

typedef struct {
    wi_context *ctx;
    const wi_conv_args *a;
    const ig_geom *g;
    const ig_taps *t;
    int64_t n, grp;          /* image and group being run */
    int64_t n_bands, band;   /* rows per band; in direct mode bands are column ranges of `band` columns */
    int64_t pm;              /* panel ranges */
    int32_t mr, nr, ldc; /* main tile; tiles are stored ldc floats per row */
    ig_kernel_fn kernel;
} ig_job;

WI_INLINE void epilogue_body(const ig_job *job, const float *tile, int64_t m0, int64_t m1, const ig_seg *seg,
                             int32_t n_seg)
{
    const wi_conv_args *a = job->a;
    int64_t P = a->OH * a->OW, c0 = job->n * a->M + job->grp * job->g->mg;
    for (int64_t m = m0; m < m1; m++) {
        float bias = a->bias ? a->bias[job->grp * job->g->mg + m] : 0.0f;
        float *y = a->y + (c0 + m) * P;
        const float *res = a->residual ? a->residual + (c0 + m) * P : NULL;
        for (int32_t s = 0; s < n_seg; s++)
            epi_run(tile + (m - m0) * job->ldc + seg[s].q, y + seg[s].y, res ? res + seg[s].y : NULL, seg[s].n,
                    bias, a->act, a->act_alpha, a->act_beta);
    }
}

/* The same in masked 16-lane steps (segments are short: plain loops would mostly run their tails). */
WI_TARGET_AVX512 static void epilogue_avx512(const ig_job *job, const float *tile, int64_t m0, int64_t m1,
                                             const ig_seg *seg, int32_t n_seg)
{
    const wi_conv_args *a = job->a;
    int64_t P = a->OH * a->OW, c0 = job->n * a->M + job->grp * job->g->mg;
    int32_t act = a->act;
    __m512 lo = _mm512_set1_ps(act == WI_ACT_CLIP ? a->act_alpha : act == WI_ACT_RELU ? 0.0f : -__builtin_inff());
    __m512 hi = _mm512_set1_ps(act == WI_ACT_CLIP ? a->act_beta : __builtin_inff());
    for (int64_t m = m0; m < m1; m++, tile += job->ldc) {
        __m512 bias = _mm512_set1_ps(a->bias ? a->bias[job->grp * job->g->mg + m] : 0.0f);
        float *y = a->y + (c0 + m) * P;
        const float *res = a->residual ? a->residual + (c0 + m) * P : NULL;
        for (int32_t s = 0; s < n_seg; s++)
            for (int64_t t = 0; t < seg[s].n; t += 16) {
                int64_t left = seg[s].n - t;
                __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, tile + seg[s].q + t), bias);
                if (res)
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + seg[s].y + t));
                v = _mm512_min_ps(hi, _mm512_max_ps(lo, v)); /* NaN stays NaN */
                _mm512_mask_storeu_ps(y + seg[s].y + t, k, v);
            }
    }
}

WI_TARGET_AVX2 static void epilogue_avx2(const ig_job *job, const float *tile, int64_t m0, int64_t m1,
                                         const ig_seg *seg, int32_t n_seg)
{
    epilogue_body(job, tile, m0, m1, seg, n_seg);
}

/* Tile columns [j, j + cols) -> Y: runs within one output row, the virtual columns (>= ow of each wq)
 * dropped; Y offsets from y0. */
static int32_t tile_segs(int64_t j, int64_t cols, int64_t wq, int64_t ow, int64_t y0, ig_seg *seg)
{
    int32_t n_seg = 0;
    for (int64_t q = 0; q < cols;) {
        int64_t v = j + q, r = v / wq, c = v % wq, len = wq - c < cols - q ? wq - c : cols - q;
        if (c < ow)
            seg[n_seg++] = (ig_seg){q, y0 + r * ow + c, ow - c < len ? ow - c : len};
        q += len;
    }
    return n_seg;
}

static const ig_kernel_fn ig_columns[8] = {ig_columns1, ig_columns2, ig_columns3, ig_columns4,
                                            ig_columns5, ig_columns6, ig_columns7, ig_columns8};

/* One task: panels [p0, p1) of this group's output channels over one band. */
static void ig_task(void *arg, int64_t task, int32_t thread)
{
    const ig_job *job = arg;
    const wi_conv_args *a = job->a;
    const ig_geom *g = job->g;
    const ig_taps *tp = job->t;
    int32_t mr = job->mr, nr = job->nr, isa = job->ctx->isa;
    int64_t panels = (g->mg + mr - 1) / mr, im = task / job->n_bands, ib = task % job->n_bands;
    int64_t p0 = panels * im / job->pm, p1 = panels * (im + 1) / job->pm;
    if (p0 == p1)
        return;
    ig_layout l = ig_layout_of(a, g);
    float *buf = wi_scratch_thread(job->ctx, thread), *col = buf + l.col, *tile = buf + l.tile;
    float *edge = buf + l.edge;
    int32_t *off = (int32_t *)(buf + l.off), *edge_off = off + g->K, *tail_off = edge_off + WI_GEMM_KC;
    const float *x = a->x + (job->n * a->C + job->grp * g->cg) * a->H * a->W, *b;
    int64_t P = a->OH * a->OW, HW = a->H * a->W, nv, y0, wq, ow;

    if (g->mode == IG_DIRECT) { /* columns [y0, y0 + nv) of X, as one "row" */
        y0 = ib * job->band;
        nv = P - y0 < job->band ? P - y0 : job->band;
        wq = ow = nv;
        b = x + y0;
        for (int64_t k = 0; k < g->K; k++)
            off[k] = (int32_t)(k * HW);
    } else { /* output rows [r0, r0 + rows) */
        int64_t r0 = a->OH * ib / job->n_bands, rows = a->OH * (ib + 1) / job->n_bands - r0;
        if (isa >= WI_ISA_AVX512)
            copy_avx512(a, g, x, r0, rows, buf);
        else
            copy_avx2(a, g, x, r0, rows, buf);
        int64_t hq = rows + g->ah_max, k = 0;
        for (int64_t c = 0; c < g->cg; c++)
            for (int64_t kh = 0; kh < a->KH; kh++)
                for (int64_t kw = 0; kw < a->KW; kw++)
                    off[k++] = (int32_t)((((c * g->nph + tp->phi[kh]) * g->npw + tp->pwi[kw]) * hq + tp->ah[kh]) *
                                             g->Wq + tp->aw[kw]);
        y0 = r0 * a->OW;
        nv = rows * g->Wq;
        wq = g->Wq;
        ow = a->OW;
        b = buf;
        if (g->mode == IG_PACKED) { /* im2col row k = its virtual row without the virtual columns */
            int64_t pp = packed_stride(P);
            for (k = 0; k < g->K; k++) {
                if (isa >= WI_ISA_AVX512)
                    gather_row_avx512(col + k * pp, buf + off[k], rows, ow, wq);
                else
                    for (int64_t r = 0; r < rows; r++)
                        for (int64_t q = 0; q < ow; q++)
                            col[k * pp + r * ow + q] = buf[off[k] + r * wq + q];
                off[k] = (int32_t)(k * pp);
            }
            for (int64_t q = 0; q < IG_NR_MAX + 16; q++) /* what the last row's tiles read past it */
                col[g->K * pp + q] = 0.0f;
            nv = wq = ow = P;
            b = col;
        }
    }
    for (int64_t k = 0; k < WI_GEMM_KC; k++) {
        edge_off[k] = (int32_t)(k * IG_NR_MAX);
        tail_off[k] = (int32_t)(k * 8);
    }
    int64_t m_rows = (g->mg + mr - 1) / mr * mr, each = m_rows * g->K;
    const float *w = a->w_packed + job->grp * each;
    int64_t m0 = p0 * mr, m1 = p1 * mr < g->mg ? p1 * mr : g->mg;
    /* Column blocks: every K slice of A is read once per block (not once per tile), the block's tiles
     * for all panels accumulating in L2; within a slice, a tile's B rows stay in L1 over the panels. */
    int64_t np = p1 - p0;
    for (int64_t jb = 0; jb < nv; jb += g->ncb) {
        int64_t je = nv - jb < g->ncb ? nv : jb + g->ncb, n_tiles = 0;
        struct {
            int64_t j, width, cols;
            ig_kernel_fn kernel;
            const float *b; /* B rows of the current slice: b + off[k] */
            const int32_t *off;
            int32_t fused; /* its last slice goes straight to Y, through out */
            ig_out out;
        } tl[1024 / 16 + 4];
        /* whole tiles (AVX-512: 48 wide over packed rows), then a 32 or 16-wide one and single columns
         * rather than a mostly empty tile */
        for (int64_t j = jb; j < je; j += tl[n_tiles++].cols) {
            int64_t left = je - j, width = nr;
            ig_kernel_fn kernel = job->kernel;
            if (nr == 32 && g->mode == IG_PACKED && left >= 48) {
                width = 48;
                kernel = ig_kernel48_avx512;
            } else if (nr == 32 && left <= 24) {
                width = left > 8 ? 16 : left;
                kernel = left > 8 ? ig_kernel16_avx512 : ig_columns[left - 1];
            }
            tl[n_tiles].j = j;
            tl[n_tiles].width = width;
            tl[n_tiles].cols = left < width ? left : width;
            tl[n_tiles].kernel = kernel;
            tl[n_tiles].fused = 0;
        }
        if (g->mode == IG_PACKED && tl[n_tiles - 1].width <= 8) {
            /* single columns read one float a row: give them dense rows of their own */
            int64_t j = tl[n_tiles - 1].j, n = tl[n_tiles - 1].cols, pp = packed_stride(P);
            for (int64_t k = 0; k < g->K; k++)
                for (int64_t q = 0; q < 8; q++)
                    edge[k * 8 + q] = q < n ? col[k * pp + j + q] : 0.0f;
        }
        /* the fused epilogue: AVX-512 tiles of 16+ columns in at most IG_OUT_SEGS runs, ReLU/Clip/none */
        int32_t fuse_act = a->act == WI_ACT_NONE || a->act == WI_ACT_RELU || a->act == WI_ACT_CLIP;
        int64_t c0 = job->n * a->M + job->grp * g->mg;
        for (int64_t pc = 0; pc < g->K; pc += WI_GEMM_KC) {
            int64_t kc = g->K - pc < WI_GEMM_KC ? g->K - pc : WI_GEMM_KC;
            for (int64_t t = 0; t < n_tiles; t++) {
                tl[t].b = b + tl[t].j;
                tl[t].off = off + pc;
                if (g->mode == IG_DIRECT && y0 + tl[t].j + tl[t].width > P) {
                    /* the last tile would read past X: pack it, zero padded */
                    for (int64_t k = 0; k < kc; k++)
                        for (int64_t q = 0; q < tl[t].width; q++)
                            edge[k * IG_NR_MAX + q] = q < tl[t].cols ? x[(pc + k) * HW + y0 + tl[t].j + q] : 0.0f;
                    tl[t].b = edge;
                    tl[t].off = edge_off;
                } else if (g->mode == IG_PACKED && tl[t].width <= 8) {
                    tl[t].b = edge + pc * 8;
                    tl[t].off = tail_off;
                }
                if (pc + kc == g->K && nr == 32 && tl[t].width >= 16 && fuse_act) {
                    ig_seg seg[IG_NR_MAX + 1];
                    int32_t n_seg = tile_segs(tl[t].j, tl[t].cols, wq, ow, y0, seg);
                    ig_out *o = &tl[t].out;
                    tl[t].fused = n_seg <= IG_OUT_SEGS;
                    o->P = P;
                    o->n_seg = n_seg;
                    o->lo = a->act == WI_ACT_CLIP ? a->act_alpha : a->act == WI_ACT_RELU ? 0.0f : -__builtin_inff();
                    o->hi = a->act == WI_ACT_CLIP ? a->act_beta : __builtin_inff();
                    for (int32_t q = 0; q < n_seg && tl[t].fused; q++) {
                        o->shift[q] = seg[q].y - seg[q].q;
                        for (int v = 0; v < IG_NR_MAX / 16; v++)
                            o->mask[q][v] = lane_mask(seg[q].q - 16 * v, seg[q].q + seg[q].n - 16 * v);
                    }
                }
            }
            /* one slice: a panel at a time over all tiles, so Y is written as 8 streams, not 8 per panel;
             * several: a tile at a time over all panels, its B rows staying in L1 (whole slices even where
             * a 48-wide tile's rows overflow L1: A then streams in order) */
            int32_t p_outer = kc == g->K;
            for (int64_t u = 0; u < np * n_tiles; u++) {
                int64_t p = p0 + (p_outer ? u / n_tiles : u % np), t = p_outer ? u % n_tiles : u / np;
                ig_out *o = tl[t].fused ? &tl[t].out : NULL;
                if (o) {
                    int64_t m = p * mr;
                    o->y = a->y + (c0 + m) * P;
                    o->res = a->residual ? a->residual + (c0 + m) * P : NULL;
                    o->bias = a->bias ? a->bias + job->grp * g->mg + m : NULL;
                    o->rows = g->mg - m < mr ? g->mg - m : mr;
                }
                tl[t].kernel(kc, w + pc * m_rows + p * mr * kc, tl[t].b, tl[t].off,
                             tile + (t * np + p - p0) * mr * job->ldc, pc > 0, o);
            }
        }
        for (int64_t t = 0; t < n_tiles; t++) {
            if (tl[t].fused)
                continue;
            ig_seg seg[IG_NR_MAX + 1];
            int32_t n_seg = tile_segs(tl[t].j, tl[t].cols, wq, ow, y0, seg);
            const float *tt = tile + t * np * mr * job->ldc;
            if (isa >= WI_ISA_AVX512)
                epilogue_avx512(job, tt, m0, m1, seg, n_seg);
            else
                epilogue_avx2(job, tt, m0, m1, seg, n_seg);
            if (!fuse_act)
                for (int64_t m = m0; m < m1; m++)
                    for (int32_t q = 0; q < n_seg; q++) {
                        float *yy = a->y + (c0 + m) * P + seg[q].y;
                        wi_elementwise_act_f32(isa, a->act, a->act_alpha, a->act_beta, yy, yy, seg[q].n);
                    }
        }
    }
}

void wi_conv_igemm(wi_context *ctx, const wi_conv_args *a)
{
    ig_geom g;
    ig_taps t;
    ig_setup(a, &g, &t);
    ig_job job = {ctx, a, &g, &t, 0, 0, 1, 0, 1, 8, 32, IG_NR_MAX, ig_kernel_avx512};
    if (ctx->isa < WI_ISA_AVX512) {
        job.mr = 6;
        job.nr = job.ldc = 16;
        job.kernel = ig_kernel_avx2;
    }
    int64_t panels = (g.mg + job.mr - 1) / job.mr, P = a->OH * a->OW, nt = ctx->n_threads;
    double flops = 2.0 * (double)g.mg * (double)P * (double)g.K;
    if (nt > 1 && flops < 2e6)
        nt = 1;
    if (g.mode == IG_DIRECT) {
        /* column ranges of whole tiles, 4 per thread when there are many (a worker that wakes late
         * still finds some); with several threads, split panels too when columns are few */
        int64_t tiles = (P + job.nr - 1) / job.nr;
        job.pm = nt > 1 && tiles < 2 * nt && panels >= nt ? nt : 1;
        int64_t parts = job.pm > 1 ? 1 : tiles >= 8 * nt ? 4 * nt : nt, per = (tiles + parts - 1) / parts;
        per = per < 1 ? 1 : per;
        job.band = per * job.nr;
        job.n_bands = (P + job.band - 1) / job.band;
    } else if (g.mode == IG_PACKED) { /* one band; threads split the panels */
        job.n_bands = 1;
        job.pm = nt > 1 && panels >= nt ? nt : 1;
    } else {
        /* bands no taller than the scratch holds; with several threads, at least one per thread, or a
         * panel split when rows are few (a band's virtual columns round up to whole tiles) */
        job.n_bands = (a->OH + g.band - 1) / g.band;
        if (nt > 1) {
            if (a->OH >= 4 * nt && job.n_bands < nt)
                job.n_bands = nt;
            else if (a->OH < 4 * nt && panels >= nt)
                job.pm = nt;
        }
    }
    for (job.n = 0; job.n < a->N; job.n++)
        for (job.grp = 0; job.grp < a->group; job.grp++)
            wi_parallel_for(ctx, job.pm * job.n_bands, ig_task, &job);
}

#else /* no x86: the portable im2col path in conv.c runs everything */

int wi_conv_igemm_ok(const wi_conv_args *a, int32_t isa)
{
    (void)a;
    (void)isa;
    return 0;
}

int64_t wi_conv_igemm_scratch(const wi_conv_args *a)
{
    (void)a;
    return 0;
}

void wi_conv_igemm(wi_context *ctx, const wi_conv_args *a)
{
    (void)ctx;
    (void)a;
}

#endif
