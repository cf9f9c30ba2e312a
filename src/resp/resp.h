/*
 * resp.h: the Redis protocol (RESP2 requests; RESP2 and RESP3 replies).
 *
 * Parser: incremental and zero-copy.  The caller keeps the unprocessed input
 * of a connection in one contiguous buffer, appends to it as bytes arrive and
 * calls resp_parse() on it.  Arguments are returned as offsets into that
 * buffer (so the buffer may be reallocated between calls).  The parser keeps
 * its progress across calls, so a 100 MB bulk arriving in 16 KB reads is
 * scanned once, not once per read.  No recursion; every length is bounded by
 * struct resp_limits.  It accepts and refuses exactly what Redis 7.0 does,
 * with Redis's error texts (docs/design/resp.md lists the few deliberate
 * differences).
 *
 * Reply writer: appends encoded replies to a struct buf, choosing RESP2 or
 * RESP3 encodings by the connection's protocol version.  Each reply element
 * is appended whole or not at all.  An append that fails (buffer limit or
 * allocation) sets w->failed and every later append is skipped; the owner
 * then closes the connection, so command code need not check every call.
 */
#ifndef CAIRN_RESP_RESP_H
#define CAIRN_RESP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct resp_limits {
    uint64_t bulk_len_max;   /* proto-max-bulk-len */
    uint64_t argc_max;       /* arguments per command */
    uint64_t inline_len_max; /* bytes in one inline command line */
};

/* Fills the Redis defaults from core/limits.h. */
void resp_limits_default(struct resp_limits *l);

/* Where an argument's bytes are: use resp_parser_arg() to get a pointer.
 * off is an offset into the caller's buffer, except for the words of an
 * inline command that has quotes, which are decoded into a buffer of the
 * parser (the same offset there). */
struct resp_arg {
    size_t off;
    size_t len;
};

enum resp_parse_result {
    RESP_PARSE_ERROR = -1,   /* protocol error; see parser.error */
    RESP_PARSE_NEED_MORE = 0, /* incomplete; call again with more bytes */
    RESP_PARSE_OK = 1,       /* one command complete */
};

struct resp_parser {
    struct resp_limits limits;
    /* Complete command (valid after RESP_PARSE_OK until the next call). */
    struct resp_arg *args;
    size_t argc;
    size_t args_cap;
    /* Bytes of the buffer the complete command occupied. */
    size_t consumed;
    /* Protocol error text after RESP_PARSE_ERROR, without the "ERR " prefix,
     * e.g. "Protocol error: invalid bulk length".  Never contains CR or LF. */
    const char *error;
    /* Set by the owner while the connection has not authenticated (and a
     * password is required): Redis's pre-AUTH limits then apply, more than
     * CAIRN_PROTO_UNAUTH_ARGC_MAX arguments or a bulk longer than
     * CAIRN_PROTO_UNAUTH_BULK_LEN_MAX is a protocol error.  May change between
     * calls. */
    bool unauthenticated;
    /* Private progress across calls. */
    int state;
    size_t pos;           /* start of the line or bulk being parsed */
    size_t scan;          /* bytes of that line already searched */
    bool line_nul;        /* the line holds a NUL: it never completes */
    int64_t multibulk_len; /* bulks still to come */
    int64_t bulk_len;
    char error_buf[48];   /* for the one formatted error text */
    char *decoded;        /* decoded words of a quoted inline line, or NULL */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);
/* Forgets a partial command (after an error, or when the buffer is reset). */
void resp_parser_reset(struct resp_parser *p);

/*
 * Parses the next command at the start of buf[0..len).  buf must start at the
 * same byte as in the previous call that returned RESP_PARSE_NEED_MORE (the
 * caller only appended; len never shrinks).  On RESP_PARSE_OK the command is
 * p->args[0..argc) (argc may be 0 for an empty inline line or "*0"; skip it);
 * the bytes of argument i are at resp_parser_arg(p, buf, i).  p->consumed
 * bytes may then be dropped from the front of buf; the next call starts a new
 * command at buf[0].  On RESP_PARSE_ERROR p->error says why; the connection
 * should answer "-ERR <error>" and close.  The error is sticky until
 * resp_parser_reset().  buf is never written.
 *
 * Allocation failure (args array, decoded inline words) is reported as
 * RESP_PARSE_ERROR with error "out of memory".
 */
enum resp_parse_result resp_parse(struct resp_parser *p, const char *buf,
                                  size_t len);

/* The bytes of argument i (< argc) of the command just parsed from buf
 * (valid until the next call).  Usually buf + args[i].off; the decoded copy
 * for an inline command with quotes (the inline word "a\\x41b" is aAb). */
const char *resp_parser_arg(const struct resp_parser *p, const char *buf,
                            size_t i);

/* While a bulk is incomplete, the buffer length at which it will be complete
 * (so the caller can reserve it once, as Redis does for big arguments);
 * otherwise 0. */
size_t resp_parser_bytes_wanted(const struct resp_parser *p);

/* ---- reply writer ---- */

struct resp_writer {
    struct buf *out;
    int proto;   /* 2 or 3 */
    bool failed; /* an append failed; the reply stream is broken */
};

void resp_writer_init(struct resp_writer *w, struct buf *out, int proto);

void resp_reply_simple(struct resp_writer *w, const char *s);   /* +s */
void resp_reply_ok(struct resp_writer *w);                       /* +OK */
/* -msg. msg includes the error code word, e.g. "ERR syntax error" or
 * "WRONGTYPE Operation against a key holding the wrong kind of value".
 * CR and LF inside msg are replaced by spaces. */
void resp_reply_error(struct resp_writer *w, const char *msg);
void resp_reply_errorf(struct resp_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_reply_int(struct resp_writer *w, int64_t v);           /* :v */
void resp_reply_bulk(struct resp_writer *w, const void *p, size_t len);
void resp_reply_bulk_str(struct resp_writer *w, const char *s);
void resp_reply_bulk_i64(struct resp_writer *w, int64_t v);
void resp_reply_null(struct resp_writer *w);        /* $-1 / _ */
void resp_reply_null_array(struct resp_writer *w);  /* *-1 / _ */
void resp_reply_array(struct resp_writer *w, size_t n);          /* *n */
void resp_reply_map(struct resp_writer *w, size_t n);  /* %n / *2n */
void resp_reply_set(struct resp_writer *w, size_t n);  /* ~n / *n */
void resp_reply_double(struct resp_writer *w, double v); /* ,v / bulk */
void resp_reply_bool(struct resp_writer *w, bool v);     /* #t / :1 */
/* Verbatim text (RESP3 "=len\r\ntxt:..."); a bulk string in RESP2. */
void resp_reply_verbatim(struct resp_writer *w, const char *p, size_t len);
/* Appends pre-encoded protocol bytes as they are. */
void resp_reply_raw(struct resp_writer *w, const void *p, size_t len);

#endif
