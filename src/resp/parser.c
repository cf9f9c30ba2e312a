/*
 * parser.c: the incremental RESP request parser (see resp.h).
 *
 * A request is either multibulk ("*<n>\r\n" then n times "$<len>\r\n<bytes>
 * \r\n") or inline (one line of words ending in "\n", telnet style).  The
 * first byte of a request decides, as in Redis.
 *
 * Invariants (checked with ASSERT on every call):
 *   - a command always starts at buf[0]; pos <= scan <= len;
 *   - state ST_BULK_DATA means bulk_len >= 0 and pos is the first data byte;
 *   - argc <= args_cap, and every returned arg lies inside buf[0..consumed)
 *     (or, for a quoted inline line, at the same place in p->decoded);
 *   - buf is never written.
 *
 * Usage profile: the hot path is many small pipelined multibulk commands.
 * A complete header line with a short count ("$3\r\n") is read in one
 * inline pass (count_line_fast); anything else takes the general path
 * (memchr for the line end, then Redis's integer rules), which decides every
 * case the fast path decides, identically.  No allocation per command (the
 * args array is kept between commands).  A big bulk costs O(1) per call
 * while it arrives: the parser waits for pos + len + 2 bytes without looking
 * at them.  No line is searched twice: `scan` remembers how far the search
 * for its terminator got.
 *
 * Redis 7.0 behaviours kept on purpose (each is pinned by a unit test):
 *   - lines are found with strchr in Redis, so a NUL byte before the line's
 *     terminator hides it: the request waits until more than
 *     inline_len_max bytes are pending and then fails "too big ...";
 *   - the two bytes after a bulk's data are skipped without being checked;
 *   - "*0" and "*-5" are empty requests (argc 0), not errors.
 * One difference on purpose: a header or inline line longer than
 * inline_len_max is refused even when its terminator arrived in the same
 * read (Redis's verdict there depends on read sizes; ours does not).
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/limits.h"
#include "resp/resp.h"

enum {
    ST_START = 0,   /* nothing of the next command parsed yet */
    ST_INLINE,      /* searching the '\n' that ends an inline line */
    ST_MBULK_COUNT, /* searching the '\r' that ends "*<n>" */
    ST_BULK_COUNT,  /* searching the '\r' that ends "$<len>" */
    ST_BULK_DATA,   /* waiting for bulk_len bytes and two more */
    ST_ERROR,       /* sticky until resp_parser_reset() */
};

#define ERR_TOO_BIG_INLINE "Protocol error: too big inline request"
#define ERR_TOO_BIG_MBULK "Protocol error: too big mbulk count string"
#define ERR_TOO_BIG_BULK "Protocol error: too big bulk count string"
#define ERR_MBULK_LEN "Protocol error: invalid multibulk length"
#define ERR_BULK_LEN "Protocol error: invalid bulk length"
#define ERR_UNAUTH_MBULK "Protocol error: unauthenticated multibulk length"
#define ERR_UNAUTH_BULK "Protocol error: unauthenticated bulk length"
#define ERR_QUOTES "Protocol error: unbalanced quotes in request"
#define ERR_NOMEM "out of memory"

void resp_limits_default(struct resp_limits *l)
{
    l->bulk_len_max = CAIRN_PROTO_BULK_LEN_MAX_DEFAULT;
    l->argc_max = CAIRN_PROTO_ARGC_MAX;
    l->inline_len_max = CAIRN_PROTO_INLINE_LEN_MAX;
}

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof(*p));
    if (limits != NULL)
        p->limits = *limits;
    else
        resp_limits_default(&p->limits);
    ASSERT(p->limits.argc_max > 0);
    ASSERT(p->limits.inline_len_max > 0);
    resp_parser_reset(p);
}

void resp_parser_free(struct resp_parser *p)
{
    cairn_free(p->decoded);
    p->decoded = NULL;
    cairn_free(p->args);
    p->args = NULL;
    p->args_cap = 0;
    p->argc = 0;
}

void resp_parser_reset(struct resp_parser *p)
{
    cairn_free(p->decoded);
    p->decoded = NULL;
    p->argc = 0;
    p->consumed = 0;
    p->error = NULL;
    p->state = ST_START;
    p->pos = 0;
    p->scan = 0;
    p->line_nul = false;
    p->multibulk_len = 0;
    p->bulk_len = -1;
}

size_t resp_parser_bytes_wanted(const struct resp_parser *p)
{
    if (p->state != ST_BULK_DATA)
        return 0;
    ASSERT(p->bulk_len >= 0);
    return p->pos + (size_t)p->bulk_len + 2;
}

static enum resp_parse_result fail(struct resp_parser *p, const char *msg)
{
    p->error = msg;
    p->state = ST_ERROR;
    p->argc = 0;
    p->consumed = 0;
    return RESP_PARSE_ERROR;
}

/* The line starting at p->pos has no usable terminator yet: wait for more,
 * unless more than the line limit is already pending (Redis's rule; it
 * bounds what a client can make us buffer before a header completes). */
static enum resp_parse_result line_pending(struct resp_parser *p, size_t len,
                                           const char *too_big)
{
    if (len - p->pos > p->limits.inline_len_max)
        return fail(p, too_big);
    return RESP_PARSE_NEED_MORE;
}

/* A line whose terminator was found at end is refused when it is longer
 * than the limit, exactly as if its terminator had not arrived yet.  Redis
 * accepts such a line when it happens to arrive in one read; refusing it
 * makes the outcome independent of how the bytes were split into reads. */
static bool line_too_long(const struct resp_parser *p, size_t end)
{
    return end - p->pos > p->limits.inline_len_max;
}

/* Searches the unscanned part of the line at p->pos for ch.  Returns its
 * offset, or SIZE_MAX if it is not there yet.  Does not look for NULs: the
 * caller checks those only when the line turns out to be malformed. */
static size_t line_find(struct resp_parser *p, const char *buf, size_t len,
                        char ch)
{
    ASSERT(p->pos <= p->scan);
    ASSERT(p->scan <= len);
    const char *hit = memchr(buf + p->scan, ch, len - p->scan);
    if (hit == NULL) {
        p->scan = len;
        return SIZE_MAX;
    }
    p->scan = (size_t)(hit - buf);
    return p->scan;
}

/* True (and remembered) if the line [p->pos, end) holds a NUL byte. */
static bool line_has_nul(struct resp_parser *p, const char *buf, size_t end)
{
    if (memchr(buf + p->pos, '\0', end - p->pos) != NULL)
        p->line_nul = true;
    return p->line_nul;
}

static bool args_grow(struct resp_parser *p)
{
    size_t cap = p->args_cap < 8 ? 8 : p->args_cap * 2;
    if (cap > p->limits.argc_max)
        cap = (size_t)p->limits.argc_max;
    ASSERT(cap > p->args_cap);
    struct resp_arg *a = cairn_realloc(p->args, cap * sizeof(*a));
    if (a == NULL)
        return false;
    p->args = a;
    p->args_cap = cap;
    return true;
}

static inline bool arg_push(struct resp_parser *p, size_t off, size_t len)
{
    if (unlikely(p->argc == p->args_cap) && !args_grow(p))
        return false;
    p->args[p->argc].off = off;
    p->args[p->argc].len = len;
    p->argc++;
    return true;
}

static enum resp_parse_result complete(struct resp_parser *p, size_t end)
{
    p->consumed = end;
    p->state = ST_START;
    return RESP_PARSE_OK;
}

/* Fast path for the usual count line at p->pos: the type byte, 1 to 18
 * digits without a leading zero (or a lone 0), then CR and LF, all present.
 * One pass, no call.  Returns the CR's offset with *n set, or SIZE_MAX to
 * take the general path (which decides every case, this one included). */
static inline size_t count_line_fast(const struct resp_parser *p,
                                     const char *buf, size_t len, char type,
                                     int64_t *n)
{
    size_t first = p->pos + 1;
    if (first >= len || buf[p->pos] != type)
        return SIZE_MAX;
    size_t stop = first + 18 < len ? first + 18 : len;
    size_t i = first;
    int64_t v = 0;
    for (; i < stop; i++) {
        unsigned d = (unsigned)(unsigned char)buf[i] - '0';
        if (d > 9)
            break;
        v = v * 10 + (int64_t)d;
    }
    if (i == first || i + 1 >= len || buf[i] != '\r')
        return SIZE_MAX;
    if ((buf[first] == '0' && i - first > 1) || line_too_long(p, i))
        return SIZE_MAX;
    *n = v;
    return i;
}

static enum resp_parse_result bad_mbulk_header(struct resp_parser *p,
                                               const char *buf, size_t len,
                                               size_t cr)
{
    if (line_has_nul(p, buf, cr))
        return line_pending(p, len, ERR_TOO_BIG_MBULK);
    return fail(p, ERR_MBULK_LEN);
}

/* "*<n>\r\n" at buf[0]. */
static enum resp_parse_result parse_mbulk_count(struct resp_parser *p,
                                                const char *buf, size_t len)
{
    int64_t n = 0;
    size_t cr = count_line_fast(p, buf, len, '*', &n);
    if (cr == SIZE_MAX) {
        cr = p->line_nul ? SIZE_MAX : line_find(p, buf, len, '\r');
        if (cr == SIZE_MAX)
            return line_pending(p, len, ERR_TOO_BIG_MBULK);
        if (line_too_long(p, cr))
            return fail(p, ERR_TOO_BIG_MBULK);
        if (cr + 1 >= len)
            return RESP_PARSE_NEED_MORE; /* the '\n' has not arrived */
        if (cairn_str_to_i64(buf + 1, cr - 1, &n) != 0)
            return bad_mbulk_header(p, buf, len, cr);
    }
    if (n > 0 && (uint64_t)n > p->limits.argc_max)
        return bad_mbulk_header(p, buf, len, cr);
    if (p->unauthenticated && n > CAIRN_PROTO_UNAUTH_ARGC_MAX)
        return fail(p, ERR_UNAUTH_MBULK);
    if (n <= 0)
        return complete(p, cr + 2);
    p->multibulk_len = n;
    p->pos = cr + 2;
    p->scan = p->pos;
    p->state = ST_BULK_COUNT;
    return RESP_PARSE_NEED_MORE; /* the caller goes on with the bulks */
}

static enum resp_parse_result bad_bulk_header(struct resp_parser *p,
                                              const char *buf, size_t len,
                                              size_t cr)
{
    if (line_has_nul(p, buf, cr))
        return line_pending(p, len, ERR_TOO_BIG_BULK);
    char c = buf[p->pos];
    if (c != '$') {
        /* Redis formats the byte with %c and turns CR/LF into spaces. */
        snprintf(p->error_buf, sizeof(p->error_buf),
                 "Protocol error: expected '$', got '%c'",
                 c == '\r' || c == '\n' ? ' ' : c);
        return fail(p, p->error_buf);
    }
    return fail(p, ERR_BULK_LEN);
}

/* "$<len>\r\n" at p->pos.  Returns NEED_MORE with state ST_BULK_DATA when
 * the header is complete. */
static enum resp_parse_result parse_bulk_count(struct resp_parser *p,
                                               const char *buf, size_t len)
{
    int64_t n = 0;
    size_t cr = count_line_fast(p, buf, len, '$', &n);
    if (cr == SIZE_MAX) {
        cr = p->line_nul ? SIZE_MAX : line_find(p, buf, len, '\r');
        if (cr == SIZE_MAX)
            return line_pending(p, len, ERR_TOO_BIG_BULK);
        if (line_too_long(p, cr))
            return fail(p, ERR_TOO_BIG_BULK);
        if (cr + 1 >= len)
            return RESP_PARSE_NEED_MORE;
        if (buf[p->pos] != '$' ||
            cairn_str_to_i64(buf + p->pos + 1, cr - p->pos - 1, &n) != 0 ||
            n < 0)
            return bad_bulk_header(p, buf, len, cr);
    }
    if ((uint64_t)n > p->limits.bulk_len_max)
        return bad_bulk_header(p, buf, len, cr);
    if (p->unauthenticated && n > CAIRN_PROTO_UNAUTH_BULK_LEN_MAX)
        return fail(p, ERR_UNAUTH_BULK);
    p->bulk_len = n;
    p->pos = cr + 2;
    p->scan = p->pos;
    p->state = ST_BULK_DATA;
    return RESP_PARSE_NEED_MORE;
}

/* The bulks of a multibulk request, from wherever the last call stopped. */
static enum resp_parse_result parse_bulks(struct resp_parser *p,
                                          const char *buf, size_t len)
{
    while (p->multibulk_len > 0) {
        if (p->state == ST_BULK_COUNT) {
            enum resp_parse_result r = parse_bulk_count(p, buf, len);
            if (p->state != ST_BULK_DATA)
                return r;
        }
        ASSERT(p->state == ST_BULK_DATA);
        ASSERT(p->bulk_len >= 0);
        uint64_t need = (uint64_t)p->bulk_len + 2;
        if (len - p->pos < need)
            return RESP_PARSE_NEED_MORE;
        if (!arg_push(p, p->pos, (size_t)p->bulk_len))
            return fail(p, ERR_NOMEM);
        p->pos += (size_t)need; /* Redis skips the CRLF unchecked */
        p->scan = p->pos;
        p->bulk_len = -1;
        p->multibulk_len--;
        p->state = ST_BULK_COUNT;
    }
    return complete(p, p->pos);
}

static inline bool is_space(unsigned char c)
{
    /* isspace() in the C locale, as Redis's sdssplitargs uses. */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static inline unsigned hex_val(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (unsigned)((c | 0x20) - 'a' + 10);
}

/* Cursor over one inline line src[0..n).  Decoded bytes go to dst at the
 * write offset w, which never passes the read offset r (quotes and escapes
 * only shrink a word), so every word keeps its line position.  dst is NULL
 * for a line without quotes: its words are the line's own bytes. */
struct words {
    const char *src;
    size_t n;
    char *dst;
    size_t r;
    size_t w;
};

/* Byte i of the line, or 0 past its end (the line is NUL-free, so 0 plays the
 * role of the C string terminator Redis's splitter relies on). */
static inline unsigned char at(const struct words *ws, size_t i)
{
    return i < ws->n ? (unsigned char)ws->src[i] : 0;
}

static inline void emit(struct words *ws, unsigned char c)
{
    ASSERT(ws->w < ws->r || (ws->w == ws->r && ws->dst == NULL));
    if (ws->dst != NULL)
        ws->dst[ws->w] = (char)c;
    ws->w++;
}

/* One double-quoted step at src[r].  Returns 1 when the closing quote was
 * consumed, 0 to go on, -1 on unbalanced quotes. */
static int dquote_step(struct words *ws)
{
    unsigned char c = at(ws, ws->r), e = at(ws, ws->r + 1);
    if (c == '\\' && e == 'x' && is_hex(at(ws, ws->r + 2)) &&
        is_hex(at(ws, ws->r + 3))) {
        unsigned hi = hex_val(at(ws, ws->r + 2)), lo = hex_val(at(ws, ws->r + 3));
        ws->r += 4;
        emit(ws, (unsigned char)(hi * 16 + lo));
        return 0;
    }
    if (c == '\\' && e != 0) {
        ws->r += 2;
        emit(ws, e == 'n'   ? '\n'
                 : e == 'r' ? '\r'
                 : e == 't' ? '\t'
                 : e == 'b' ? '\b'
                 : e == 'a' ? '\a'
                            : e);
        return 0;
    }
    if (c == '"') {
        if (e != 0 && !is_space(e))
            return -1; /* a closing quote must end the word */
        ws->r += 1;
        return 1;
    }
    if (c == 0)
        return -1;
    ws->r += 1;
    emit(ws, c);
    return 0;
}

/* Single-quoted step: only \' is an escape. */
static int squote_step(struct words *ws)
{
    unsigned char c = at(ws, ws->r), e = at(ws, ws->r + 1);
    if (c == '\\' && e == '\'') {
        ws->r += 2;
        emit(ws, '\'');
        return 0;
    }
    if (c == '\'') {
        if (e != 0 && !is_space(e))
            return -1;
        ws->r += 1;
        return 1;
    }
    if (c == 0)
        return -1;
    ws->r += 1;
    emit(ws, c);
    return 0;
}

/* Reads the word starting at src[r] (not a space).  Returns its decoded
 * length or -1 on unbalanced quotes. */
static long word_read(struct words *ws)
{
    size_t start = ws->r;
    ws->w = ws->r;
    int quote = 0; /* 0, '"' or '\'' */
    for (;;) {
        if (quote != 0) {
            int s = quote == '"' ? dquote_step(ws) : squote_step(ws);
            if (s < 0)
                return -1;
            if (s > 0)
                break;
            continue;
        }
        unsigned char c = at(ws, ws->r);
        if (c == 0 || c == ' ' || c == '\n' || c == '\r' || c == '\t')
            break; /* the separator itself is skipped by the caller */
        ws->r += 1;
        if (c == '"' || c == '\'')
            quote = c;
        else
            emit(ws, c);
    }
    return (long)(ws->w - start);
}

/* Splits the line buf[0..n) into words like Redis's sdssplitargs.  A line
 * with quotes is decoded into p->decoded (same offsets as in the line). */
static enum resp_parse_result split_inline(struct resp_parser *p,
                                           const char *buf, size_t n)
{
    struct words ws = {.src = buf, .n = n, .dst = NULL, .r = 0, .w = 0};
    if (memchr(buf, '"', n) != NULL || memchr(buf, '\'', n) != NULL) {
        p->decoded = cairn_malloc(n);
        if (p->decoded == NULL)
            return fail(p, ERR_NOMEM);
        ws.dst = p->decoded;
    }
    for (;;) {
        while (ws.r < n && is_space((unsigned char)buf[ws.r]))
            ws.r++;
        if (ws.r >= n)
            return RESP_PARSE_OK;
        size_t start = ws.r;
        long wlen = word_read(&ws);
        if (wlen < 0)
            return fail(p, ERR_QUOTES);
        if (p->argc >= p->limits.argc_max)
            return fail(p, ERR_TOO_BIG_INLINE);
        if (!arg_push(p, start, (size_t)wlen))
            return fail(p, ERR_NOMEM);
    }
}

static enum resp_parse_result parse_inline(struct resp_parser *p,
                                           const char *buf, size_t len)
{
    size_t nl = p->line_nul ? SIZE_MAX : line_find(p, buf, len, '\n');
    if (nl != SIZE_MAX && line_has_nul(p, buf, nl))
        nl = SIZE_MAX;
    if (nl == SIZE_MAX)
        return line_pending(p, len, ERR_TOO_BIG_INLINE);
    if (line_too_long(p, nl))
        return fail(p, ERR_TOO_BIG_INLINE);
    size_t n = nl;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    enum resp_parse_result r = split_inline(p, buf, n);
    if (r != RESP_PARSE_OK)
        return r;
    return complete(p, nl + 1);
}

const char *resp_parser_arg(const struct resp_parser *p, const char *buf,
                            size_t i)
{
    ASSERT(i < p->argc);
    return (p->decoded != NULL ? p->decoded : buf) + p->args[i].off;
}

enum resp_parse_result resp_parse(struct resp_parser *p, const char *buf,
                                  size_t len)
{
    ASSERT(buf != NULL || len == 0);
    if (p->state == ST_ERROR)
        return RESP_PARSE_ERROR;
    if (p->state == ST_START) {
        if (len == 0)
            return RESP_PARSE_NEED_MORE;
        if (p->args_cap > CAIRN_PROTO_ARGS_KEEP)
            resp_parser_free(p);
        resp_parser_reset(p);
        p->state = buf[0] == '*' ? ST_MBULK_COUNT : ST_INLINE;
    }
    ASSERT(p->scan <= len); /* the caller never shrinks the buffer */
    ASSERT(p->argc <= p->args_cap);
    switch (p->state) {
    case ST_INLINE:
        return parse_inline(p, buf, len);
    case ST_MBULK_COUNT: {
        enum resp_parse_result r = parse_mbulk_count(p, buf, len);
        if (p->state != ST_BULK_COUNT)
            return r;
        return parse_bulks(p, buf, len);
    }
    case ST_BULK_COUNT:
    case ST_BULK_DATA:
        return parse_bulks(p, buf, len);
    default:
        UNREACHABLE();
    }
}
