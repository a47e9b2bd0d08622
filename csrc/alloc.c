/* Host memory for the runtime: aligned blocks for weights, arenas, contexts and scratch. */
#include <stdlib.h>

#include "internal.h"

void *wi_alloc(int64_t bytes)
{
    if (bytes < 0)
        return NULL;
    size_t size = ((size_t)bytes + WI_ALIGN - 1) / WI_ALIGN * WI_ALIGN;
    return aligned_alloc(WI_ALIGN, size ? size : WI_ALIGN);
}

void wi_free(void *ptr) { free(ptr); }
