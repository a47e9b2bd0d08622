/* COPY: strided N-d copy of any element size (Transpose, Slice, Concat, Expand, Reshape lower to it). */
#include "internal.h"
#include "strided.h"
#include "threads.h"

typedef struct {
    const wi_copy_args *a;
    wi_strided it;
    int64_t rows, n_chunks;
} copy_job;

#define STRIDED_ROW(T)                                            \
    do {                                                          \
        const T *s_ = (const T *)src;                             \
        T *d_ = (T *)dst;                                         \
        for (int64_t i = 0; i < n; i++)                           \
            d_[i * dst_stride] = s_[i * src_stride];              \
    } while (0)

/* One row: n elements from src (stride src_stride) to dst (stride dst_stride). */
static void copy_row(int32_t itemsize, int64_t n, const uint8_t *src, int64_t src_stride, uint8_t *dst,
                     int64_t dst_stride)
{
    if (src_stride == 1 && dst_stride == 1) {
        __builtin_memcpy(dst, src, (size_t)(n * itemsize));
        return;
    }
    switch (itemsize) {
    case 1: STRIDED_ROW(uint8_t); break;
    case 2: STRIDED_ROW(uint16_t); break;
    case 4: STRIDED_ROW(uint32_t); break;
    default: STRIDED_ROW(uint64_t); break;
    }
}

static void copy_task(void *arg, int64_t task, int32_t thread)
{
    (void)thread;
    copy_job *job = arg;
    const wi_copy_args *a = job->a;
    wi_strided it = job->it;
    int64_t r0 = job->rows * task / job->n_chunks, r1 = job->rows * (task + 1) / job->n_chunks;
    int32_t last = it.ndim - 1;
    wi_strided_seek(&it, r0);
    for (int64_t r = r0; r < r1; r++, wi_strided_next(&it))
        copy_row(a->itemsize, it.dims[last], a->src + it.off[0] * a->itemsize, it.strides[0][last],
                 a->dst + it.off[1] * a->itemsize, it.strides[1][last]);
}

int32_t wi_copy_strided(wi_context *ctx, const wi_copy_args *a)
{
    copy_job job = {a, {0}, 0, 1};
    const int64_t *strides[2] = {a->src_strides, a->dst_strides};
    int64_t count = wi_strided_init(&job.it, a->ndim, a->dims, 2, strides);
    if (count == 0)
        return WI_OK;
    job.rows = wi_strided_rows(&job.it);
    job.n_chunks = wi_chunks(ctx, count, 1 << 16);
    job.n_chunks = job.n_chunks < job.rows ? job.n_chunks : job.rows;
    wi_parallel_for(ctx, job.n_chunks, copy_task, &job);
    return WI_OK;
}
