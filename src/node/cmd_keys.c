/*
 * cmd_keys.c: the generic key commands (DEL, UNLINK, EXISTS, TYPE, KEYS,
 * SCAN, RANDOMKEY, RENAME, RENAMENX, COPY, the EXPIRE and TTL families,
 * PERSIST, TOUCH, OBJECT, MEMORY USAGE) and the database commands (DBSIZE,
 * FLUSHDB, FLUSHALL, SWAPDB).
 *
 * Semantics, replies and error texts follow Redis 7.0, including argument
 * validation order.  Write commands depend only on (cache state, argv,
 * c->now_ms); an expire time at or before now deletes the key at once.
 * KEYS and SCAN never allocate: they walk the table twice (count, then
 * reply), which sees the same keys because nothing mutates in between.
 */
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/limits.h"
#include "kv/kv.h"
#include "node/command.h"

#define ERR_NOMEM "ERR out of memory"

static bool arg_is(const struct cmd_ctx *c, int i, const char *word)
{
    size_t n = strlen(word);
    return c->argv_len[i] == n && strncasecmp(c->argv[i], word, n) == 0;
}

static bool arg_i64(struct cmd_ctx *c, int i, int64_t *out)
{
    if (cairn_str_to_i64(c->argv[i], c->argv_len[i], out) != 0) {
        resp_reply_error(c->w, CMD_ERR_NOT_INT);
        return false;
    }
    return true;
}

static bool entry_live(const struct kv_entry *e, int64_t now_ms)
{
    int64_t at = kv_entry_expire(e);
    return at == KV_NO_EXPIRE || now_ms <= at;
}

static const char *type_name(const struct kv_entry *e)
{
    if (e == NULL)
        return "none";
    switch (kv_entry_type(e)) {
    case KV_TYPE_STRING: return "string";
    }
    return "none";
}

/* ---- DEL, EXISTS, TYPE, TOUCH ---- */

static void cmd_del(struct cmd_ctx *c)
{
    int64_t n = 0;
    for (int i = 1; i < c->argc; i++)
        n += kv_delete(c->kv, c->db, c->argv[i], c->argv_len[i], c->now_ms);
    resp_reply_int(c->w, n);
}

static void cmd_exists(struct cmd_ctx *c)
{
    int64_t n = 0;
    for (int i = 1; i < c->argc; i++)
        n += kv_lookup_read(c->kv, c->db, c->argv[i], c->argv_len[i],
                            c->now_ms, KV_LOOKUP_NOTOUCH) != NULL;
    resp_reply_int(c->w, n);
}

static void cmd_touch(struct cmd_ctx *c)
{
    int64_t n = 0;
    for (int i = 1; i < c->argc; i++)
        n += kv_lookup_read(c->kv, c->db, c->argv[i], c->argv_len[i],
                            c->now_ms, 0) != NULL;
    resp_reply_int(c->w, n);
}

static void cmd_type(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms,
                                        KV_LOOKUP_NOTOUCH);
    resp_reply_simple(c->w, type_name(e));
}

/* ---- KEYS and SCAN ---- */

struct walk {
    struct cmd_ctx *c;
    const char *pat; /* NULL: match all */
    size_t plen;
    const char *type; /* NULL: any type */
    size_t type_len;
    bool emit;
    uint64_t count;
};

static void walk_visit(void *ctx, const struct kv_entry *e)
{
    struct walk *wk = ctx;
    if (!entry_live(e, wk->c->now_ms))
        return;
    size_t klen;
    const char *key = kv_entry_key(e, &klen);
    if (wk->pat != NULL && !kv_glob_match(wk->pat, wk->plen, key, klen))
        return;
    if (wk->type != NULL) {
        const char *t = type_name(e);
        if (strlen(t) != wk->type_len || strncasecmp(t, wk->type,
                                                     wk->type_len) != 0)
            return;
    }
    wk->count++;
    if (wk->emit)
        resp_reply_bulk(wk->c->w, key, klen);
}

static void cmd_keys(struct cmd_ctx *c)
{
    struct walk wk = {.c = c, .pat = c->argv[1], .plen = c->argv_len[1]};
    if (wk.plen == 1 && wk.pat[0] == '*')
        wk.pat = NULL;
    for (int pass = 0; pass < 2; pass++) {
        wk.emit = pass == 1;
        if (wk.emit)
            resp_reply_array(c->w, wk.count);
        wk.count = 0;
        uint64_t cursor = 0;
        do {
            cursor = kv_scan(c->kv, c->db, cursor, walk_visit, &wk);
        } while (cursor != 0);
    }
}

/* Parses SCAN's cursor as Redis does with strtoul: an optional sign, then
 * decimal digits ("-1" wraps to 2^64-1; "" is 0); anything else, or
 * overflow, is "ERR invalid cursor". */
static bool parse_cursor(struct cmd_ctx *c, int i, uint64_t *out)
{
    const char *s = c->argv[i];
    size_t len = c->argv_len[i], k = 0;
    uint64_t v = 0;
    bool neg = false;
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        if (++k == len)
            goto bad;
    }
    for (; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            goto bad;
        uint64_t d = (uint64_t)(s[k] - '0');
        if (v > (UINT64_MAX - d) / 10)
            goto bad;
        v = v * 10 + d;
    }
    *out = neg ? (uint64_t)0 - v : v;
    return true;
bad:
    resp_reply_error(c->w, "ERR invalid cursor");
    return false;
}

/* Finds where one SCAN call stops, as Redis does: after COUNT keys or
 * 10 * COUNT cursor steps or the end.  Returns the next cursor and the
 * number of steps taken. */
static uint64_t scan_end(struct cmd_ctx *c, uint64_t cursor, uint64_t count,
                         uint64_t *steps)
{
    struct walk all = {.c = c};
    uint64_t iterations = count * 10;
    *steps = 0;
    do {
        cursor = kv_scan(c->kv, c->db, cursor, walk_visit, &all);
        (*steps)++;
    } while (cursor != 0 && iterations-- > 0 && all.count < count);
    return cursor;
}

static void cmd_scan(struct cmd_ctx *c)
{
    uint64_t cursor, count = 10;
    if (!parse_cursor(c, 1, &cursor))
        return;
    struct walk wk = {.c = c};
    for (int i = 2; i < c->argc; i += 2) {
        bool has_value = i + 1 < c->argc;
        if (arg_is(c, i, "count") && has_value) {
            int64_t v;
            if (!arg_i64(c, i + 1, &v))
                return;
            if (v < 1) {
                resp_reply_error(c->w, CMD_ERR_SYNTAX);
                return;
            }
            count = (uint64_t)v;
        } else if (arg_is(c, i, "match") && has_value) {
            wk.pat = c->argv[i + 1];
            wk.plen = c->argv_len[i + 1];
            if (wk.plen == 1 && wk.pat[0] == '*')
                wk.pat = NULL;
        } else if (arg_is(c, i, "type") && has_value) {
            wk.type = c->argv[i + 1];
            wk.type_len = c->argv_len[i + 1];
        } else {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return;
        }
    }
    count = CAIRN_MIN(count, (uint64_t)CAIRN_SCAN_COUNT_MAX);
    uint64_t steps;
    uint64_t next = scan_end(c, cursor, count, &steps);
    /* Replay the same steps with the filters: count, then reply. */
    for (int pass = 0; pass < 2; pass++) {
        wk.emit = pass == 1;
        if (wk.emit) {
            char num[24];
            size_t n = cairn_u64_to_str(next, num);
            resp_reply_array(c->w, 2);
            resp_reply_bulk(c->w, num, n);
            resp_reply_array(c->w, wk.count);
        }
        wk.count = 0;
        uint64_t cur = cursor;
        for (uint64_t s = 0; s < steps; s++)
            cur = kv_scan(c->kv, c->db, cur, walk_visit, &wk);
    }
}

static void cmd_randomkey(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_random_key(c->kv, c->db, c->now_ms);
    if (e == NULL) {
        resp_reply_null(c->w);
        return;
    }
    size_t klen;
    const char *k = kv_entry_key(e, &klen);
    resp_reply_bulk(c->w, k, klen);
}

/* ---- RENAME, COPY ---- */

static void rename_generic(struct cmd_ctx *c, bool nx)
{
    const char *src = c->argv[1], *dst = c->argv[2];
    size_t slen = c->argv_len[1], dlen = c->argv_len[2];
    if (kv_lookup_write(c->kv, c->db, src, slen, c->now_ms) == NULL) {
        resp_reply_error(c->w, CMD_ERR_NO_SUCH_KEY);
        return;
    }
    bool same = slen == dlen && memcmp(src, dst, slen) == 0;
    if (!same && nx &&
        kv_lookup_write(c->kv, c->db, dst, dlen, c->now_ms) != NULL) {
        resp_reply_int(c->w, 0);
        return;
    }
    if (same) {
        if (nx)
            resp_reply_int(c->w, 0);
        else
            resp_reply_ok(c->w);
        return;
    }
    int rc = kv_rename(c->kv, c->db, src, slen, c->db, dst, dlen, c->now_ms);
    if (rc != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    if (nx)
        resp_reply_int(c->w, 1);
    else
        resp_reply_ok(c->w);
}

static void cmd_rename(struct cmd_ctx *c)
{
    rename_generic(c, false);
}

static void cmd_renamenx(struct cmd_ctx *c)
{
    rename_generic(c, true);
}

static void cmd_copy(struct cmd_ctx *c)
{
    int dst_db = c->db;
    bool replace = false;
    for (int j = 3; j < c->argc; j++) {
        bool has_value = j + 1 < c->argc;
        if (arg_is(c, j, "replace")) {
            replace = true;
        } else if (arg_is(c, j, "db") && has_value) {
            int64_t v;
            if (!arg_i64(c, j + 1, &v))
                return;
            if (v < INT32_MIN || v > INT32_MAX) {
                resp_reply_error(c->w, CMD_ERR_NOT_INT);
                return;
            }
            if (v < 0 || v >= CAIRN_DB_COUNT) {
                resp_reply_error(c->w, "ERR DB index is out of range");
                return;
            }
            dst_db = (int)v;
            j++;
        } else {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return;
        }
    }
    const char *src = c->argv[1], *dst = c->argv[2];
    size_t slen = c->argv_len[1], dlen = c->argv_len[2];
    if (dst_db == c->db && slen == dlen && memcmp(src, dst, slen) == 0) {
        resp_reply_error(c->w,
                         "ERR source and destination objects are the same");
        return;
    }
    if (kv_lookup_read(c->kv, c->db, src, slen, c->now_ms,
                       KV_LOOKUP_EXPIRE) == NULL) {
        resp_reply_int(c->w, 0);
        return;
    }
    int rc = kv_copy(c->kv, c->db, src, slen, dst_db, dst, dlen, replace,
                     c->now_ms);
    if (rc == CAIRN_EEXIST || rc == CAIRN_ENOTFOUND) {
        resp_reply_int(c->w, 0);
        return;
    }
    if (rc != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, 1);
}

/* ---- EXPIRE family ---- */

enum expire_flag {
    EXP_NX = 1 << 0,
    EXP_XX = 1 << 1,
    EXP_GT = 1 << 2,
    EXP_LT = 1 << 3,
};

static bool parse_expire_flags(struct cmd_ctx *c, unsigned *flags)
{
    *flags = 0;
    for (int j = 3; j < c->argc; j++) {
        if (arg_is(c, j, "nx")) {
            *flags |= EXP_NX;
        } else if (arg_is(c, j, "xx")) {
            *flags |= EXP_XX;
        } else if (arg_is(c, j, "gt")) {
            *flags |= EXP_GT;
        } else if (arg_is(c, j, "lt")) {
            *flags |= EXP_LT;
        } else {
            size_t n = CAIRN_MIN(c->argv_len[j], (size_t)128);
            resp_reply_errorf(c->w, "ERR Unsupported option %.*s", (int)n,
                              c->argv[j]);
            return false;
        }
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        resp_reply_error(c->w, "ERR NX and XX, GT or LT options at the same "
                               "time are not compatible");
        return false;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        resp_reply_error(c->w, "ERR GT and LT options at the same time are "
                               "not compatible");
        return false;
    }
    return true;
}

/* True if the NX/XX/GT/LT conditions allow replacing cur (KV_NO_EXPIRE:
 * no TTL, i.e. infinite) by when. */
static bool expire_allowed(unsigned flags, int64_t cur, int64_t when)
{
    if ((flags & EXP_NX) && cur != KV_NO_EXPIRE)
        return false;
    if ((flags & EXP_XX) && cur == KV_NO_EXPIRE)
        return false;
    if ((flags & EXP_GT) && (cur == KV_NO_EXPIRE || when <= cur))
        return false;
    if ((flags & EXP_LT) && cur != KV_NO_EXPIRE && when >= cur)
        return false;
    return true;
}

static void expire_generic(struct cmd_ctx *c, bool relative, bool seconds,
                           const char *cmd)
{
    unsigned flags;
    int64_t when;
    if (!parse_expire_flags(c, &flags) || !arg_i64(c, 2, &when))
        return;
    int64_t base = relative ? c->now_ms : 0;
    if (seconds && (when > INT64_MAX / 1000 || when < INT64_MIN / 1000))
        goto bad_time;
    if (seconds)
        when *= 1000;
    if (base > 0 && when > INT64_MAX - base)
        goto bad_time;
    when += base;
    const char *key = c->argv[1];
    size_t klen = c->argv_len[1];
    struct kv_entry *e = kv_lookup_write(c->kv, c->db, key, klen, c->now_ms);
    if (e == NULL || !expire_allowed(flags, kv_entry_expire(e), when)) {
        resp_reply_int(c->w, 0);
        return;
    }
    if (when <= c->now_ms) {
        kv_delete(c->kv, c->db, key, klen, c->now_ms);
    } else if (kv_expire_set(c->kv, c->db, key, klen, when, c->now_ms) != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, 1);
    return;
bad_time:
    resp_reply_errorf(c->w, "ERR invalid expire time in '%s' command", cmd);
}

static void cmd_expire(struct cmd_ctx *c)
{
    expire_generic(c, true, true, "expire");
}

static void cmd_pexpire(struct cmd_ctx *c)
{
    expire_generic(c, true, false, "pexpire");
}

static void cmd_expireat(struct cmd_ctx *c)
{
    expire_generic(c, false, true, "expireat");
}

static void cmd_pexpireat(struct cmd_ctx *c)
{
    expire_generic(c, false, false, "pexpireat");
}

static void ttl_generic(struct cmd_ctx *c, bool ms, bool absolute)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms,
                                        KV_LOOKUP_NOTOUCH);
    if (e == NULL) {
        resp_reply_int(c->w, -2);
        return;
    }
    int64_t at = kv_entry_expire(e);
    if (at == KV_NO_EXPIRE) {
        resp_reply_int(c->w, -1);
        return;
    }
    int64_t t = absolute ? at : at - c->now_ms;
    if (t < 0)
        t = 0;
    /* Seconds round to nearest, as Redis's (t + 500) / 1000, without
     * overflowing near INT64_MAX. */
    resp_reply_int(c->w, ms ? t : t / 1000 + (t % 1000 >= 500));
}

static void cmd_ttl(struct cmd_ctx *c)
{
    ttl_generic(c, false, false);
}

static void cmd_pttl(struct cmd_ctx *c)
{
    ttl_generic(c, true, false);
}

static void cmd_expiretime(struct cmd_ctx *c)
{
    ttl_generic(c, false, true);
}

static void cmd_pexpiretime(struct cmd_ctx *c)
{
    ttl_generic(c, true, true);
}

static void cmd_persist(struct cmd_ctx *c)
{
    resp_reply_int(c->w, kv_persist(c->kv, c->db, c->argv[1], c->argv_len[1],
                                    c->now_ms));
}

/* ---- OBJECT and MEMORY ---- */

struct subcmd {
    const char *name;
    int arity; /* counts the container name, as Redis */
    cmd_proc proc;
};

static void subcmd_run(struct cmd_ctx *c, const char *container,
                       const char *upper, const struct subcmd *table)
{
    for (const struct subcmd *sc = table; sc->name != NULL; sc++) {
        if (!arg_is(c, 1, sc->name))
            continue;
        bool ok = sc->arity >= 0 ? c->argc == sc->arity
                                 : c->argc >= -sc->arity;
        if (ok)
            sc->proc(c);
        else
            resp_reply_errorf(c->w, "ERR wrong number of arguments for "
                                    "'%s|%s' command", container, sc->name);
        return;
    }
    size_t n = CAIRN_MIN(c->argv_len[1], (size_t)128);
    const char *nul = memchr(c->argv[1], '\0', n);
    if (nul != NULL)
        n = (size_t)(nul - c->argv[1]);
    resp_reply_errorf(c->w, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                      (int)n, c->argv[1], upper);
}

static void reply_lines(struct cmd_ctx *c, const char *const *lines)
{
    size_t n = 0;
    while (lines[n] != NULL)
        n++;
    resp_reply_array(c->w, n);
    for (size_t i = 0; i < n; i++)
        resp_reply_simple(c->w, lines[i]);
}

static struct kv_entry *object_lookup(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[2],
                                        c->argv_len[2], c->now_ms,
                                        KV_LOOKUP_NOTOUCH | KV_LOOKUP_NOSTATS);
    if (e == NULL)
        resp_reply_null(c->w);
    return e;
}

static bool policy_is_lfu(const struct cmd_ctx *c)
{
    enum kv_policy p = kv_config_get(c->kv)->policy;
    return p == KV_POLICY_ALLKEYS_LFU || p == KV_POLICY_VOLATILE_LFU;
}

static void object_encoding(struct cmd_ctx *c)
{
    struct kv_entry *e = object_lookup(c);
    if (e != NULL)
        resp_reply_bulk_str(c->w, kv_entry_encoding_name(e));
}

static void object_freq(struct cmd_ctx *c)
{
    struct kv_entry *e = object_lookup(c);
    if (e == NULL)
        return;
    if (!policy_is_lfu(c)) {
        resp_reply_error(c->w, "ERR An LFU maxmemory policy is not selected, "
                               "access frequency not tracked. Please note "
                               "that when switching between policies at "
                               "runtime LRU and LFU data will take some time "
                               "to adjust.");
        return;
    }
    resp_reply_int(c->w, kv_entry_lfu(c->kv, e, c->now_ms));
}

static void object_idletime(struct cmd_ctx *c)
{
    struct kv_entry *e = object_lookup(c);
    if (e == NULL)
        return;
    if (policy_is_lfu(c)) {
        resp_reply_error(c->w, "ERR An LFU maxmemory policy is selected, idle "
                               "time not tracked. Please note that when "
                               "switching between policies at runtime LRU and "
                               "LFU data will take some time to adjust.");
        return;
    }
    resp_reply_int(c->w, (int64_t)kv_entry_idle_s(c->kv, e, c->now_ms));
}

/* Redis shares the integers 0..9999 unless an LRU/LFU policy is in force
 * with a memory limit; shared objects report INT_MAX references. */
static void object_refcount(struct cmd_ctx *c)
{
    struct kv_entry *e = object_lookup(c);
    if (e == NULL)
        return;
    const struct kv_config *cfg = kv_config_get(c->kv);
    bool lru_lfu = cfg->policy != KV_POLICY_NOEVICTION &&
                   cfg->policy != KV_POLICY_ALLKEYS_RANDOM &&
                   cfg->policy != KV_POLICY_VOLATILE_RANDOM &&
                   cfg->policy != KV_POLICY_VOLATILE_TTL;
    int64_t v;
    bool shared = kv_entry_encoding(e) == KV_ENC_INT && kv_entry_int(e, &v) &&
                  v >= 0 && v < 10000 && (cfg->maxmemory == 0 || !lru_lfu);
    resp_reply_int(c->w, shared ? 2147483647 : 1);
}

static void object_help(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used to store the "
        "value of <key>.",
        "FREQ <key>",
        "    Return the access frequency of <key> (LFU policies only).",
        "IDLETIME <key>",
        "    Return the idle time of <key> in seconds (not with LFU).",
        "REFCOUNT <key>",
        "    Return the number of references to the value of <key>.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    reply_lines(c, lines);
}

static const struct subcmd object_subcmds[] = {
    {"encoding", 3, object_encoding}, {"freq", 3, object_freq},
    {"help", 2, object_help},         {"idletime", 3, object_idletime},
    {"refcount", 3, object_refcount}, {NULL, 0, NULL},
};

static void cmd_object(struct cmd_ctx *c)
{
    subcmd_run(c, "object", "OBJECT", object_subcmds);
}

static void memory_usage(struct cmd_ctx *c)
{
    for (int j = 3; j < c->argc; j++) {
        int64_t samples;
        if (arg_is(c, j, "samples") && j + 1 < c->argc) {
            if (!arg_i64(c, j + 1, &samples))
                return;
            if (samples < 0) {
                resp_reply_error(c->w, CMD_ERR_SYNTAX);
                return;
            }
            j++;
        } else {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return;
        }
    }
    struct kv_entry *e = object_lookup(c);
    if (e != NULL)
        resp_reply_int(c->w, (int64_t)kv_entry_memory(e));
}

static void memory_help(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    reply_lines(c, lines);
}

static const struct subcmd memory_subcmds[] = {
    {"help", 2, memory_help},
    {"usage", -3, memory_usage},
    {NULL, 0, NULL},
};

static void cmd_memory(struct cmd_ctx *c)
{
    subcmd_run(c, "memory", "MEMORY", memory_subcmds);
}

/* ---- databases ---- */

static void cmd_dbsize(struct cmd_ctx *c)
{
    resp_reply_int(c->w, (int64_t)kv_dbsize(c->kv, c->db));
}

/* FLUSHDB / FLUSHALL [ASYNC | SYNC]: both run synchronously here. */
static bool flush_args_ok(struct cmd_ctx *c)
{
    if (c->argc > 2 ||
        (c->argc == 2 && !arg_is(c, 1, "sync") && !arg_is(c, 1, "async"))) {
        resp_reply_error(c->w, CMD_ERR_SYNTAX);
        return false;
    }
    return true;
}

static void cmd_flushdb(struct cmd_ctx *c)
{
    if (!flush_args_ok(c))
        return;
    kv_flushdb(c->kv, c->db);
    resp_reply_ok(c->w);
}

static void cmd_flushall(struct cmd_ctx *c)
{
    if (!flush_args_ok(c))
        return;
    kv_flushall(c->kv);
    resp_reply_ok(c->w);
}

static bool parse_db_index(struct cmd_ctx *c, int i, const char *which,
                           int *out)
{
    int64_t v;
    if (cairn_str_to_i64(c->argv[i], c->argv_len[i], &v) != 0 ||
        v < INT32_MIN || v > INT32_MAX) {
        resp_reply_errorf(c->w, "ERR invalid %s DB index", which);
        return false;
    }
    *out = (int)v;
    return true;
}

static void cmd_swapdb(struct cmd_ctx *c)
{
    int a, b;
    if (!parse_db_index(c, 1, "first", &a) ||
        !parse_db_index(c, 2, "second", &b))
        return;
    if (a < 0 || a >= CAIRN_DB_COUNT || b < 0 || b >= CAIRN_DB_COUNT) {
        resp_reply_error(c->w, "ERR DB index is out of range");
        return;
    }
    if (a != b)
        kv_swapdb(c->kv, a, b);
    resp_reply_ok(c->w);
}

#define W CMD_WRITE
#define R CMD_READONLY
#define D CMD_DENYOOM
#define F CMD_FAST

const struct command cmd_keys_table[] = {
    {"copy", -3, W | D, 1, 2, 1, cmd_copy, "generic",
     "Copies the value of a key to a new key."},
    {"dbsize", 1, R | F, 0, 0, 0, cmd_dbsize, "server",
     "Returns the number of keys in the database."},
    {"del", -2, W, 1, -1, 1, cmd_del, "generic", "Deletes one or more keys."},
    {"exists", -2, R | F, 1, -1, 1, cmd_exists, "generic",
     "Determines whether one or more keys exist."},
    {"expire", -3, W | F, 1, 1, 1, cmd_expire, "generic",
     "Sets the expiration time of a key in seconds."},
    {"expireat", -3, W | F, 1, 1, 1, cmd_expireat, "generic",
     "Sets the expiration time of a key to a Unix timestamp."},
    {"expiretime", 2, R | F, 1, 1, 1, cmd_expiretime, "generic",
     "Returns the expiration time of a key as a Unix timestamp."},
    {"flushall", -1, W, 0, 0, 0, cmd_flushall, "server",
     "Removes all keys from all databases."},
    {"flushdb", -1, W, 0, 0, 0, cmd_flushdb, "server",
     "Remove all keys from the current database."},
    {"keys", 2, R, 0, 0, 0, cmd_keys, "generic",
     "Returns all key names that match a pattern."},
    {"memory", -2, R, 2, 2, 1, cmd_memory, "server",
     "A container for memory diagnostics commands."},
    {"object", -2, R, 2, 2, 1, cmd_object, "generic",
     "A container for object introspection commands."},
    {"persist", 2, W | F, 1, 1, 1, cmd_persist, "generic",
     "Removes the expiration time of a key."},
    {"pexpire", -3, W | F, 1, 1, 1, cmd_pexpire, "generic",
     "Sets the expiration time of a key in milliseconds."},
    {"pexpireat", -3, W | F, 1, 1, 1, cmd_pexpireat, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"pexpiretime", 2, R | F, 1, 1, 1, cmd_pexpiretime, "generic",
     "Returns the expiration time of a key as a Unix milliseconds "
     "timestamp."},
    {"pttl", 2, R | F, 1, 1, 1, cmd_pttl, "generic",
     "Returns the expiration time in milliseconds of a key."},
    {"randomkey", 1, R, 0, 0, 0, cmd_randomkey, "generic",
     "Returns a random key name from the database."},
    {"rename", 3, W, 1, 2, 1, cmd_rename, "generic",
     "Renames a key and overwrites the destination."},
    {"renamenx", 3, W | F, 1, 2, 1, cmd_renamenx, "generic",
     "Renames a key only when the target key name doesn't exist."},
    {"scan", -2, R, 0, 0, 0, cmd_scan, "generic",
     "Iterates over the key names in the database."},
    {"swapdb", 3, W | F, 0, 0, 0, cmd_swapdb, "server",
     "Swaps two Redis databases."},
    {"touch", -2, R | F, 1, -1, 1, cmd_touch, "generic",
     "Returns the number of existing keys out of those specified after "
     "updating the time they were last accessed."},
    {"ttl", 2, R | F, 1, 1, 1, cmd_ttl, "generic",
     "Returns the expiration time in seconds of a key."},
    {"type", 2, R | F, 1, 1, 1, cmd_type, "generic",
     "Determines the type of value stored at a key."},
    {"unlink", -2, W | F, 1, -1, 1, cmd_del, "generic",
     "Asynchronously deletes one or more keys."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
