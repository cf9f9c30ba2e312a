/*
 * cmd_string.c: the string commands (GET, SET and its family, MGET/MSET,
 * APPEND, STRLEN, GETRANGE/SETRANGE, INCR/DECR/INCRBY/DECRBY/INCRBYFLOAT).
 *
 * Semantics, replies and error texts follow Redis 7.0 word for word,
 * including the order in which arguments are validated (it decides which
 * error a client sees first).  Write commands are functions of (cache state,
 * argv, c->now_ms) only: expire times are computed from c->now_ms, and an
 * absolute expire time already in the past deletes the key at once, so a
 * replica applying the same command reaches the same state.
 *
 * A reply that must precede a mutation (SET ... GET, GETEX, GETDEL) is
 * written first and rolled back if the mutation fails for lack of memory,
 * so a client always receives exactly one reply.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/limits.h"
#include "kv/kv.h"
#include "node/command.h"

#define ERR_NOMEM "ERR out of memory"
#define ERR_STRING_TOO_BIG \
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
/* Redis's MAX_LONG_DOUBLE_CHARS: longest float text accepted or produced. */
#define LONG_DOUBLE_CHARS_MAX (5 * 1024)

/* ---- helpers ---- */

static bool arg_is(const struct cmd_ctx *c, int i, const char *word)
{
    size_t n = strlen(word);
    return c->argv_len[i] == n && strncasecmp(c->argv[i], word, n) == 0;
}

/* Parses argv[i] as an int64, replying Redis's error if it is not one. */
static bool arg_i64(struct cmd_ctx *c, int i, int64_t *out)
{
    if (cairn_str_to_i64(c->argv[i], c->argv_len[i], out) != 0) {
        resp_reply_error(c->w, CMD_ERR_NOT_INT);
        return false;
    }
    return true;
}

/* Replies WRONGTYPE and returns false if e exists and is not a string. */
static bool is_string_or_absent(struct cmd_ctx *c, const struct kv_entry *e)
{
    if (e != NULL && kv_entry_type(e) != KV_TYPE_STRING) {
        resp_reply_error(c->w, CMD_ERR_WRONGTYPE);
        return false;
    }
    return true;
}

static void reply_value(struct cmd_ctx *c, const struct kv_entry *e)
{
    char tmp[24];
    size_t len;
    const char *v = kv_entry_str(e, tmp, &len);
    resp_reply_bulk(c->w, v, len);
}

static void reply_expire_error(struct cmd_ctx *c, const char *cmd)
{
    resp_reply_errorf(c->w, "ERR invalid expire time in '%s' command", cmd);
}

/* Replaces whatever this command wrote since mark by an out-of-memory
 * error (the mutation after the reply failed). */
static void reply_rollback_nomem(struct cmd_ctx *c, size_t mark)
{
    if (!c->w->failed && c->w->out->len >= mark)
        c->w->out->len = mark;
    resp_reply_error(c->w, ERR_NOMEM);
}

static uint64_t string_len_max(const struct cmd_ctx *c)
{
    return kv_config_get(c->kv)->string_len_max;
}

/* Redis's checkStringLength: offset + len within proto-max-bulk-len. */
static bool check_string_length(struct cmd_ctx *c, uint64_t offset,
                                uint64_t len)
{
    uint64_t total = offset + len;
    if (total < offset || total > string_len_max(c)) {
        resp_reply_error(c->w, ERR_STRING_TOO_BIG);
        return false;
    }
    return true;
}

/* ---- SET family option parsing ---- */

enum set_opt {
    OPT_NX = 1 << 0,
    OPT_XX = 1 << 1,
    OPT_GET = 1 << 2,
    OPT_KEEPTTL = 1 << 3,
    OPT_PERSIST = 1 << 4,
    OPT_EX = 1 << 5,
    OPT_PX = 1 << 6,
    OPT_EXAT = 1 << 7,
    OPT_PXAT = 1 << 8,
};
#define OPT_ANY_EXPIRE (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

struct set_args {
    unsigned flags;
    int expire_arg; /* argv index of the time, 0 if none */
};

/* Redis's parseExtendedStringArgumentsOrReply: repeated identical options
 * are accepted, conflicting ones are a syntax error.  is_set selects SET's
 * options (NX XX GET KEEPTTL) versus GETEX's (PERSIST). */
static bool parse_set_args(struct cmd_ctx *c, int first, bool is_set,
                           struct set_args *a)
{
    static const struct {
        const char *name;
        unsigned flag;
    } expire_opts[] = {{"ex", OPT_EX}, {"px", OPT_PX}, {"exat", OPT_EXAT},
                       {"pxat", OPT_PXAT}};
    a->flags = 0;
    a->expire_arg = 0;
    for (int j = first; j < c->argc; j++) {
        unsigned f = a->flags;
        bool has_next = j + 1 < c->argc;
        if (is_set && arg_is(c, j, "nx") && !(f & OPT_XX)) {
            a->flags |= OPT_NX;
            continue;
        }
        if (is_set && arg_is(c, j, "xx") && !(f & OPT_NX)) {
            a->flags |= OPT_XX;
            continue;
        }
        if (is_set && arg_is(c, j, "get")) {
            a->flags |= OPT_GET;
            continue;
        }
        if (is_set && arg_is(c, j, "keepttl") &&
            !(f & (OPT_PERSIST | OPT_ANY_EXPIRE))) {
            a->flags |= OPT_KEEPTTL;
            continue;
        }
        if (!is_set && arg_is(c, j, "persist") &&
            !(f & (OPT_KEEPTTL | OPT_ANY_EXPIRE))) {
            a->flags |= OPT_PERSIST;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof(expire_opts) / sizeof(expire_opts[0]);
             k++) {
            unsigned other = (OPT_ANY_EXPIRE & ~expire_opts[k].flag) |
                             OPT_KEEPTTL | OPT_PERSIST;
            if (arg_is(c, j, expire_opts[k].name) && !(f & other) &&
                has_next) {
                a->flags |= expire_opts[k].flag;
                a->expire_arg = ++j;
                matched = true;
                break;
            }
        }
        if (!matched) {
            resp_reply_error(c->w, CMD_ERR_SYNTAX);
            return false;
        }
    }
    return true;
}

/* Redis's getExpireMillisecondsOrReply: turns the expire argument into an
 * absolute Unix time in ms.  Non-positive or overflowing: error. */
static bool parse_expire(struct cmd_ctx *c, const struct set_args *a,
                         const char *cmd, int64_t *at_ms)
{
    int64_t v;
    *at_ms = KV_NO_EXPIRE;
    if (a->expire_arg == 0)
        return true;
    if (!arg_i64(c, a->expire_arg, &v))
        return false;
    bool seconds = (a->flags & (OPT_EX | OPT_EXAT)) != 0;
    if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
        reply_expire_error(c, cmd);
        return false;
    }
    if (seconds)
        v *= 1000;
    if (a->flags & (OPT_EX | OPT_PX)) {
        if (c->now_ms > 0 && v > INT64_MAX - c->now_ms) {
            reply_expire_error(c, cmd);
            return false;
        }
        v += c->now_ms;
    }
    *at_ms = v;
    return true;
}

/* ---- GET, SET and friends ---- */

static void cmd_get(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms, 0);
    if (e == NULL) {
        resp_reply_null(c->w);
        return;
    }
    if (is_string_or_absent(c, e))
        reply_value(c, e);
}

/* Stores value under key with expire time at_ms (KV_NO_EXPIRE: none), or
 * deletes the key when at_ms is already past (Redis's checkAlreadyExpired).
 * Returns 0 or CAIRN_ENOMEM. */
static int store_value(struct cmd_ctx *c, int key_i, const char *val,
                       size_t vlen, int64_t at_ms, unsigned kv_flags)
{
    if (at_ms != KV_NO_EXPIRE && at_ms <= c->now_ms) {
        kv_delete(c->kv, c->db, c->argv[key_i], c->argv_len[key_i],
                  c->now_ms);
        return 0;
    }
    return kv_set(c->kv, c->db, c->argv[key_i], c->argv_len[key_i], val, vlen,
                  at_ms, kv_flags, c->now_ms);
}

static void cmd_set(struct cmd_ctx *c)
{
    struct set_args a;
    int64_t at_ms;
    if (!parse_set_args(c, 3, true, &a) || !parse_expire(c, &a, "set", &at_ms))
        return;
    size_t mark = c->w->out->len;
    if (a.flags & OPT_GET) {
        struct kv_entry *old = kv_lookup_read(c->kv, c->db, c->argv[1],
                                              c->argv_len[1], c->now_ms,
                                              KV_LOOKUP_EXPIRE);
        if (!is_string_or_absent(c, old))
            return;
        if (old != NULL)
            reply_value(c, old);
        else
            resp_reply_null(c->w);
    }
    /* The existence check costs a lookup; plain SET skips it. */
    bool found = (a.flags & (OPT_NX | OPT_XX)) &&
                 kv_lookup_write(c->kv, c->db, c->argv[1], c->argv_len[1],
                                 c->now_ms) != NULL;
    if (((a.flags & OPT_NX) && found) || ((a.flags & OPT_XX) && !found)) {
        if (!(a.flags & OPT_GET))
            resp_reply_null(c->w);
        return;
    }
    unsigned kf = (a.flags & OPT_KEEPTTL) ? KV_SET_KEEPTTL : 0;
    if (store_value(c, 1, c->argv[2], c->argv_len[2], at_ms, kf) != 0) {
        reply_rollback_nomem(c, mark);
        return;
    }
    if (!(a.flags & OPT_GET))
        resp_reply_ok(c->w);
}

static void cmd_setnx(struct cmd_ctx *c)
{
    if (kv_lookup_write(c->kv, c->db, c->argv[1], c->argv_len[1],
                        c->now_ms) != NULL) {
        resp_reply_int(c->w, 0);
        return;
    }
    if (store_value(c, 1, c->argv[2], c->argv_len[2], KV_NO_EXPIRE, 0) != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, 1);
}

/* SETEX / PSETEX key time value. */
static void setex_generic(struct cmd_ctx *c, bool seconds, const char *cmd)
{
    int64_t v;
    if (!arg_i64(c, 2, &v))
        return;
    if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
        reply_expire_error(c, cmd);
        return;
    }
    if (seconds)
        v *= 1000;
    if (c->now_ms > 0 && v > INT64_MAX - c->now_ms) {
        reply_expire_error(c, cmd);
        return;
    }
    if (store_value(c, 1, c->argv[3], c->argv_len[3], v + c->now_ms, 0) !=
        0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_ok(c->w);
}

static void cmd_setex(struct cmd_ctx *c)
{
    setex_generic(c, true, "setex");
}

static void cmd_psetex(struct cmd_ctx *c)
{
    setex_generic(c, false, "psetex");
}

static void cmd_getset(struct cmd_ctx *c)
{
    struct kv_entry *old = kv_lookup_read(c->kv, c->db, c->argv[1],
                                          c->argv_len[1], c->now_ms,
                                          KV_LOOKUP_EXPIRE);
    if (!is_string_or_absent(c, old))
        return;
    size_t mark = c->w->out->len;
    if (old != NULL)
        reply_value(c, old);
    else
        resp_reply_null(c->w);
    if (store_value(c, 1, c->argv[2], c->argv_len[2], KV_NO_EXPIRE, 0) != 0)
        reply_rollback_nomem(c, mark);
}

static void cmd_getdel(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms,
                                        KV_LOOKUP_EXPIRE);
    if (e == NULL) {
        resp_reply_null(c->w);
        return;
    }
    if (!is_string_or_absent(c, e))
        return;
    reply_value(c, e);
    kv_delete(c->kv, c->db, c->argv[1], c->argv_len[1], c->now_ms);
}

static void cmd_getex(struct cmd_ctx *c)
{
    struct set_args a;
    int64_t at_ms;
    if (!parse_set_args(c, 2, false, &a) ||
        !parse_expire(c, &a, "getex", &at_ms))
        return;
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms,
                                        KV_LOOKUP_EXPIRE);
    if (e == NULL) {
        resp_reply_null(c->w);
        return;
    }
    if (!is_string_or_absent(c, e))
        return;
    size_t mark = c->w->out->len;
    reply_value(c, e);
    const char *key = c->argv[1];
    size_t klen = c->argv_len[1];
    if (at_ms != KV_NO_EXPIRE && at_ms <= c->now_ms) {
        kv_delete(c->kv, c->db, key, klen, c->now_ms);
    } else if (at_ms != KV_NO_EXPIRE) {
        if (kv_expire_set(c->kv, c->db, key, klen, at_ms, c->now_ms) != 0)
            reply_rollback_nomem(c, mark);
    } else if (a.flags & OPT_PERSIST) {
        kv_persist(c->kv, c->db, key, klen, c->now_ms);
    }
}

static void cmd_mget(struct cmd_ctx *c)
{
    resp_reply_array(c->w, (size_t)(c->argc - 1));
    for (int i = 1; i < c->argc; i++) {
        struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[i],
                                            c->argv_len[i], c->now_ms, 0);
        if (e == NULL || kv_entry_type(e) != KV_TYPE_STRING)
            resp_reply_null(c->w);
        else
            reply_value(c, e);
    }
}

/* MSET / MSETNX.  A failed allocation midway leaves the pairs before it
 * set (the command then answers with an error). */
static void mset_generic(struct cmd_ctx *c, bool nx)
{
    if (c->argc % 2 == 0) {
        resp_reply_errorf(c->w,
                          "ERR wrong number of arguments for '%s' command",
                          nx ? "msetnx" : "mset");
        return;
    }
    if (nx) {
        for (int i = 1; i < c->argc; i += 2) {
            if (kv_lookup_write(c->kv, c->db, c->argv[i], c->argv_len[i],
                                c->now_ms) != NULL) {
                resp_reply_int(c->w, 0);
                return;
            }
        }
    }
    for (int i = 1; i < c->argc; i += 2) {
        if (store_value(c, i, c->argv[i + 1], c->argv_len[i + 1],
                        KV_NO_EXPIRE, 0) != 0) {
            resp_reply_error(c->w, ERR_NOMEM);
            return;
        }
    }
    if (nx)
        resp_reply_int(c->w, 1);
    else
        resp_reply_ok(c->w);
}

static void cmd_mset(struct cmd_ctx *c)
{
    mset_generic(c, false);
}

static void cmd_msetnx(struct cmd_ctx *c)
{
    mset_generic(c, true);
}

/* ---- APPEND, STRLEN, ranges ---- */

static void cmd_append(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_write(c->kv, c->db, c->argv[1],
                                         c->argv_len[1], c->now_ms);
    if (!is_string_or_absent(c, e))
        return;
    if (e != NULL && !check_string_length(c, kv_entry_strlen(e),
                                          c->argv_len[2]))
        return;
    size_t len = 0;
    if (kv_append(c->kv, c->db, c->argv[1], c->argv_len[1], c->argv[2],
                  c->argv_len[2], c->now_ms, &len) != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, (int64_t)len);
}

static void cmd_strlen(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms, 0);
    if (!is_string_or_absent(c, e))
        return;
    resp_reply_int(c->w, e == NULL ? 0 : (int64_t)kv_entry_strlen(e));
}

static void cmd_getrange(struct cmd_ctx *c)
{
    int64_t start, end;
    if (!arg_i64(c, 2, &start) || !arg_i64(c, 3, &end))
        return;
    struct kv_entry *e = kv_lookup_read(c->kv, c->db, c->argv[1],
                                        c->argv_len[1], c->now_ms, 0);
    if (e == NULL) {
        resp_reply_bulk(c->w, "", 0);
        return;
    }
    if (!is_string_or_absent(c, e))
        return;
    char tmp[24];
    size_t slen;
    const char *s = kv_entry_str(e, tmp, &slen);
    int64_t n = (int64_t)slen;
    if (start < 0 && end < 0 && start > end) {
        resp_reply_bulk(c->w, "", 0);
        return;
    }
    if (start < 0)
        start = n + start;
    if (end < 0)
        end = n + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= n)
        end = n - 1;
    if (start > end || n == 0) {
        resp_reply_bulk(c->w, "", 0);
        return;
    }
    resp_reply_bulk(c->w, s + start, (size_t)(end - start + 1));
}

static void cmd_setrange(struct cmd_ctx *c)
{
    int64_t offset;
    if (!arg_i64(c, 2, &offset))
        return;
    if (offset < 0) {
        resp_reply_error(c->w, "ERR offset is out of range");
        return;
    }
    struct kv_entry *e = kv_lookup_write(c->kv, c->db, c->argv[1],
                                         c->argv_len[1], c->now_ms);
    if (!is_string_or_absent(c, e))
        return;
    size_t vlen = c->argv_len[3];
    if (vlen == 0) {
        resp_reply_int(c->w, e == NULL ? 0 : (int64_t)kv_entry_strlen(e));
        return;
    }
    if (!check_string_length(c, (uint64_t)offset, vlen))
        return;
    size_t len = 0;
    if (kv_setrange(c->kv, c->db, c->argv[1], c->argv_len[1],
                    (size_t)offset, c->argv[3], vlen, c->now_ms, &len) != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, (int64_t)len);
}

/* ---- counters ---- */

static void incr_generic(struct cmd_ctx *c, int64_t incr)
{
    struct kv_entry *e = kv_lookup_write(c->kv, c->db, c->argv[1],
                                         c->argv_len[1], c->now_ms);
    if (!is_string_or_absent(c, e))
        return;
    int64_t v = 0;
    if (e != NULL && !kv_entry_int(e, &v)) {
        resp_reply_error(c->w, CMD_ERR_NOT_INT);
        return;
    }
    if ((incr < 0 && v < 0 && incr < INT64_MIN - v) ||
        (incr > 0 && v > 0 && incr > INT64_MAX - v)) {
        resp_reply_error(c->w, CMD_ERR_OVERFLOW);
        return;
    }
    v += incr;
    if (kv_set_int(c->kv, c->db, c->argv[1], c->argv_len[1], v, c->now_ms) !=
        0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_int(c->w, v);
}

static void cmd_incr(struct cmd_ctx *c)
{
    incr_generic(c, 1);
}

static void cmd_decr(struct cmd_ctx *c)
{
    incr_generic(c, -1);
}

static void cmd_incrby(struct cmd_ctx *c)
{
    int64_t by;
    if (arg_i64(c, 2, &by))
        incr_generic(c, by);
}

static void cmd_decrby(struct cmd_ctx *c)
{
    int64_t by;
    if (!arg_i64(c, 2, &by))
        return;
    if (by == INT64_MIN) {
        resp_reply_error(c->w, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -by);
}

/* Redis's string2ld: the whole text must be a finite long double. */
static bool parse_long_double(const char *s, size_t len, long double *out)
{
    char buf[LONG_DOUBLE_CHARS_MAX];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
        return false;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (*end != '\0' || isnan(v))
        return false;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0))
        return false;
    if (errno == EINVAL)
        return false;
    *out = v;
    return true;
}

/* Redis's ld2string in human mode: %.17Lf without trailing zeros. */
static size_t format_long_double(long double v, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t l = (size_t)n;
    if (memchr(buf, '.', l) != NULL) {
        while (buf[l - 1] == '0')
            l--;
        if (buf[l - 1] == '.')
            l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    return l;
}

static void cmd_incrbyfloat(struct cmd_ctx *c)
{
    struct kv_entry *e = kv_lookup_write(c->kv, c->db, c->argv[1],
                                         c->argv_len[1], c->now_ms);
    if (!is_string_or_absent(c, e))
        return;
    long double v = 0, incr;
    if (e != NULL) {
        char tmp[24];
        size_t len;
        const char *s = kv_entry_str(e, tmp, &len);
        if (!parse_long_double(s, len, &v)) {
            resp_reply_error(c->w, CMD_ERR_NOT_FLOAT);
            return;
        }
    }
    if (!parse_long_double(c->argv[2], c->argv_len[2], &incr)) {
        resp_reply_error(c->w, CMD_ERR_NOT_FLOAT);
        return;
    }
    v += incr;
    if (isnan(v) || isinf(v)) {
        resp_reply_error(c->w, "ERR increment would produce NaN or Infinity");
        return;
    }
    char out[LONG_DOUBLE_CHARS_MAX];
    size_t n = format_long_double(v, out, sizeof(out));
    if (n == 0) {
        resp_reply_error(c->w, CMD_ERR_NOT_FLOAT);
        return;
    }
    if (kv_set(c->kv, c->db, c->argv[1], c->argv_len[1], out, n,
               KV_NO_EXPIRE, KV_SET_KEEPTTL | KV_SET_NOINT, c->now_ms) != 0) {
        resp_reply_error(c->w, ERR_NOMEM);
        return;
    }
    resp_reply_bulk(c->w, out, n);
}

#define W CMD_WRITE
#define R CMD_READONLY
#define D CMD_DENYOOM
#define F CMD_FAST

const struct command cmd_string_table[] = {
    {"append", 3, W | D | F, 1, 1, 1, cmd_append, "string",
     "Appends a string to the value of a key."},
    {"decr", 2, W | D | F, 1, 1, 1, cmd_decr, "string",
     "Decrements the integer value of a key by one."},
    {"decrby", 3, W | D | F, 1, 1, 1, cmd_decrby, "string",
     "Decrements a number from the integer value of a key."},
    {"get", 2, R | F, 1, 1, 1, cmd_get, "string",
     "Returns the string value of a key."},
    {"getdel", 2, W | F, 1, 1, 1, cmd_getdel, "string",
     "Returns the string value of a key after deleting the key."},
    {"getex", -2, W | F, 1, 1, 1, cmd_getex, "string",
     "Returns the string value of a key after setting its expiration time."},
    {"getrange", 4, R, 1, 1, 1, cmd_getrange, "string",
     "Returns a substring of the string stored at a key."},
    {"getset", 3, W | D | F, 1, 1, 1, cmd_getset, "string",
     "Returns the previous string value of a key after setting it."},
    {"incr", 2, W | D | F, 1, 1, 1, cmd_incr, "string",
     "Increments the integer value of a key by one."},
    {"incrby", 3, W | D | F, 1, 1, 1, cmd_incrby, "string",
     "Increments the integer value of a key by a number."},
    {"incrbyfloat", 3, W | D | F, 1, 1, 1, cmd_incrbyfloat, "string",
     "Increments the floating point value of a key by a number."},
    {"mget", -2, R | F, 1, -1, 1, cmd_mget, "string",
     "Atomically returns the string values of one or more keys."},
    {"mset", -3, W | D, 1, -1, 2, cmd_mset, "string",
     "Atomically creates or modifies the string values of keys."},
    {"msetnx", -3, W | D, 1, -1, 2, cmd_msetnx, "string",
     "Sets the values of keys only when none of the keys exist."},
    {"psetex", 4, W | D, 1, 1, 1, cmd_psetex, "string",
     "Sets the value and expiration in milliseconds of a key."},
    {"set", -3, W | D, 1, 1, 1, cmd_set, "string",
     "Sets the string value of a key, with options."},
    {"setex", 4, W | D, 1, 1, 1, cmd_setex, "string",
     "Sets the string value and expiration time of a key."},
    {"setnx", 3, W | D | F, 1, 1, 1, cmd_setnx, "string",
     "Set the string value of a key only when the key doesn't exist."},
    {"setrange", 4, W | D, 1, 1, 1, cmd_setrange, "string",
     "Overwrites a part of a string value from an offset."},
    {"strlen", 2, R | F, 1, 1, 1, cmd_strlen, "string",
     "Returns the length of a string value."},
    {"substr", 4, R, 1, 1, 1, cmd_getrange, "string",
     "Returns a substring from a string value."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
