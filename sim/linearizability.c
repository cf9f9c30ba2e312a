/*
 * linearizability.c: the per-key Wing & Gong / Lowe search; see
 * linearizability.h for the model and the verdicts.
 *
 * Per key: entries (a call, and a return for known outcomes) sorted by
 * (time, calls before returns, op) live in arrays next[]/prev[] forming a
 * doubly linked list with a head sentinel, so lifting an operation out and
 * putting it back are O(1).  States are interned byte strings (id 0: the key
 * is absent).  The memo is an open-addressing hash set of (bitset, state);
 * the bitset's hash is kept incrementally with per-op random words.
 * Invariants: the stack depth equals the popcount of the linearized bitset
 * (ASSERT at push/pop); every step either lifts an op, moves to the next
 * entry or pops one, so steps bound the work.
 */
#include "linearizability.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "sim_limits.h"
#include "world.h"

#define NIL UINT32_MAX

const char *lin_verdict_name(enum lin_verdict v)
{
    switch (v) {
    case LIN_LINEARIZABLE: return "LINEARIZABLE";
    case LIN_NOT_LINEARIZABLE: return "NOT_LINEARIZABLE";
    case LIN_INCONCLUSIVE: return "INCONCLUSIVE";
    }
    return "?";
}

/* ---- interned states ---- */

struct states {
    struct sim_bytes arena;  /* all values back to back */
    uint64_t *off;           /* id -> offset in arena */
    uint32_t *len;           /* id -> length */
    uint32_t count;          /* ids in use (id 0: absent) */
    uint32_t cap;
    uint32_t *slots;         /* hash table of id + 1 */
    uint32_t slot_cap;       /* power of two */
};

static const uint8_t *state_data(const struct states *st, uint32_t id)
{
    return st->arena.data + st->off[id];
}

static void states_init(struct states *st)
{
    memset(st, 0, sizeof(*st));
    st->cap = 64;
    st->off = sim_xcalloc(st->cap, sizeof(*st->off));
    st->len = sim_xcalloc(st->cap, sizeof(*st->len));
    st->count = 1; /* id 0: absent */
    st->slot_cap = 128;
    st->slots = sim_xcalloc(st->slot_cap, sizeof(*st->slots));
}

static void states_free(struct states *st)
{
    sim_bytes_free(&st->arena);
    cairn_free(st->off);
    cairn_free(st->len);
    cairn_free(st->slots);
}

static void states_rehash(struct states *st)
{
    cairn_free(st->slots);
    st->slot_cap *= 2;
    st->slots = sim_xcalloc(st->slot_cap, sizeof(*st->slots));
    for (uint32_t id = 1; id < st->count; id++) {
        uint64_t h = cairn_hash64(state_data(st, id), st->len[id], 7);
        uint32_t i = (uint32_t)h & (st->slot_cap - 1);
        while (st->slots[i] != 0)
            i = (i + 1) & (st->slot_cap - 1);
        st->slots[i] = id + 1;
    }
}

/* The id of the present-with-value state for data. */
static uint32_t state_intern(struct states *st, const void *data, size_t len)
{
    uint64_t h = cairn_hash64(data, len, 7);
    uint32_t i = (uint32_t)h & (st->slot_cap - 1);
    while (st->slots[i] != 0) {
        uint32_t id = st->slots[i] - 1;
        if (st->len[id] == len &&
            (len == 0 || memcmp(state_data(st, id), data, len) == 0))
            return id;
        i = (i + 1) & (st->slot_cap - 1);
    }
    if (st->count == st->cap) {
        st->cap *= 2;
        st->off = sim_xrealloc(st->off, st->cap * sizeof(*st->off));
        st->len = sim_xrealloc(st->len, st->cap * sizeof(*st->len));
    }
    uint32_t id = st->count++;
    st->off[id] = st->arena.len;
    st->len[id] = (uint32_t)len;
    sim_bytes_append(&st->arena, data, len);
    st->slots[i] = id + 1;
    if (st->count * 2 > st->slot_cap)
        states_rehash(st);
    return id;
}

/* ---- the Redis string model ---- */

static bool res_is(const struct lin_op *op, enum lin_result_kind k)
{
    return op->res == LIN_RES_UNKNOWN || op->res == k;
}

static bool res_int_is(const struct lin_op *op, int64_t v)
{
    return op->res == LIN_RES_UNKNOWN ||
           (op->res == LIN_RES_INT && op->res_int == v);
}

static bool res_value_is(const struct lin_op *op, const struct states *st,
                         uint32_t s)
{
    if (op->res == LIN_RES_UNKNOWN)
        return true;
    if (s == 0)
        return op->res == LIN_RES_NIL;
    return op->res == LIN_RES_BULK && op->res_len == st->len[s] &&
           (op->res_len == 0 ||
            memcmp(op->res_bytes, state_data(st, s), op->res_len) == 0);
}

static bool step_incr(struct states *st, const struct lin_op *op, uint32_t s,
                      uint32_t *next)
{
    int64_t v = 0;
    if (s != 0 && cairn_str_to_i64((const char *)state_data(st, s),
                                   st->len[s], &v) != 0) {
        *next = s; /* "value is not an integer or out of range" */
        return res_is(op, LIN_RES_ERR);
    }
    if (v == INT64_MAX) {
        *next = s; /* "increment or decrement would overflow" */
        return res_is(op, LIN_RES_ERR);
    }
    char text[24];
    size_t len = cairn_i64_to_str(v + 1, text);
    *next = state_intern(st, text, len);
    return res_int_is(op, v + 1);
}

static bool step_append(struct states *st, const struct lin_op *op,
                        uint32_t s, uint32_t *next)
{
    char buf[2 * LIN_VALUE_LEN_MAX];
    size_t cur = s != 0 ? st->len[s] : 0;
    ASSERT(cur + op->arg_len <= sizeof(buf));
    if (cur > 0)
        memcpy(buf, state_data(st, s), cur);
    if (op->arg_len > 0)
        memcpy(buf + cur, op->arg, op->arg_len);
    *next = state_intern(st, buf, cur + op->arg_len);
    return res_int_is(op, (int64_t)(cur + op->arg_len));
}

/* Applies op to state s: returns whether op's recorded result is what the
 * model answers, and the state after it in *next. */
static bool model_step(struct states *st, const struct lin_op *op, uint32_t s,
                       uint32_t *next)
{
    switch (op->kind) {
    case LIN_GET:
        *next = s;
        return res_value_is(op, st, s);
    case LIN_SET:
        *next = state_intern(st, op->arg, op->arg_len);
        return res_is(op, LIN_RES_OK);
    case LIN_DEL:
        *next = 0;
        return res_int_is(op, s != 0 ? 1 : 0);
    case LIN_INCR:
        return step_incr(st, op, s, next);
    case LIN_APPEND:
        return step_append(st, op, s, next);
    case LIN_SETNX:
        if (s != 0) {
            *next = s;
            return res_is(op, LIN_RES_NIL) || res_int_is(op, 0);
        }
        *next = state_intern(st, op->arg, op->arg_len);
        return res_is(op, LIN_RES_OK) || res_int_is(op, 1);
    case LIN_GETSET:
        *next = state_intern(st, op->arg, op->arg_len);
        return res_value_is(op, st, s);
    }
    UNREACHABLE();
}

/* ---- the memo: a set of (linearized bitset, state) ---- */

struct memo {
    uint32_t words;      /* bitset words per entry */
    uint64_t *bits;      /* entry i: bits[i * words ..] */
    uint32_t *state;
    uint64_t *hash;
    uint32_t count;
    uint32_t cap;
    uint32_t *slots;     /* entry index + 1 */
    uint32_t slot_cap;
};

static void memo_init(struct memo *m, uint32_t words)
{
    memset(m, 0, sizeof(*m));
    m->words = words;
    m->cap = 256;
    m->bits = sim_xmalloc((size_t)m->cap * words * sizeof(uint64_t));
    m->state = sim_xmalloc(m->cap * sizeof(uint32_t));
    m->hash = sim_xmalloc(m->cap * sizeof(uint64_t));
    m->slot_cap = 1024;
    m->slots = sim_xcalloc(m->slot_cap, sizeof(uint32_t));
}

static void memo_free(struct memo *m)
{
    cairn_free(m->bits);
    cairn_free(m->state);
    cairn_free(m->hash);
    cairn_free(m->slots);
}

static void memo_rehash(struct memo *m)
{
    cairn_free(m->slots);
    m->slot_cap *= 2;
    m->slots = sim_xcalloc(m->slot_cap, sizeof(uint32_t));
    for (uint32_t e = 0; e < m->count; e++) {
        uint32_t i = (uint32_t)m->hash[e] & (m->slot_cap - 1);
        while (m->slots[i] != 0)
            i = (i + 1) & (m->slot_cap - 1);
        m->slots[i] = e + 1;
    }
}

/*
 * Adds the configuration (bits, state) unless one already seen dominates it.
 * known[] masks the operations with known outcomes.  A configuration with
 * the same known operations linearized, the same state and a SUBSET of the
 * unknown operations used dominates: it has every option the new one has
 * (an unknown operation may always be left for later, or never).  Equality
 * is the special case Lowe's memo uses.  bits_hash covers the known part
 * only, so dominating entries share the probe sequence.  Returns false when
 * the configuration needs no exploring.  insert=false only checks: used for
 * configurations right after an unknown op, whose next step is restricted
 * (see needed_after), so they must not prune unrestricted ones.
 */
static bool memo_add(struct memo *m, const uint64_t *bits, const uint64_t *known,
                     uint64_t bits_hash, uint32_t state, bool insert)
{
    uint64_t h = bits_hash ^ (state * 0x9e3779b97f4a7c15ull);
    uint32_t i = (uint32_t)h & (m->slot_cap - 1);
    size_t wbytes = m->words * sizeof(uint64_t);
    while (m->slots[i] != 0) {
        uint32_t e = m->slots[i] - 1;
        if (m->hash[e] == h && m->state[e] == state) {
            const uint64_t *old = &m->bits[(size_t)e * m->words];
            bool dominated = true;
            for (uint32_t w = 0; w < m->words && dominated; w++)
                dominated = ((old[w] ^ bits[w]) & known[w]) == 0 &&
                            (old[w] & ~known[w] & ~bits[w]) == 0;
            if (dominated)
                return false;
        }
        i = (i + 1) & (m->slot_cap - 1);
    }
    if (!insert)
        return true;
    if (m->count == m->cap) {
        m->cap *= 2;
        m->bits = sim_xrealloc(m->bits, (size_t)m->cap * wbytes);
        m->state = sim_xrealloc(m->state, m->cap * sizeof(uint32_t));
        m->hash = sim_xrealloc(m->hash, m->cap * sizeof(uint64_t));
    }
    uint32_t e = m->count++;
    memcpy(&m->bits[(size_t)e * m->words], bits, wbytes);
    m->state[e] = state;
    m->hash[e] = h;
    m->slots[i] = e + 1;
    if (m->count * 2 > m->slot_cap)
        memo_rehash(m);
    return true;
}

/* ---- one key's search ---- */

struct entry {
    uint64_t time;
    uint32_t op;    /* local op index */
    uint32_t match; /* the return entry of a call, NIL if unknown */
    bool is_call;
};

struct frame {
    uint32_t entry;
    uint32_t state;
    uint8_t phase;
};

struct search {
    const struct lin_op *ops;
    const uint32_t *gidx; /* local -> global op index */
    uint32_t m;
    struct entry *ent;
    uint32_t ne;
    uint32_t *next;
    uint32_t *prev;
    uint64_t *bits;
    uint64_t *zobrist;   /* 0 for unknown ops: the hash covers known ops */
    uint64_t *known;     /* bitset of the ops with known outcomes */
    uint32_t *prev_same; /* unknown op -> earlier identical unknown op */
    struct frame *stack;
    struct states st;
    struct memo memo;
    /* the deepest dead end, for the explanation */
    uint32_t best_depth;
    uint32_t best_op;
    uint32_t best_state;
    bool stuck;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->is_call != y->is_call)
        return x->is_call ? -1 : 1; /* touching intervals overlap */
    if (x->op != y->op)
        return x->op < y->op ? -1 : 1;
    return 0;
}

static bool same_effect(const struct lin_op *a, const struct lin_op *b)
{
    return a->kind == b->kind && a->arg_len == b->arg_len &&
           (a->arg_len == 0 || memcmp(a->arg, b->arg, a->arg_len) == 0);
}

/*
 * Symmetry breaking: unknown operations with the same effect (two unknown
 * INCRs, two unknown DELs) are interchangeable, so only linearizations that
 * place them in call order are explored.  Complete: given any
 * linearization, swapping two such operations keeps every result (theirs
 * are unknown) and every real-time constraint (the earlier-called one can
 * go wherever the later-called one went).  prev_same[i] is the op that must
 * be linearized before unknown op i, or NIL.  Quadratic in the unknown ops
 * of one key, which are few.
 */
static void link_identical_unknowns(struct search *s)
{
    s->prev_same = sim_xmalloc((s->m + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < s->m; i++) {
        const struct lin_op *op = &s->ops[s->gidx[i]];
        s->prev_same[i] = NIL;
        if (op->res != LIN_RES_UNKNOWN)
            continue;
        uint64_t best_call = 0;
        for (uint32_t j = 0; j < s->m; j++) {
            const struct lin_op *o = &s->ops[s->gidx[j]];
            if (j == i || o->res != LIN_RES_UNKNOWN || !same_effect(op, o))
                continue;
            /* earlier call, ties by index: a total order */
            bool before = o->call_us < op->call_us ||
                          (o->call_us == op->call_us && j < i);
            if (before && (s->prev_same[i] == NIL || o->call_us > best_call ||
                           (o->call_us == best_call && j > s->prev_same[i]))) {
                s->prev_same[i] = j;
                best_call = o->call_us;
            }
        }
    }
}

static bool bit_test(const struct search *s, uint32_t op)
{
    return (s->bits[op / 64] >> (op % 64)) & 1;
}

static void search_build(struct search *s)
{
    s->ent = sim_xcalloc(2 * (size_t)s->m + 1, sizeof(*s->ent));
    s->ne = 0;
    for (uint32_t i = 0; i < s->m; i++) {
        const struct lin_op *op = &s->ops[s->gidx[i]];
        s->ent[s->ne++] = (struct entry){.time = op->call_us, .op = i,
                                         .match = NIL, .is_call = true};
        if (op->res != LIN_RES_UNKNOWN)
            s->ent[s->ne++] = (struct entry){.time = op->return_us, .op = i,
                                             .match = NIL, .is_call = false};
    }
    qsort(s->ent, s->ne, sizeof(*s->ent), entry_cmp);
    uint32_t *call_of = sim_xmalloc(s->m * sizeof(uint32_t));
    for (uint32_t e = 0; e < s->ne; e++) {
        if (s->ent[e].is_call)
            call_of[s->ent[e].op] = e;
        else
            s->ent[call_of[s->ent[e].op]].match = e;
    }
    cairn_free(call_of);
    uint32_t head = s->ne;
    s->next = sim_xmalloc((s->ne + 1) * sizeof(uint32_t));
    s->prev = sim_xmalloc((s->ne + 1) * sizeof(uint32_t));
    for (uint32_t e = 0; e <= s->ne; e++) {
        s->next[e] = e + 1 < s->ne ? e + 1 : NIL;
        s->prev[e] = e == 0 ? head : e - 1;
    }
    s->next[head] = s->ne > 0 ? 0 : NIL;
    uint32_t words = (s->m + 63) / 64;
    s->bits = sim_xcalloc(words, sizeof(uint64_t));
    s->zobrist = sim_xmalloc(s->m * sizeof(uint64_t));
    struct cairn_rng rng;
    cairn_rng_seed(&rng, 0x6c696e65ull + s->m);
    s->known = sim_xcalloc(words, sizeof(uint64_t));
    for (uint32_t i = 0; i < s->m; i++) {
        uint64_t z = cairn_rng_next(&rng);
        if (s->ops[s->gidx[i]].res != LIN_RES_UNKNOWN) {
            s->known[i / 64] |= 1ull << (i % 64);
            s->zobrist[i] = z;
        } else {
            s->zobrist[i] = 0;
        }
    }
    s->stack = sim_xmalloc((s->m + 1) * sizeof(*s->stack));
    link_identical_unknowns(s);
    states_init(&s->st);
    memo_init(&s->memo, words);
}

static void search_free(struct search *s)
{
    cairn_free(s->ent);
    cairn_free(s->next);
    cairn_free(s->prev);
    cairn_free(s->bits);
    cairn_free(s->zobrist);
    cairn_free(s->known);
    cairn_free(s->stack);
    cairn_free(s->prev_same);
    states_free(&s->st);
    memo_free(&s->memo);
}

static void list_remove(struct search *s, uint32_t x)
{
    s->next[s->prev[x]] = s->next[x];
    if (s->next[x] != NIL)
        s->prev[s->next[x]] = s->prev[x];
}

static void list_restore(struct search *s, uint32_t x)
{
    s->next[s->prev[x]] = x;
    if (s->next[x] != NIL)
        s->prev[s->next[x]] = x;
}

static void lift(struct search *s, uint32_t e)
{
    list_remove(s, e);
    if (s->ent[e].match != NIL)
        list_remove(s, s->ent[e].match);
}

static void unlift(struct search *s, uint32_t e)
{
    if (s->ent[e].match != NIL)
        list_restore(s, s->ent[e].match);
    list_restore(s, e);
}

static void bit_flip(struct search *s, uint32_t op, uint64_t *hash)
{
    s->bits[op / 64] ^= 1ull << (op % 64);
    *hash ^= s->zobrist[op];
}

/* Links the op at e into the linearization (push), or undoes the last one
 * (pop); the bitset, its hash and the list move together. */
static void push(struct search *s, uint32_t e, uint32_t state, uint8_t phase,
                 uint32_t *depth)
{
    s->stack[(*depth)++] = (struct frame){e, state, phase};
    ASSERT(*depth <= s->m);
    lift(s, e);
}

/*
 * Canonical placement of unknown operations.  Any linearization can be
 * rewritten so that an unknown op u (placed in state S, giving S_u) is
 * immediately followed by an op y that needs it: rewriting moves u later
 * or drops it, and stops because unknown ops only move later or vanish:
 *   - if y is valid in S and ends in the same state with or without u
 *     before it, u is invisible there: drop u (its outcome is unknown, so
 *     "never" is allowed);
 *   - if y is known, valid in S, and u and y commute, swap them (an
 *     unknown op has no return, so moving it later breaks no real-time
 *     order, and moving known y earlier past an op with no return neither).
 * So the search only lets y follow an unknown u when neither applies.
 * This prunes chains of blind overwrites nobody read, the source of the
 * exponential blow-up of histories with many timed-out writes.  ns is y's
 * result state from S_u.
 */
static bool needed_after(struct search *s, const struct frame *uf,
                         const struct lin_op *y, bool y_known, uint32_t ns)
{
    uint32_t sy, su;
    if (!model_step(&s->st, y, uf->state, &sy))
        return true; /* y's result needs u */
    if (sy == ns)
        return false; /* u changes nothing y or anyone after sees */
    if (!y_known)
        return true;
    const struct lin_op *u = &s->ops[s->gidx[s->ent[uf->entry].op]];
    bool ok = model_step(&s->st, u, sy, &su);
    ASSERT(ok); /* unknown outcomes always fit */
    return su != ns; /* they commute: y could go first */
}

/* Runs the search; returns the verdict and adds the steps used.
 *
 * Candidates at each level are the calls before the first return left in
 * the list.  They are tried in two phases: known operations first, then
 * operations of unknown outcome.  Both phases together try every candidate
 * once, so the search stays complete; but an unknown operation is only
 * placed when nothing known fits, which keeps "it never happened (yet)" the
 * cheap default and avoids exploring subsets of unknown writes that nobody
 * observed. */
static enum lin_verdict search_run(struct search *s, uint64_t budget,
                                   uint64_t *steps)
{
    uint32_t head = s->ne, cur = s->next[head], state = 0, depth = 0;
    uint64_t hash = 0, n = 0;
    uint8_t phase = 0;
    for (;;) {
        if (cur == NIL) {
            ASSERT(phase == 0); /* phase 1 always stops at a return */
            break; /* only unknown calls remain: they go last, or never */
        }
        if (n++ >= budget) {
            *steps += n;
            return LIN_INCONCLUSIVE;
        }
        const struct entry *e = &s->ent[cur];
        if (e->is_call) {
            bool unknown = e->match == NIL;
            uint32_t ns;
            const struct lin_op *op = &s->ops[s->gidx[e->op]];
            if (unknown == (phase == 1) &&
                (!unknown || s->prev_same[e->op] == NIL ||
                 bit_test(s, s->prev_same[e->op])) &&
                model_step(&s->st, op, state, &ns) &&
                (depth == 0 || s->ent[s->stack[depth - 1].entry].match != NIL ||
                 needed_after(s, &s->stack[depth - 1], op, !unknown, ns))) {
                bit_flip(s, e->op, &hash);
                if (memo_add(&s->memo, s->bits, s->known, hash, ns, !unknown)) {
                    push(s, cur, state, phase, &depth);
                    state = ns;
                    phase = 0;
                    cur = s->next[head];
                    continue;
                }
                bit_flip(s, e->op, &hash);
            }
            cur = s->next[cur];
            continue;
        }
        if (phase == 0) {
            phase = 1; /* no known candidate fits: try the unknown ones */
            cur = s->next[head];
            continue;
        }
        /* A return whose call cannot be linearized: this branch is dead. */
        if (!s->stuck || depth > s->best_depth) {
            s->stuck = true;
            s->best_depth = depth;
            s->best_op = e->op;
            s->best_state = state;
        }
        if (depth == 0) {
            *steps += n;
            return LIN_NOT_LINEARIZABLE;
        }
        struct frame f = s->stack[--depth];
        bit_flip(s, s->ent[f.entry].op, &hash);
        state = f.state;
        phase = f.phase;
        unlift(s, f.entry);
        cur = s->next[f.entry];
    }
    *steps += n;
    return LIN_LINEARIZABLE;
}

/* ---- reporting ---- */

static void printable(const void *data, size_t len, char *out, size_t out_len)
{
    const unsigned char *p = data;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < out_len; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", p[i]);
    }
    out[o < out_len ? o : out_len - 1] = '\0';
}

static const char *kind_name(enum lin_op_kind k)
{
    static const char *const names[] = {"GET", "SET", "DEL", "INCR",
                                        "APPEND", "SET NX", "GETSET"};
    return (unsigned)k < ARRAY_LEN(names) ? names[k] : "?";
}

static void describe_result(const struct lin_op *op, char *out, size_t len)
{
    char v[64];
    switch (op->res) {
    case LIN_RES_UNKNOWN: snprintf(out, len, "(unknown)"); break;
    case LIN_RES_OK: snprintf(out, len, "OK"); break;
    case LIN_RES_NIL: snprintf(out, len, "nil"); break;
    case LIN_RES_ERR: snprintf(out, len, "error"); break;
    case LIN_RES_INT:
        snprintf(out, len, "(integer) %lld", (long long)op->res_int);
        break;
    case LIN_RES_BULK:
        printable(op->res_bytes, op->res_len, v, sizeof(v));
        snprintf(out, len, "\"%s\"", v);
        break;
    }
}

static void explain(struct search *s, struct lin_report *out)
{
    size_t g = s->gidx[s->best_op];
    const struct lin_op *op = &s->ops[g];
    char arg[64] = "", res[80], val[64] = "nil";
    if (op->arg != NULL) {
        arg[0] = ' ';
        arg[1] = '"';
        printable(op->arg, op->arg_len, arg + 2, sizeof(arg) - 4);
        strcat(arg, "\"");
    }
    describe_result(op, res, sizeof(res));
    if (s->best_state != 0) {
        char v[56];
        printable(state_data(&s->st, s->best_state), s->st.len[s->best_state],
                  v, sizeof(v));
        snprintf(val, sizeof(val), "\"%s\"", v);
    }
    out->op_index = g;
    snprintf(out->explain, sizeof(out->explain),
             "key \"%s\": no order of its %u operations explains every result. "
             "The longest explainable prefix linearizes %u of them; after it "
             "op #%zu (client %u: %s%s -> %s, called at %llu us, returned at "
             "%llu us) returns before any order can place it (value at that "
             "point: %s).",
             out->key, s->m, s->best_depth, g, op->client, kind_name(op->kind),
             arg, res, (unsigned long long)op->call_us,
             (unsigned long long)op->return_us, val);
}

/* ---- the driver ---- */

static bool result_fits(const struct lin_op *op)
{
    enum lin_result_kind r = op->res;
    if (r == LIN_RES_UNKNOWN)
        return true;
    switch (op->kind) {
    case LIN_GET:
    case LIN_GETSET: return r == LIN_RES_NIL || r == LIN_RES_BULK;
    case LIN_SET: return r == LIN_RES_OK;
    case LIN_DEL:
    case LIN_APPEND: return r == LIN_RES_INT;
    case LIN_INCR: return r == LIN_RES_INT || r == LIN_RES_ERR;
    case LIN_SETNX:
        return r == LIN_RES_OK || r == LIN_RES_NIL || r == LIN_RES_INT;
    }
    return false;
}

static int validate(const struct lin_op *ops, size_t n)
{
    if (n > LIN_OPS_MAX)
        return CAIRN_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        const struct lin_op *op = &ops[i];
        if ((unsigned)op->kind > LIN_GETSET || !result_fits(op))
            return CAIRN_EINVAL;
        if (op->res != LIN_RES_UNKNOWN && op->return_us < op->call_us)
            return CAIRN_EINVAL;
        if (op->key_len > LIN_VALUE_LEN_MAX || op->arg_len > LIN_VALUE_LEN_MAX)
            return CAIRN_ETOOBIG;
        bool needs_arg = op->kind == LIN_SET || op->kind == LIN_APPEND ||
                         op->kind == LIN_SETNX || op->kind == LIN_GETSET;
        if (needs_arg && op->arg == NULL && op->arg_len > 0)
            return CAIRN_EINVAL;
        if (op->res == LIN_RES_BULK && op->res_bytes == NULL && op->res_len > 0)
            return CAIRN_EINVAL;
    }
    return 0;
}

static const struct lin_op *sort_ops;

static int key_cmp(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const struct lin_op *x = &sort_ops[i], *y = &sort_ops[j];
    size_t len = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = len > 0 ? memcmp(x->key, y->key, len) : 0;
    if (c != 0)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return i < j ? -1 : (i > j ? 1 : 0);
}

static bool same_key(const struct lin_op *x, const struct lin_op *y)
{
    return x->key_len == y->key_len &&
           (x->key_len == 0 || memcmp(x->key, y->key, x->key_len) == 0);
}

/* Values of one key stay within LIN_VALUE_LEN_MAX whatever the order. */
static bool key_values_bounded(const struct lin_op *ops, const uint32_t *idx,
                               uint32_t m)
{
    size_t longest = 20, appended = 0; /* 20: any INCR result */
    for (uint32_t i = 0; i < m; i++) {
        const struct lin_op *op = &ops[idx[i]];
        if (op->kind == LIN_APPEND)
            appended += op->arg_len;
        else if (op->arg_len > longest)
            longest = op->arg_len;
    }
    return longest + appended <= LIN_VALUE_LEN_MAX;
}

/* Checks one key's ops (global indices idx[0..m)); fills out on a verdict
 * other than LINEARIZABLE. */
static enum lin_verdict check_key(const struct lin_op *ops,
                                  const uint32_t *idx, uint32_t m,
                                  uint64_t budget, struct lin_report *out)
{
    struct search s;
    memset(&s, 0, sizeof(s));
    s.ops = ops;
    s.gidx = idx;
    s.m = m;
    search_build(&s);
    enum lin_verdict v = search_run(&s, budget, &out->steps);
    if (v != LIN_LINEARIZABLE)
        printable(ops[idx[0]].key, ops[idx[0]].key_len, out->key,
                  sizeof(out->key));
    if (v == LIN_NOT_LINEARIZABLE)
        explain(&s, out);
    search_free(&s);
    return v;
}

int lin_check(const struct lin_op *ops, size_t n, uint64_t step_budget,
              struct lin_report *out)
{
    memset(out, 0, sizeof(*out));
    ASSERT(step_budget <= LIN_STEP_BUDGET_MAX);
    int rc = validate(ops, n);
    if (rc != 0)
        return rc;
    /* Group by key; unknown GETs constrain nothing and are dropped. */
    uint32_t *idx = sim_xmalloc((n + 1) * sizeof(uint32_t));
    uint32_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!(ops[i].kind == LIN_GET && ops[i].res == LIN_RES_UNKNOWN))
            idx[kept++] = (uint32_t)i;
    sort_ops = ops;
    qsort(idx, kept, sizeof(uint32_t), key_cmp);
    sort_ops = NULL;
    out->verdict = LIN_LINEARIZABLE;
    char first_inconclusive[64] = "";
    for (uint32_t start = 0; start < kept;) {
        uint32_t end = start + 1;
        while (end < kept && same_key(&ops[idx[start]], &ops[idx[end]]))
            end++;
        if (!key_values_bounded(ops, idx + start, end - start)) {
            cairn_free(idx);
            return CAIRN_ETOOBIG;
        }
        out->keys_checked++;
        enum lin_verdict v =
            check_key(ops, idx + start, end - start, step_budget, out);
        if (v == LIN_NOT_LINEARIZABLE) {
            out->verdict = v;
            break;
        }
        if (v == LIN_INCONCLUSIVE) {
            if (out->keys_inconclusive++ == 0)
                memcpy(first_inconclusive, out->key, sizeof(out->key));
            out->verdict = LIN_INCONCLUSIVE;
        }
        start = end;
    }
    cairn_free(idx);
    if (out->verdict == LIN_INCONCLUSIVE) {
        memcpy(out->key, first_inconclusive, sizeof(out->key));
        snprintf(out->explain, sizeof(out->explain),
                 "%zu key(s) ran out of the search budget (first: \"%s\"); "
                 "no violation found, but nothing is proven for them.",
                 out->keys_inconclusive, out->key);
    }
    return 0;
}
