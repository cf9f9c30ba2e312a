/*
 * transport.h: authenticated, framed peer-to-peer links between cairn nodes.
 *
 * A transport owns one listener (optional) and a table of configured peers.
 * For each configured peer it keeps one outgoing connection, dialled with
 * exponential backoff, and sends on it; it receives on the connections that
 * peers dial to it.  Everything goes through io.h: no sockets, no clock, no
 * rand().
 *
 * Wire format (docs/design/transport.md has the full story):
 *   frame     = len:u32le  crc:u32le  payload[len]
 *               crc = CRC-32C over the 4 length bytes then the payload;
 *               len <= frame_size_max (TRANSPORT_HS_FRAME_MAX during the
 *               handshake).
 *   handshake = both ends send HELLO as their first frame, then AUTH as their
 *               second; application frames flow only after each end has
 *               verified the other's AUTH.
 *   HELLO     = magic "CRNP" | version:u16le | role:u8 | 0:u8 |
 *               node_id:u64le | nonce[32]                       (48 bytes)
 *   AUTH      = HMAC-SHA256(secret, "cairn-peer-v1" | role:u8 |
 *               dialer_nonce | acceptor_nonce | dialer_id:u64le |
 *               acceptor_id:u64le)                              (32 bytes)
 *               where role is the sender's own role.
 *
 * Guarantees: frames sent on one connection arrive in order, each at most
 * once; across reconnects frames may be lost (never duplicated by us, but
 * the layer above must tolerate loss: Raft retries).  A bad frame, bad
 * handshake or timeout closes that one connection with a LOG_WARNING naming
 * the peer's address; it never asserts.  Memory per connection is bounded by
 * frame_size_max (receive) and send_queue_bytes_max (send).
 *
 * Callbacks (recv_cb, peer_cb) run from io callbacks, never from inside a
 * transport_* call.  They may call transport_send, transport_peer_set and
 * transport_peer_remove; they must not call transport_free.
 */
#ifndef CAIRN_NODE_TRANSPORT_H
#define CAIRN_NODE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

/* --- wire constants (shared with the tests and the fuzzer) --- */

#define TRANSPORT_VERSION 1
#define TRANSPORT_MAGIC "CRNP"
#define TRANSPORT_FRAME_HEADER_SIZE 8
#define TRANSPORT_NONCE_SIZE 32
#define TRANSPORT_HELLO_SIZE 48
#define TRANSPORT_AUTH_SIZE 32
#define TRANSPORT_AUTH_LABEL "cairn-peer-v1"
#define TRANSPORT_ROLE_DIALER 0
#define TRANSPORT_ROLE_ACCEPTOR 1
/* Largest frame accepted before a connection is authenticated: a HELLO or an
 * AUTH fits; anything larger is refused so that an unauthenticated client
 * cannot make us buffer much. */
#define TRANSPORT_HS_FRAME_MAX 64

/* --- defaults and limits (a zero config field takes its default) --- */

/* Bytes queued in the io layer for one peer before transport_send answers
 * CAIRN_EFULL: about two Raft in-flight windows, so a slow follower costs
 * bounded memory and Raft's own flow control is the one that normally acts. */
#define TRANSPORT_SEND_QUEUE_BYTES_DEFAULT (32u * 1024 * 1024)
/* Reconnect backoff: first retry after about min, doubling to max. */
#define TRANSPORT_RECONNECT_MIN_MS_DEFAULT 50
#define TRANSPORT_RECONNECT_MAX_MS_DEFAULT 2000
/* A connection that has not finished its handshake within this is closed. */
#define TRANSPORT_HANDSHAKE_TIMEOUT_MS_DEFAULT 3000
/* Accepted connections still in their handshake at once; more are closed at
 * accept, so a flood of idle connections costs bounded memory. */
#define TRANSPORT_PENDING_CONNS_MAX 64
/* Configured peers (a Raft group has at most CAIRN_RAFT_MEMBERS_MAX members;
 * the node may host several groups over the same peers). */
#define TRANSPORT_PEERS_MAX 64
/* Longest peer host name kept. */
#define TRANSPORT_HOST_LEN_MAX 255
/* Shared secret bounds: an empty secret is a configuration error. */
#define TRANSPORT_SECRET_LEN_MAX 1024

struct transport_config {
    uint64_t self_id;            /* our node id; never 0 */
    const uint8_t *secret;       /* borrowed during transport_new (copied) */
    size_t secret_len;           /* 1..TRANSPORT_SECRET_LEN_MAX */
    size_t send_queue_bytes_max; /* 0: TRANSPORT_SEND_QUEUE_BYTES_DEFAULT */
    size_t frame_size_max;       /* 0: CAIRN_RAFT_MSG_SIZE_MAX */
    uint64_t reconnect_min_ms;   /* 0: TRANSPORT_RECONNECT_MIN_MS_DEFAULT */
    uint64_t reconnect_max_ms;   /* 0: TRANSPORT_RECONNECT_MAX_MS_DEFAULT */
    uint64_t handshake_timeout_ms; /* 0: TRANSPORT_HANDSHAKE_TIMEOUT_MS_DEFAULT */
};

struct transport;

/* A frame arrived from an authenticated peer.  frame is valid only during
 * the call (it may point into the io layer's read buffer). */
typedef void (*transport_recv_cb)(void *ctx, uint64_t from_id,
                                  const uint8_t *frame, size_t len);
/* Our outgoing link to peer_id became usable (up) or stopped being so. */
typedef void (*transport_peer_cb)(void *ctx, uint64_t peer_id, bool up);

/*
 * Creates a transport over io.  cfg is copied (the secret too).  recv_cb is
 * required; peer_cb may be NULL.  Returns 0, CAIRN_EINVAL (bad config: self
 * id 0, empty or too long secret, min > max backoff) or CAIRN_ENOMEM.
 */
int transport_new(struct io *io, const struct transport_config *cfg,
                  void *ctx, transport_recv_cb recv_cb,
                  transport_peer_cb peer_cb, struct transport **out);

/* Listens for peers on host:port.  One listener per transport: a second call
 * returns CAIRN_EEXIST.  Other errors come from io_listen (CAIRN_EADDR...). */
int transport_listen(struct transport *t, const char *host, uint16_t port);

/* The listener, for tests that listened on port 0 (NULL if none). */
struct io_listener *transport_listener(struct transport *t);

/*
 * Adds peer_id at host:port, or changes its address (the current outgoing
 * connection is then dropped, without a "down" callback, and redialled;
 * peer_cb(up) may therefore repeat without a "down" in between).  Dialling starts from the event
 * loop, never inside this call.  Returns 0, CAIRN_EINVAL (peer_id 0 or our
 * own id, host too long), CAIRN_EFULL (TRANSPORT_PEERS_MAX) or CAIRN_ENOMEM.
 */
int transport_peer_set(struct transport *t, uint64_t peer_id,
                       const char *host, uint16_t port);

/* Forgets a peer: closes its connections (both directions) without calling
 * peer_cb.  Unknown ids are ignored. */
void transport_peer_remove(struct transport *t, uint64_t peer_id);

/*
 * Queues one frame (copied) to peer_id.  Returns 0 when queued,
 * CAIRN_ECLOSED when there is no authenticated outgoing connection (unknown
 * peer, dialling, handshaking), CAIRN_EFULL when the peer's send queue is not
 * empty and would pass send_queue_bytes_max with this frame (an empty queue
 * takes any frame up to frame_size_max), CAIRN_ETOOBIG when len >
 * frame_size_max.  In every error case the frame is dropped.  There is no
 * "drained" callback: Raft retries on its own timers.
 */
int transport_send(struct transport *t, uint64_t peer_id, const void *frame,
                   size_t len);

/* True when transport_send to peer_id may currently succeed. */
bool transport_peer_up(const struct transport *t, uint64_t peer_id);

/* Counters for INFO and tests. */
struct transport_stats {
    uint64_t frames_sent;
    uint64_t frames_received;
    uint64_t bytes_sent;     /* including frame headers */
    uint64_t bytes_received; /* including frame headers */
    uint64_t handshakes_ok;
    uint64_t handshakes_failed; /* bad secret, version, id, timeout */
    uint64_t conns_closed_bad_frame; /* oversize length or checksum */
    uint64_t sends_full;            /* CAIRN_EFULL answers */
    uint64_t dials;                 /* io_connect calls made */
};
void transport_stats_get(const struct transport *t,
                         struct transport_stats *out);

/*
 * Closes the listener and every connection and timer; no callback fires
 * afterwards.  A dial still in flight in the io layer completes later into a
 * small orphan record that its callback frees, so keep running the loop (as
 * io_uv requires anyway) before freeing the io.  NULL is a no-op.
 */
void transport_free(struct transport *t);

#endif
