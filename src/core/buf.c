/*
 * buf.c: see buf.h.  Growth doubles up to 1 MiB, then adds 1 MiB steps, so
 * large buffers do not overshoot their limit by much.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/error.h"

void buf_init(struct buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit == 0 ? SIZE_MAX : limit;
}

void buf_free(struct buf *b)
{
    cairn_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
    ASSERT(b->len <= b->cap);
    /* The limit may have been lowered (CONFIG SET) below what is held. */
    if (b->len > b->limit || extra > b->limit - b->len)
        return CAIRN_EFULL;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap = cap < (1u << 20) ? cap * 2 : cap + (1u << 20);
    if (cap > b->limit)
        cap = b->limit;
    char *p = cairn_realloc(b->data, cap);
    if (p == NULL)
        return CAIRN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    /* buf_reserve's own test first, without the call: appends of a few
     * bytes into room already there are the common case. */
    bool room = b->len <= b->limit && len <= b->limit - b->len &&
                len <= b->cap - b->len;
    if (!room) {
        int rc = buf_reserve(b, len);
        if (rc != 0)
            return rc;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_u64(struct buf *b, uint64_t v)
{
    char tmp[24];
    return buf_append(b, tmp, cairn_u64_to_str(v, tmp));
}

int buf_append_i64(struct buf *b, int64_t v)
{
    char tmp[24];
    return buf_append(b, tmp, cairn_i64_to_str(v, tmp));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CAIRN_EINVAL;
    int rc = buf_reserve(b, (size_t)n + 1);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    ASSERT(n <= b->len);
    if (n == b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_clear(struct buf *b)
{
    b->len = 0;
}

void buf_shrink(struct buf *b, size_t keep)
{
    if (b->cap <= keep || b->len > b->cap / 2)
        return;
    if (b->len == 0) {
        buf_free(b);
        return;
    }
    size_t cap = b->len < keep ? keep : b->len;
    char *p = cairn_realloc(b->data, cap);
    if (p == NULL)
        return; /* keeping the larger buffer is harmless */
    b->data = p;
    b->cap = cap;
}

size_t cairn_u64_to_str(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t cairn_i64_to_str(int64_t v, char *out)
{
    if (v >= 0)
        return cairn_u64_to_str((uint64_t)v, out);
    out[0] = '-';
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    return 1 + cairn_u64_to_str(0 - (uint64_t)v, out + 1);
}

int cairn_str_to_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return CAIRN_EINVAL;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (len == 1)
            return CAIRN_EINVAL;
    }
    if (s[i] == '0' && len > i + 1)
        return CAIRN_EINVAL; /* leading zeros, as Redis's string2ll */
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CAIRN_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CAIRN_ERANGE;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return CAIRN_ERANGE;
        if (v == 0)
            return CAIRN_EINVAL; /* "-0" is not an integer in Redis */
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX)
            return CAIRN_ERANGE;
        *out = (int64_t)v;
    }
    return 0;
}
