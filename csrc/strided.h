/* N-d strided iteration shared by COPY, BINARY and WHERE: dims are simplified, then walked row by row
 * (a row is the innermost dim), each operand with its own element strides. */
#ifndef WI_STRIDED_H
#define WI_STRIDED_H

#include "internal.h"

#define WI_MAX_OPERANDS 4

typedef struct {
    int32_t ndim, n_ops;
    int64_t dims[WI_MAX_DIMS];
    int64_t strides[WI_MAX_OPERANDS][WI_MAX_DIMS];
    int64_t idx[WI_MAX_DIMS];      /* position over the outer dims (all but the last) */
    int64_t off[WI_MAX_OPERANDS]; /* element offset of each operand at idx */
} wi_strided;

/* Copies the layout, drops size-1 dims and merges dims that are contiguous for every operand.
 * Leaves at least one dim (size 1 for a scalar). Returns the element count. */
static inline int64_t wi_strided_init(wi_strided *it, int32_t ndim, const int64_t *dims, int32_t n_ops,
                                      const int64_t *const *strides)
{
    int64_t count = 1;
    it->n_ops = n_ops;
    it->ndim = 0;
    for (int32_t d = 0; d < ndim; d++) {
        count *= dims[d];
        if (dims[d] == 1)
            continue;
        int32_t k = it->ndim, merge = k > 0;
        for (int32_t o = 0; o < n_ops && merge; o++)
            merge = it->strides[o][k - 1] == strides[o][d] * dims[d];
        if (merge) {
            it->dims[k - 1] *= dims[d];
            for (int32_t o = 0; o < n_ops; o++)
                it->strides[o][k - 1] = strides[o][d];
        } else {
            it->dims[k] = dims[d];
            for (int32_t o = 0; o < n_ops; o++)
                it->strides[o][k] = strides[o][d];
            it->ndim++;
        }
    }
    if (it->ndim == 0) {
        it->ndim = 1;
        it->dims[0] = 1;
        for (int32_t o = 0; o < n_ops; o++)
            it->strides[o][0] = 0;
    }
    return count;
}

static inline int64_t wi_strided_rows(const wi_strided *it)
{
    int64_t rows = 1;
    for (int32_t d = 0; d < it->ndim - 1; d++)
        rows *= it->dims[d];
    return rows;
}

/* Positions the iterator at the start of row `row`. */
static inline void wi_strided_seek(wi_strided *it, int64_t row)
{
    for (int32_t o = 0; o < it->n_ops; o++)
        it->off[o] = 0;
    for (int32_t d = it->ndim - 2; d >= 0; d--) {
        it->idx[d] = row % it->dims[d];
        row /= it->dims[d];
        for (int32_t o = 0; o < it->n_ops; o++)
            it->off[o] += it->idx[d] * it->strides[o][d];
    }
}

static inline void wi_strided_next(wi_strided *it)
{
    for (int32_t d = it->ndim - 2; d >= 0; d--) {
        for (int32_t o = 0; o < it->n_ops; o++)
            it->off[o] += it->strides[o][d];
        if (++it->idx[d] < it->dims[d])
            return;
        for (int32_t o = 0; o < it->n_ops; o++)
            it->off[o] -= it->dims[d] * it->strides[o][d];
        it->idx[d] = 0;
    }
}

/* Contiguous (row-major) strides for dims. */
static inline void wi_contiguous_strides(int32_t ndim, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int32_t d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

#endif
