/*
 * history.c: the client history recorder; see history.h.
 *
 * Operations live in an array of records whose byte fields are offsets
 * into one arena, so growing the arena never invalidates a record.
 * Invariant: a record's state moves pending -> returned or pending ->
 * forgotten, once (ASSERTed in return and forget).
 */
#include "history.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"
#include "sim_limits.h"
#include "world.h"

enum rec_state { REC_PENDING, REC_RETURNED, REC_FORGOTTEN };

struct rec {
    uint8_t kind;
    uint8_t state;
    uint8_t res;
    uint32_t client;
    uint64_t call_us;
    uint64_t return_us;
    int64_t res_int;
    size_t key_off, key_len;
    size_t arg_off, arg_len;
    size_t res_off, res_len;
};

struct sim_history {
    struct rec *recs;
    size_t len;
    size_t cap;
    size_t max;
    size_t pending;
    struct sim_bytes arena;
};

struct sim_history *sim_history_new(size_t ops_max)
{
    ASSERT(ops_max > 0 && ops_max <= LIN_OPS_MAX);
    struct sim_history *h = sim_xcalloc(1, sizeof(*h));
    h->max = ops_max;
    return h;
}

void sim_history_free(struct sim_history *h)
{
    if (h == NULL)
        return;
    cairn_free(h->recs);
    sim_bytes_free(&h->arena);
    cairn_free(h);
}

static size_t stash(struct sim_history *h, const void *data, size_t len)
{
    size_t off = h->arena.len;
    sim_bytes_append(&h->arena, data, len);
    return off;
}

int sim_history_call(struct sim_history *h, uint32_t client,
                     enum lin_op_kind kind, const void *key, size_t key_len,
                     const void *arg, size_t arg_len, uint64_t now_us,
                     size_t *id)
{
    if (h->len == h->max)
        return CAIRN_EFULL;
    if (key_len > LIN_VALUE_LEN_MAX || arg_len > LIN_VALUE_LEN_MAX)
        return CAIRN_ETOOBIG;
    if (h->len == h->cap) {
        h->cap = h->cap == 0 ? 256 : h->cap * 2;
        h->recs = sim_xrealloc(h->recs, h->cap * sizeof(*h->recs));
    }
    struct rec *r = &h->recs[h->len];
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->state = REC_PENDING;
    r->res = LIN_RES_UNKNOWN;
    r->client = client;
    r->call_us = now_us;
    r->key_off = stash(h, key, key_len);
    r->key_len = key_len;
    r->arg_off = stash(h, arg, arg_len);
    r->arg_len = arg_len;
    *id = h->len++;
    h->pending++;
    return 0;
}

static struct rec *pending_rec(struct sim_history *h, size_t id)
{
    ASSERT(id < h->len);
    struct rec *r = &h->recs[id];
    ASSERT(r->state == REC_PENDING);
    ASSERT(h->pending > 0);
    h->pending--;
    return r;
}

void sim_history_return(struct sim_history *h, size_t id, uint64_t now_us,
                        enum lin_result_kind res, int64_t i,
                        const void *bytes, size_t len)
{
    struct rec *r = pending_rec(h, id);
    ASSERT(res != LIN_RES_UNKNOWN);
    ASSERT(now_us >= r->call_us);
    r->state = REC_RETURNED;
    r->return_us = now_us;
    r->res = (uint8_t)res;
    r->res_int = i;
    if (res == LIN_RES_BULK) {
        r->res_off = stash(h, bytes, len);
        r->res_len = len;
    }
}

void sim_history_forget(struct sim_history *h, size_t id)
{
    pending_rec(h, id)->state = REC_FORGOTTEN;
}

size_t sim_history_len(const struct sim_history *h) { return h->len; }
size_t sim_history_pending(const struct sim_history *h) { return h->pending; }

bool sim_history_get(const struct sim_history *h, size_t id,
                     struct lin_op *out)
{
    ASSERT(id < h->len);
    const struct rec *r = &h->recs[id];
    if (r->state == REC_FORGOTTEN)
        return false;
    /* An empty arena has no buffer; offsets are then all 0. */
    const uint8_t *base =
        h->arena.data != NULL ? h->arena.data : (const uint8_t *)"";
    memset(out, 0, sizeof(*out));
    out->kind = (enum lin_op_kind)r->kind;
    out->key = base + r->key_off;
    out->key_len = r->key_len;
    out->arg = r->arg_len > 0 ? base + r->arg_off : NULL;
    out->arg_len = r->arg_len;
    if (r->kind == LIN_SET || r->kind == LIN_APPEND || r->kind == LIN_SETNX ||
        r->kind == LIN_GETSET)
        out->arg = base + r->arg_off; /* an empty value is still a value */
    out->call_us = r->call_us;
    out->return_us = r->return_us;
    out->res = (enum lin_result_kind)r->res;
    out->res_int = r->res_int;
    out->res_bytes = r->res_len > 0 ? (const void *)(base + r->res_off) : "";
    out->res_len = r->res_len;
    out->client = r->client;
    return true;
}

int sim_history_check(const struct sim_history *h, uint64_t step_budget,
                      struct lin_report *out)
{
    struct lin_op *ops = sim_xcalloc(h->len + 1, sizeof(*ops));
    size_t *ids = sim_xcalloc(h->len + 1, sizeof(*ids));
    size_t n = 0;
    for (size_t id = 0; id < h->len; id++) {
        if (sim_history_get(h, id, &ops[n]))
            ids[n++] = id;
    }
    int rc = lin_check(ops, n, step_budget, out);
    if (rc == 0 && out->verdict == LIN_NOT_LINEARIZABLE) {
        size_t local = out->op_index;
        out->op_index = ids[local];
        /* The explanation names the op by its place in the array given to
         * the checker; say which history id that is. */
        size_t used = strlen(out->explain);
        if (used + 40 < sizeof(out->explain))
            snprintf(out->explain + used, sizeof(out->explain) - used,
                     " (history op id %zu)", ids[local]);
    }
    cairn_free(ops);
    cairn_free(ids);
    return rc;
}
