/*
 * alloc.c: thin wrapper over the C library allocator with a fault hook and
 * live counters.  Counters use malloc_usable_size so that accounting matches
 * what the allocator really holds.
 */
#include "core/alloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cairn_alloc_fail_fn fail_hook;
static void *fail_ctx;
static struct cairn_alloc_stats stats;

static bool should_fail(size_t size)
{
    if (fail_hook != NULL && fail_hook(fail_ctx, size)) {
        stats.fails_injected++;
        stats.fails++;
        return true;
    }
    return false;
}

void *cairn_malloc(size_t size)
{
    if (should_fail(size))
        return NULL;
    void *p = malloc(size == 0 ? 1 : size);
    if (p != NULL) {
        stats.allocs_live++;
        stats.bytes_live += malloc_usable_size(p);
    } else {
        stats.fails++;
    }
    return p;
}

void *cairn_calloc(size_t count, size_t size)
{
    if (should_fail(count * size))
        return NULL;
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (p != NULL) {
        stats.allocs_live++;
        stats.bytes_live += malloc_usable_size(p);
    } else {
        stats.fails++;
    }
    return p;
}

void *cairn_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return cairn_malloc(size);
    if (should_fail(size))
        return NULL;
    size_t old = malloc_usable_size(ptr);
    void *p = realloc(ptr, size == 0 ? 1 : size);
    if (p != NULL) {
        stats.bytes_live -= old;
        stats.bytes_live += malloc_usable_size(p);
    } else {
        stats.fails++;
    }
    return p;
}

void cairn_free(void *ptr)
{
    if (ptr == NULL)
        return;
    stats.allocs_live--;
    stats.bytes_live -= malloc_usable_size(ptr);
    free(ptr);
}

char *cairn_strndup(const char *s, size_t len)
{
    char *p = cairn_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *cairn_xmalloc(size_t size)
{
    void *p = cairn_malloc(size);
    if (p == NULL) {
        fprintf(stderr, "cairn: out of memory allocating %zu bytes\n", size);
        abort();
    }
    return p;
}

void *cairn_xcalloc(size_t count, size_t size)
{
    void *p = cairn_calloc(count, size);
    if (p == NULL) {
        fprintf(stderr, "cairn: out of memory allocating %zu bytes\n",
                count * size);
        abort();
    }
    return p;
}

size_t cairn_alloc_usable_size(const void *ptr)
{
    return ptr == NULL ? 0 : malloc_usable_size((void *)ptr);
}

void cairn_alloc_set_fail_hook(cairn_alloc_fail_fn hook, void *ctx)
{
    fail_hook = hook;
    fail_ctx = ctx;
}

void cairn_alloc_stats_get(struct cairn_alloc_stats *out)
{
    *out = stats;
}

uint64_t cairn_alloc_fails(void)
{
    return stats.fails;
}
