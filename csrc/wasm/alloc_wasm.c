/* wi_alloc/wi_free for the freestanding wasm build (alloc.c's counterpart without libc).
 *
 * The heap runs from __heap_base to `top` in linear memory, tiled by blocks of a 64-byte header plus
 * a multiple of 64 bytes, so every payload is 64-byte aligned. Free blocks sit in one address-ordered
 * list, first fit, split when the rest is worth keeping and merged with free neighbours; a free block
 * that ends at `top` is given back to the top. Memory grows with memory.grow up to the module's
 * maximum (build_wasm.sh links with --max-memory); past it wi_alloc returns NULL. The runtime makes
 * few, large allocations (weights, arenas, scratch, packed panels), so a list is enough.
 */
#include "internal.h"

#define PAGE 65536u
#define HEADER WI_ALIGN

typedef struct block {
    uint32_t size;      /* bytes, header included */
    struct block *next; /* next free block by address (free blocks only) */
} block;
_Static_assert(sizeof(block) <= HEADER, "the block header must fit its 64 bytes");

extern unsigned char __heap_base;
static uintptr_t top;  /* end of the blocks handed out so far; 0 before the first call */
static block *free_list;

static uintptr_t align_up(uintptr_t n) { return (n + WI_ALIGN - 1) & ~(uintptr_t)(WI_ALIGN - 1); }
static uintptr_t end_of(const block *b) { return (uintptr_t)b + b->size; }

/* A new block of `size` bytes at the top, growing memory as needed. */
static block *take_top(uint32_t size)
{
    uint64_t end = (uint64_t)top + size, have = (uint64_t)__builtin_wasm_memory_size(0) * PAGE;
    if (end >= ((uint64_t)1 << 32)) /* `top` must stay representable */
        return NULL;
    if (end > have && __builtin_wasm_memory_grow(0, (size_t)((end - have + PAGE - 1) / PAGE)) == (size_t)-1)
        return NULL;
    block *b = (block *)top;
    b->size = size;
    top = (uintptr_t)end;
    return b;
}

void *wi_alloc(int64_t bytes)
{
    if (bytes < 0 || bytes > (int64_t)UINT32_MAX - 2 * HEADER)
        return NULL;
    if (!top)
        top = align_up((uintptr_t)&__heap_base + HEADER) - HEADER; /* payloads on 64-byte boundaries */
    uint32_t size = (uint32_t)align_up((uintptr_t)(bytes ? bytes : 1)) + HEADER;
    block **link = &free_list;
    while (*link && (*link)->size < size)
        link = &(*link)->next;
    block *b = *link;
    if (!b) {
        b = take_top(size);
        return b ? (unsigned char *)b + HEADER : NULL;
    }
    if (b->size - size >= 4 * HEADER) { /* split: the rest stays free in b's place */
        block *rest = (block *)((unsigned char *)b + size);
        rest->size = b->size - size;
        rest->next = b->next;
        b->size = size;
        *link = rest;
    } else {
        *link = b->next;
    }
    return (unsigned char *)b + HEADER;
}

void wi_free(void *ptr)
{
    if (!ptr)
        return;
    block *b = (block *)((unsigned char *)ptr - HEADER), **link = &free_list, **prev_link = NULL;
    while (*link && *link < b) {
        prev_link = link;
        link = &(*link)->next;
    }
    b->next = *link;
    *link = b;
    if (b->next && end_of(b) == (uintptr_t)b->next) { /* merge with the next free block */
        b->size += b->next->size;
        b->next = b->next->next;
    }
    if (prev_link && end_of(*prev_link) == (uintptr_t)b) { /* and with the previous one */
        (*prev_link)->size += b->size;
        (*prev_link)->next = b->next;
        b = *prev_link;
        link = prev_link;
    }
    if (end_of(b) == top) { /* the highest block (so the last of the list) goes back to the top */
        top = (uintptr_t)b;
        *link = NULL;
    }
}
