/*
 * log.c: the in-memory Raft log with a compaction offset.
 *
 * Entries live in one contiguous array; entries[i] has index offset+1+i, so
 * lookup is O(1) and a run of entries can be handed out as one pointer.
 * Each entry owns a private copy of its data.  Entries at or below offset
 * are covered by a snapshot (or were compacted away); only the term of the
 * entry at offset is remembered, for the AppendEntries consistency check.
 *
 * Invariants (raft_log_check): indexes are contiguous from offset+1; terms
 * never decrease along the log and are >= offset_term; len == 0 iff data is
 * NULL.  Tuned for appends at the end, rare truncation and compaction that
 * drops a prefix (one memmove per snapshot).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "raft/raft_int.h"

void raft_log_init(struct raft_log *log, uint64_t offset, uint64_t offset_term)
{
    memset(log, 0, sizeof(*log));
    log->offset = offset;
    log->offset_term = offset_term;
}

static void entry_free(struct raft_entry *e)
{
    cairn_free((void *)e->data);
    e->data = NULL;
}

void raft_log_free(struct raft_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        entry_free(&log->entries[i]);
    cairn_free(log->entries);
    log->entries = NULL;
    log->n = 0;
    log->cap = 0;
}

uint64_t raft_log_last_index(const struct raft_log *log)
{
    return log->offset + log->n;
}

uint64_t raft_log_last_term(const struct raft_log *log)
{
    return log->n > 0 ? log->entries[log->n - 1].term : log->offset_term;
}

uint64_t raft_log_term(const struct raft_log *log, uint64_t index)
{
    if (index == log->offset)
        return log->offset_term;
    if (index < log->offset || index > raft_log_last_index(log))
        return 0;
    return log->entries[index - log->offset - 1].term;
}

const struct raft_entry *raft_log_get(const struct raft_log *log,
                                      uint64_t index)
{
    if (index <= log->offset || index > raft_log_last_index(log))
        return NULL;
    return &log->entries[index - log->offset - 1];
}

static int copy_data(const struct raft_entry *e, void **out)
{
    *out = NULL;
    if (e->len == 0)
        return 0;
    ASSERT(e->data != NULL);
    *out = cairn_malloc(e->len);
    if (*out == NULL)
        return CAIRN_ENOMEM;
    memcpy(*out, e->data, e->len);
    return 0;
}

int raft_log_append(struct raft_log *log, const struct raft_entry *e)
{
    ASSERT(e->index == raft_log_last_index(log) + 1);
    ASSERT(e->term >= raft_log_last_term(log));
    if (log->n == log->cap) {
        size_t cap = log->cap == 0 ? 64 : log->cap * 2;
        struct raft_entry *p =
            cairn_realloc(log->entries, cap * sizeof(*log->entries));
        if (p == NULL)
            return CAIRN_ENOMEM;
        log->entries = p;
        log->cap = cap;
    }
    void *data;
    if (copy_data(e, &data) != 0)
        return CAIRN_ENOMEM;
    struct raft_entry *dst = &log->entries[log->n++];
    *dst = *e;
    dst->data = data;
    return 0;
}

int raft_log_replace(struct raft_log *log, const struct raft_entry *e)
{
    ASSERT(e->index > log->offset);
    ASSERT(e->index <= raft_log_last_index(log));
    void *data;
    if (copy_data(e, &data) != 0)
        return CAIRN_ENOMEM;
    struct raft_entry *dst = &log->entries[e->index - log->offset - 1];
    entry_free(dst);
    *dst = *e;
    dst->data = data;
    return 0;
}

void raft_log_truncate(struct raft_log *log, uint64_t from)
{
    ASSERT(from > log->offset);
    uint64_t last = raft_log_last_index(log);
    if (from > last)
        return;
    size_t keep = (size_t)(from - log->offset - 1);
    for (size_t i = keep; i < log->n; i++)
        entry_free(&log->entries[i]);
    log->n = keep;
}

void raft_log_compact(struct raft_log *log, uint64_t upto)
{
    ASSERT(upto > log->offset);
    ASSERT(upto <= raft_log_last_index(log));
    size_t drop = (size_t)(upto - log->offset);
    uint64_t term = raft_log_term(log, upto);
    for (size_t i = 0; i < drop; i++)
        entry_free(&log->entries[i]);
    memmove(log->entries, log->entries + drop,
            (log->n - drop) * sizeof(*log->entries));
    log->n -= drop;
    log->offset = upto;
    log->offset_term = term;
}

void raft_log_reset(struct raft_log *log, uint64_t index, uint64_t term)
{
    for (size_t i = 0; i < log->n; i++)
        entry_free(&log->entries[i]);
    log->n = 0;
    log->offset = index;
    log->offset_term = term;
}

uint64_t raft_log_bytes(const struct raft_log *log, uint64_t from,
                        uint64_t to)
{
    uint64_t sum = 0;
    for (uint64_t i = from; i <= to; i++) {
        const struct raft_entry *e = raft_log_get(log, i);
        if (e != NULL)
            sum += e->len;
    }
    return sum;
}

bool raft_log_check(const struct raft_log *log)
{
    uint64_t prev_term = log->offset_term;
    if (log->n > log->cap)
        return false;
    for (size_t i = 0; i < log->n; i++) {
        const struct raft_entry *e = &log->entries[i];
        if (e->index != log->offset + 1 + i)
            return false;
        if (e->term < prev_term)
            return false;
        if ((e->len == 0) != (e->data == NULL))
            return false;
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
            return false;
        prev_term = e->term;
    }
    return true;
}
