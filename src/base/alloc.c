/* The allocator hook: every allocation of the library goes through here, so
 * users can supply their own and tests can fail the k-th allocation. */
#include "base/base_internal.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(size_t n, void *ctx)
{
    DFR_UNUSED(ctx);
    return malloc(n);
}

static void *libc_realloc(void *p, size_t n, void *ctx)
{
    DFR_UNUSED(ctx);
    return realloc(p, n);
}

static void libc_free(void *p, void *ctx)
{
    DFR_UNUSED(ctx);
    free(p);
}

static dfr_allocator allocator = {sizeof(dfr_allocator), libc_malloc, libc_realloc, libc_free, NULL};
/* Set by the first allocation: from then on the allocator may not change. */
static atomic_bool allocator_used;

int dfr_set_allocator(const dfr_allocator *a)
{
    /* The three functions are required: `size` must cover them; ctx, beyond
     * it, defaults to NULL (the options rule of base/base_internal.h). */
    if (!DFR__OPT_HAS(a, dfr_allocator, free) || !a->malloc || !a->realloc || !a->free)
        return DFR_EINVAL;
    if (atomic_load(&allocator_used))
        return DFR_EINUSE;
    allocator.malloc = a->malloc;
    allocator.realloc = a->realloc;
    allocator.free = a->free;
    allocator.ctx = DFR__OPT(a, dfr_allocator, ctx, NULL);
    allocator.size = sizeof(dfr_allocator);
    return 0;
}

static inline void mark_used(void)
{
    if (DFR_UNLIKELY(!atomic_load_explicit(&allocator_used, memory_order_relaxed)))
        atomic_store(&allocator_used, true);
}

void *dfr__malloc(size_t n)
{
    mark_used();
    return allocator.malloc(n ? n : 1, allocator.ctx);
}

void *dfr__calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = dfr__malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *dfr__realloc(void *p, size_t n)
{
    mark_used();
    return allocator.realloc(p, n ? n : 1, allocator.ctx);
}

void dfr__free(void *p)
{
    if (p)
        allocator.free(p, allocator.ctx);
}

void dfr_free(void *p)
{
    free(p);
}
