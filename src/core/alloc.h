/*
 * alloc.h: the one allocator interface of cairn.
 *
 * Every allocation in src/ goes through these functions so that tests, the
 * fuzzers and the simulator can make allocation fail on purpose, and so that
 * memory can be accounted.  They return NULL on failure like malloc(3); code
 * that handles input must check and return CAIRN_ENOMEM.  cairn_xmalloc and
 * friends are for start-up paths only (they crash on failure).
 *
 * A fault hook may be installed process-wide.  It is consulted on every
 * allocation; returning true makes that allocation fail.  The hook is for
 * tests and the simulator; production never installs one.
 */
#ifndef CAIRN_CORE_ALLOC_H
#define CAIRN_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *cairn_malloc(size_t size);
void *cairn_calloc(size_t count, size_t size);
void *cairn_realloc(void *ptr, size_t size);
void cairn_free(void *ptr);
char *cairn_strndup(const char *s, size_t len);

/* Start-up helpers that crash with a message instead of returning NULL. */
void *cairn_xmalloc(size_t size);
void *cairn_xcalloc(size_t count, size_t size);

/* Bytes the allocator really reserved for ptr (>= the size asked for). Used
 * by memory accounting (maxmemory). Returns 0 for NULL. */
size_t cairn_alloc_usable_size(const void *ptr);

/* Fault injection: hook(ctx, size) returning true fails that allocation.
 * Pass NULL to remove.  Not thread-safe; cairn is single-threaded. */
typedef bool (*cairn_alloc_fail_fn)(void *ctx, size_t size);
void cairn_alloc_set_fail_hook(cairn_alloc_fail_fn hook, void *ctx);

/* Counters for tests and INFO: live allocations and bytes handed out. */
struct cairn_alloc_stats {
    size_t allocs_live;
    size_t bytes_live;
    size_t fails_injected;
    uint64_t fails; /* every allocation that returned NULL, injected or not */
};
void cairn_alloc_stats_get(struct cairn_alloc_stats *out);

/* stats.fails alone, for code that must know whether anything it called
 * failed an allocation (the replicated apply path: node/cluster_write.c). */
uint64_t cairn_alloc_fails(void);

#endif
