/*
 * codec.h: the wire format of Raft messages (struct raft_msg, raft.h).
 *
 * One message is one self-delimiting frame:
 *
 *   off size field
 *     0    1 magic        RAFT_CODEC_MAGIC
 *     1    1 version      RAFT_CODEC_VERSION
 *     2    1 type         enum raft_msg_type
 *     3    1 flags        0 (reserved)
 *     4    4 frame_len    whole frame, header and checksum included
 *     8    8 group_id
 *    16    8 from
 *    24    8 to
 *    32    8 term
 *    40    . body         per type, see codec.c and docs/design/raft.md
 *   -4     4 crc          CRC-32C of every byte before it
 *
 * Integers are fixed-width little-endian; booleans are one byte, 0 or 1.
 * Variable-length parts (entries, chunk data) are length-prefixed.
 *
 * OWNERSHIP: decoding never allocates.  It fills a caller-provided struct
 * raft_codec_msg whose msg points into that struct (entries) and into the
 * input buffer (entry data, chunk data): the decoded message is valid while
 * both stay alive and unchanged.
 *
 * Errors: bytes from a peer are validated in full and rejected with a
 * negative code, never asserted on: CAIRN_ECORRUPT (bad magic, truncated or
 * trailing bytes, checksum mismatch), CAIRN_EVERSION (unknown version),
 * CAIRN_ETOOBIG (a frame, entry or count over a limit), CAIRN_EPROTO (an
 * intact frame whose contents break the rules of raft.h: unknown type or
 * enum, a boolean that is not 0/1, an invalid configuration, inconsistent
 * lengths or terms).  Encoding asserts that the message is well-formed:
 * the core never produces anything else.
 */
#ifndef CAIRN_RAFT_CODEC_H
#define CAIRN_RAFT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define RAFT_CODEC_MAGIC 0xCAu
#define RAFT_CODEC_VERSION 1u
#define RAFT_CODEC_HEADER_SIZE 40u
#define RAFT_CODEC_CRC_SIZE 4u
/* The smallest frame: a header, no body (TIMEOUT_NOW), a checksum. */
#define RAFT_CODEC_FRAME_MIN (RAFT_CODEC_HEADER_SIZE + RAFT_CODEC_CRC_SIZE)
/* The largest frame accepted or produced. */
#define RAFT_CODEC_FRAME_MAX CAIRN_RAFT_MSG_SIZE_MAX

/* A decoded message and the storage its pointers use (see OWNERSHIP). */
struct raft_codec_msg {
    struct raft_msg msg;
    struct raft_entry entries[RAFT_APPEND_ENTRIES_MAX];
};

/* True if m is a message the encoder accepts: known type, nonzero from and
 * to, valid enums, booleans and configuration, consecutive entries with
 * nondecreasing terms not above the message term, lengths within limits.
 * The decoder enforces exactly the same rules. */
bool raft_codec_check(const struct raft_msg *m);

/* Exact encoded size of m (which must pass raft_codec_check).  May exceed
 * RAFT_CODEC_FRAME_MAX: then raft_codec_encode refuses it. */
size_t raft_codec_size(const struct raft_msg *m);

/* Encodes m into out (cap bytes).  ASSERTs raft_codec_check(m).  Returns
 * the frame length, CAIRN_EFULL if cap is too small, or CAIRN_ETOOBIG if
 * the frame would exceed RAFT_CODEC_FRAME_MAX. */
int raft_codec_encode(const struct raft_msg *m, uint8_t *out, size_t cap);

/* Looks at the start of a byte stream: returns 0 and the frame length in
 * *frame_len once the header is complete and plausible, CAIRN_EAGAIN if
 * fewer than 8 bytes are there, or the decoder's error for a bad magic,
 * version or length.  Lets a stream reader cut frames before decoding. */
int raft_codec_peek(const uint8_t *in, size_t len, size_t *frame_len);

/* Decodes exactly one frame of len bytes (borrowed; see OWNERSHIP) into
 * *out.  Returns 0 or a negative code (see Errors); on error *out holds
 * nothing usable. */
int raft_codec_decode(const uint8_t *in, size_t len, struct raft_codec_msg *out);

#endif
