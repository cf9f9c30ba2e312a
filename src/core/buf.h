/*
 * buf.h: a growable byte buffer with a hard size limit.
 *
 * Used for query buffers, reply buffers and encoders.  Appends never grow a
 * buffer past its limit: they fail with CAIRN_EFULL (limit) or CAIRN_ENOMEM
 * (allocator), and the buffer is left unchanged.  The limit is the
 * backpressure point for every byte stream a client or peer can grow.
 */
#ifndef CAIRN_CORE_BUF_H
#define CAIRN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 means SIZE_MAX */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);

/* Ensures room for extra more bytes; returns 0, CAIRN_EFULL or CAIRN_ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_u64(struct buf *b, uint64_t v);
int buf_append_i64(struct buf *b, int64_t v);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drops the first n bytes (n <= len), keeping the rest. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);

/* Releases memory beyond len when more than half the capacity is unused and
 * the capacity is above keep bytes (idle clients give memory back). */
void buf_shrink(struct buf *b, size_t keep);

/* Formats v in decimal into out (at least 21 bytes); returns the length. */
size_t cairn_i64_to_str(int64_t v, char *out);
size_t cairn_u64_to_str(uint64_t v, char *out);

/* Parses a whole decimal int64 as Redis does (no spaces, no '+', no leading
 * zeros, no overflow).  Returns 0 or CAIRN_EINVAL / CAIRN_ERANGE. */
int cairn_str_to_i64(const char *s, size_t len, int64_t *out);

#endif
