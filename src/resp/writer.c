/*
 * writer.c: the RESP2/RESP3 reply writer (see resp.h).
 *
 * Invariants:
 *   - every reply element is appended whole or not at all: each function
 *     reserves the element's full size once, then copies;
 *   - after the first failed append w->failed stays set and nothing more is
 *     appended, so a broken stream never carries a reply after a hole;
 *   - an error line never carries CR or LF (they would split the reply).
 *
 * Encodings follow Redis 7.0: doubles use "%.17g" (inf spelled "inf"), maps
 * and sets fall back to flat arrays in RESP2, null is "$-1" / "*-1" in RESP2
 * and "_" in RESP3, booleans are integers 1/0 in RESP2.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "resp/resp.h"

/* Longest header line: type byte, '-' and 20 digits, CRLF. */
#define HDR_MAX 32

void resp_writer_init(struct resp_writer *w, struct buf *out, int proto)
{
    ASSERT(out != NULL);
    ASSERT(proto == 2 || proto == 3);
    w->out = out;
    w->proto = proto;
    w->failed = false;
}

/* Reserves n bytes at the end of the output; NULL (and failed) if it cannot. */
static char *room(struct resp_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (buf_reserve(w->out, n) != 0) {
        w->failed = true;
        return NULL;
    }
    return w->out->data + w->out->len;
}

static void put(struct resp_writer *w, const void *p, size_t n)
{
    char *dst = room(w, n);
    if (dst == NULL)
        return;
    memcpy(dst, p, n);
    w->out->len += n;
}

/* Writes "<type><v>\r\n" into hdr; returns its length. */
static size_t hdr_i64(char *hdr, char type, int64_t v)
{
    hdr[0] = type;
    size_t n = 1 + cairn_i64_to_str(v, hdr + 1);
    hdr[n++] = '\r';
    hdr[n++] = '\n';
    return n;
}

static void put_hdr(struct resp_writer *w, char type, int64_t v)
{
    char hdr[HDR_MAX];
    put(w, hdr, hdr_i64(hdr, type, v));
}

static void put_count(struct resp_writer *w, char type, size_t n)
{
    ASSERT(n <= (size_t)INT64_MAX);
    put_hdr(w, type, (int64_t)n);
}

void resp_reply_raw(struct resp_writer *w, const void *p, size_t len)
{
    put(w, p, len);
}

/* "<type><s>\r\n" with CR and LF in s turned into spaces. */
static void put_line(struct resp_writer *w, char type, const char *s,
                     size_t len)
{
    char *dst = room(w, len + 3);
    if (dst == NULL)
        return;
    dst[0] = type;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        dst[1 + i] = c == '\r' || c == '\n' ? ' ' : c;
    }
    dst[len + 1] = '\r';
    dst[len + 2] = '\n';
    w->out->len += len + 3;
}

void resp_reply_simple(struct resp_writer *w, const char *s)
{
    put_line(w, '+', s, strlen(s));
}

void resp_reply_ok(struct resp_writer *w)
{
    put(w, "+OK\r\n", 5);
}

static void put_error(struct resp_writer *w, const char *msg, size_t len)
{
    /* Like Redis: a message that already starts with '-' keeps it. */
    if (len > 0 && msg[0] == '-')
        put_line(w, '-', msg + 1, len - 1);
    else
        put_line(w, '-', msg, len);
}

void resp_reply_error(struct resp_writer *w, const char *msg)
{
    put_error(w, msg, strlen(msg));
}

void resp_reply_errorf(struct resp_writer *w, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        w->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        put_error(w, small, (size_t)n);
        return;
    }
    char *big = cairn_malloc((size_t)n + 1);
    if (big == NULL) {
        w->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put_error(w, big, (size_t)n);
    cairn_free(big);
}

void resp_reply_int(struct resp_writer *w, int64_t v)
{
    put_hdr(w, ':', v);
}

void resp_reply_bulk(struct resp_writer *w, const void *p, size_t len)
{
    ASSERT(p != NULL || len == 0);
    ASSERT(len <= (size_t)INT64_MAX);
    char hdr[HDR_MAX];
    size_t h = hdr_i64(hdr, '$', (int64_t)len);
    char *dst = room(w, h + len + 2);
    if (dst == NULL)
        return;
    memcpy(dst, hdr, h);
    if (len > 0)
        memcpy(dst + h, p, len);
    dst[h + len] = '\r';
    dst[h + len + 1] = '\n';
    w->out->len += h + len + 2;
}

void resp_reply_bulk_str(struct resp_writer *w, const char *s)
{
    resp_reply_bulk(w, s, strlen(s));
}

void resp_reply_bulk_i64(struct resp_writer *w, int64_t v)
{
    char tmp[24];
    resp_reply_bulk(w, tmp, cairn_i64_to_str(v, tmp));
}

void resp_reply_null(struct resp_writer *w)
{
    if (w->proto == 3)
        put(w, "_\r\n", 3);
    else
        put(w, "$-1\r\n", 5);
}

void resp_reply_null_array(struct resp_writer *w)
{
    if (w->proto == 3)
        put(w, "_\r\n", 3);
    else
        put(w, "*-1\r\n", 5);
}

void resp_reply_array(struct resp_writer *w, size_t n)
{
    put_count(w, '*', n);
}

void resp_reply_map(struct resp_writer *w, size_t n)
{
    if (w->proto == 3) {
        put_count(w, '%', n);
        return;
    }
    ASSERT(n <= SIZE_MAX / 2);
    put_count(w, '*', n * 2);
}

void resp_reply_set(struct resp_writer *w, size_t n)
{
    put_count(w, w->proto == 3 ? '~' : '*', n);
}

void resp_reply_double(struct resp_writer *w, double v)
{
    if (isinf(v)) {
        if (w->proto == 3)
            resp_reply_raw(w, v > 0 ? ",inf\r\n" : ",-inf\r\n", v > 0 ? 6 : 7);
        else
            resp_reply_bulk_str(w, v > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    ASSERT(n > 0 && (size_t)n < sizeof(tmp));
    if (w->proto == 3)
        put_line(w, ',', tmp, (size_t)n);
    else
        resp_reply_bulk(w, tmp, (size_t)n);
}

void resp_reply_bool(struct resp_writer *w, bool v)
{
    if (w->proto == 3)
        put(w, v ? "#t\r\n" : "#f\r\n", 4);
    else
        put(w, v ? ":1\r\n" : ":0\r\n", 4);
}

void resp_reply_verbatim(struct resp_writer *w, const char *p, size_t len)
{
    if (w->proto != 3) {
        resp_reply_bulk(w, p, len);
        return;
    }
    ASSERT(p != NULL || len == 0);
    ASSERT(len <= (size_t)INT64_MAX - 4);
    char hdr[HDR_MAX];
    size_t h = hdr_i64(hdr, '=', (int64_t)len + 4);
    char *dst = room(w, h + 4 + len + 2);
    if (dst == NULL)
        return;
    memcpy(dst, hdr, h);
    memcpy(dst + h, "txt:", 4);
    if (len > 0)
        memcpy(dst + h + 4, p, len);
    memcpy(dst + h + 4 + len, "\r\n", 2);
    w->out->len += h + 4 + len + 2;
}
