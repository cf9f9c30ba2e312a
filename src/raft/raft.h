/*
 * raft.h: the public API of cairn's in-house Raft core.
 *
 * The core is a pure state machine: events in, updates out.
 *
 *     struct raft_update up;
 *     rc = raft_step(r, &event, &up);
 *     ... the host performs what up asks, then feeds completions back ...
 *
 * It never reads a clock (time arrives in every event as now_ms), never draws
 * randomness except from a cairn_rng seeded from raft_config.seed, never does
 * I/O, never calls back into the host, has no globals and allocates only via
 * cairn_malloc.  Many instances live in one process (one per Raft group, or
 * five in one simulator).
 *
 * DURABILITY CONTRACT (details in docs/design/raft.md):
 *   1. An update may ask the host to persist a hard state, a snapshot, and a
 *      truncation + append of log entries.  The host performs the persists of
 *      successive updates IN ORDER and reports each completion with a
 *      RAFT_EV_PERSISTED event, also in order.
 *   2. Messages in an update may be sent AT ONCE, before or while that
 *      update's persists run: the core never emits a message that depends on
 *      state not yet reported durable.  Vote grants, a candidate's vote
 *      requests and a follower's append/snapshot acknowledgements are held
 *      inside the core until the RAFT_EV_PERSISTED event that covers them.
 *      (So the leader writes its own log in parallel with replication.)
 *   3. The leader counts itself toward a commit quorum only up to the index
 *      reported durable by RAFT_EV_PERSISTED.
 *
 * OWNERSHIP: every pointer inside a struct raft_update (entries, messages
 * and the entries and data they point to, reads, snapshot metadata and chunk
 * bytes) is owned by the core and valid until the next raft_step() or
 * raft_destroy() on the same instance, whichever comes first.  The host
 * copies what it must keep longer (e.g. messages queued on a socket).
 * Pointers inside an event are borrowed for the duration of raft_step()
 * only, except snapshot bytes given with RAFT_EV_SNAPSHOT_TAKEN (see there).
 *
 * Errors are negative CAIRN_E* codes (core/error.h); input from peers is
 * validated and rejected with an error, never asserted on.
 */
#ifndef CAIRN_RAFT_RAFT_H
#define CAIRN_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct raft; /* opaque; layout in raft_int.h */

/* ---------------------------------------------------------------------------
 * Limits of the core (each bounds a queue or a batch).
 * ------------------------------------------------------------------------- */

/* Voters plus learners in one group. */
#define RAFT_MEMBERS_MAX CAIRN_RAFT_MEMBERS_MAX
/* Buffers in one RAFT_EV_PROPOSE batch; over it: CAIRN_ETOOBIG. */
#define RAFT_PROPOSE_BATCH_MAX 1024u
/* Read requests waiting for a read index (leader: local plus forwarded;
 * follower: forwarded to the leader); over it: CAIRN_EFULL. */
#define RAFT_READS_PENDING_MAX 4096u
/* Responses held until their persist completes; over it the response is
 * dropped (Raft tolerates lost messages; the peer retries). */
#define RAFT_HELD_MSGS_MAX 1024u
/* Committed entries handed out per update; the rest follow in the next
 * update (deadline_ms is then now, so the host steps again at once). */
#define RAFT_APPLY_BATCH_MAX 4096u
/* Entries in one AppendEntries message. */
#define RAFT_APPEND_ENTRIES_MAX 1024u
/* Largest term and index a peer may send; larger is CAIRN_EPROTO (leaves
 * room so that term + 1 and index + n never wrap). */
#define RAFT_TERM_MAX (UINT64_C(1) << 62)
#define RAFT_INDEX_MAX (UINT64_C(1) << 62)

/* ---------------------------------------------------------------------------
 * Identities, roles, configuration of the group.
 * ------------------------------------------------------------------------- */

enum raft_role {
    RAFT_FOLLOWER = 1,
    RAFT_PRECANDIDATE = 2, /* running a PreVote round (§9.6 of the thesis) */
    RAFT_CANDIDATE = 3,
    RAFT_LEADER = 4,
};

enum raft_member_role {
    RAFT_VOTER = 1,
    RAFT_LEARNER = 2, /* receives the log, never votes or counts in quorums */
};

struct raft_member {
    uint64_t id; /* nonzero, unique in the configuration */
    uint8_t role; /* enum raft_member_role */
};

/* A membership configuration.  Copyable by value.  Members are kept sorted
 * by id so that iteration order never depends on history. */
struct raft_conf {
    uint32_t n_members;
    struct raft_member members[RAFT_MEMBERS_MAX];
};

/* Encoded size of a configuration: u32 count, then per member u64 id and u8
 * role, all little-endian.  RAFT_ENTRY_CONFIG entries carry this encoding. */
#define RAFT_CONF_ENCODED_SIZE_MAX (4u + RAFT_MEMBERS_MAX * 9u)

/* Writes conf's encoding into out (cap bytes); returns the length or
 * CAIRN_EFULL. */
int raft_conf_encode(const struct raft_conf *conf, uint8_t *out, size_t cap);
/* Decodes and validates (count <= max, ids nonzero, sorted and unique, roles
 * known); returns 0 or CAIRN_EPROTO.  Safe on hostile bytes. */
int raft_conf_decode(const uint8_t *in, size_t len, struct raft_conf *out);
/* Same members with the same roles (field by field; padding ignored). */
bool raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b);
/* Returns the member with that id, or NULL. */
const struct raft_member *raft_conf_find(const struct raft_conf *conf,
                                         uint64_t id);

/* ---------------------------------------------------------------------------
 * Log entries and durable state.
 * ------------------------------------------------------------------------- */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* a state-machine command */
    RAFT_ENTRY_NOOP = 2,   /* appended by every new leader (§8, §5.4.2) */
    RAFT_ENTRY_CONFIG = 3, /* data is an encoded struct raft_conf */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    const void *data; /* len bytes; NULL when len == 0 */
};

/* What must survive a crash besides the log and the snapshot. */
struct raft_hard_state {
    uint64_t term;
    uint64_t vote; /* id voted for in term, 0 for none */
    uint64_t commit_index; /* advisory: a restart may restore it */
};

struct raft_snapshot_meta {
    uint64_t last_index; /* last entry the snapshot covers */
    uint64_t last_term;
    struct raft_conf conf; /* configuration as of last_index */
    uint64_t size; /* bytes of snapshot data */
};

/* ---------------------------------------------------------------------------
 * Configuration of one instance.
 * ------------------------------------------------------------------------- */

struct raft_config {
    uint64_t id;       /* this server, nonzero */
    uint64_t group_id; /* every message carries it; others are rejected */

    /* Election timeouts are drawn uniformly from [min, max) on each reset. */
    uint32_t election_timeout_ms_min;
    uint32_t election_timeout_ms_max;
    uint32_t heartbeat_interval_ms; /* < election_timeout_ms_min */

    bool prevote;      /* run a PreVote round before bumping the term */
    bool check_quorum; /* leader steps down without a quorum for a timeout */
    bool lease_reads;  /* allow RAFT_READ_LEASE (needs check_quorum) */
    /* Largest relative clock-rate difference between two servers, percent.
     * The lease lasts election_timeout_ms_min * (100 - drift) / 100. */
    uint32_t lease_clock_drift_pct;

    /* In-flight window per follower in the replicate state. */
    uint32_t inflight_msgs_max;  /* AppendEntries not yet acknowledged */
    uint64_t inflight_bytes_max; /* entry bytes not yet acknowledged */
    uint32_t append_bytes_max;   /* entry bytes per AppendEntries (soft) */

    uint64_t entry_size_max;        /* one proposal; over: CAIRN_ETOOBIG */
    uint64_t snapshot_trailing_entries; /* entries kept after a snapshot */
    uint32_t snapshot_chunk_size;   /* bytes per InstallSnapshot chunk */

    uint64_t seed; /* seeds the election-timeout generator */
};

/* Fills cfg with the defaults (prevote, check_quorum and lease_reads on,
 * 1000..2000 ms elections, 100 ms heartbeats, limits from core/limits.h). */
void raft_config_default(struct raft_config *cfg, uint64_t id,
                         uint64_t group_id, uint64_t seed);

/* Durable state loaded at start.  For a brand-new group every founding
 * server passes snapshot.last_index = 0 and snapshot.conf = the founding
 * voters; a server that will join later passes an empty conf.  entries
 * (borrowed, copied) are the durable log after snapshot.last_index. */
struct raft_restore {
    struct raft_hard_state hard_state;
    struct raft_snapshot_meta snapshot;
    const struct raft_entry *entries;
    size_t n_entries;
};

/* ---------------------------------------------------------------------------
 * Messages between servers.  Every message carries group id, from, to and
 * the sender's term.  Pointers inside are borrowed (see OWNERSHIP above).
 * ------------------------------------------------------------------------- */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_VOTE = 3,
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5, /* term = the term the sender would campaign in */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_SNAPSHOT = 7,
    RAFT_MSG_SNAPSHOT_RESP = 8,
    RAFT_MSG_HEARTBEAT = 9,
    RAFT_MSG_HEARTBEAT_RESP = 10,
    RAFT_MSG_TIMEOUT_NOW = 11,
    RAFT_MSG_READ_INDEX = 12,      /* follower -> leader: get a read index */
    RAFT_MSG_READ_INDEX_RESP = 13, /* leader -> follower */
};
#define RAFT_MSG_TYPE_MAX RAFT_MSG_READ_INDEX_RESP

/* RequestVote and PreVote (§5.2, §5.4.1, thesis §9.6). */
struct raft_msg_vote {
    uint64_t last_log_index;
    uint64_t last_log_term;
    bool transfer; /* campaign started by TimeoutNow: bypasses stickiness */
};

struct raft_msg_vote_resp {
    bool granted;
};

/* AppendEntries (§5.3). */
struct raft_msg_append {
    uint64_t prev_index;
    uint64_t prev_term;
    uint64_t commit_index;
    uint32_t n_entries;
    const struct raft_entry *entries;
};

/* Reply to AppendEntries.  On success match_index is the last index the
 * follower now holds durably in agreement with the leader.  On rejection
 * reject_index is the prev_index that was refused, and the hint lets the
 * leader skip a whole conflicting term at once: hint_term is the term of
 * the follower's entry at reject_index (0 if the follower's log is shorter),
 * hint_index the first index the follower holds with hint_term (or its last
 * index + 1 when hint_term is 0). */
struct raft_msg_append_resp {
    bool success;
    uint64_t match_index;
    uint64_t reject_index;
    uint64_t hint_term;
    uint64_t hint_index;
    uint64_t last_index;
};

/* InstallSnapshot, one chunk (§7).  Chunks are sent in order; offset lets a
 * transfer resume where the receiver stopped. */
struct raft_msg_snapshot {
    struct raft_snapshot_meta meta;
    uint64_t offset;
    uint32_t len;
    const void *data; /* len bytes */
    bool done; /* last chunk: offset + len == meta.size */
};

/* Reply to a chunk: next_offset is the byte the receiver expects next (a
 * resume point); installed is set once the snapshot is durably installed. */
struct raft_msg_snapshot_resp {
    uint64_t last_index; /* the snapshot this is about */
    uint64_t next_offset;
    bool installed;
    bool rejected; /* receiver cannot use it (e.g. it already has newer) */
};

/* Heartbeats carry the commit index (capped at what the follower is known
 * to match) and the read context of the current ReadIndex round. */
struct raft_msg_heartbeat {
    uint64_t commit_index;
    uint64_t read_ctx;
};

struct raft_msg_heartbeat_resp {
    uint64_t read_ctx;
};

struct raft_msg_read_index {
    uint64_t request_id; /* the follower's request id, echoed back */
};

struct raft_msg_read_index_resp {
    uint64_t request_id;
    uint64_t index;
    int32_t status; /* 0 or a CAIRN_E* code (e.g. CAIRN_ENOTLEADER) */
};

struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    uint64_t group_id;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    union {
        struct raft_msg_vote vote; /* VOTE, PREVOTE */
        struct raft_msg_vote_resp vote_resp; /* VOTE_RESP, PREVOTE_RESP */
        struct raft_msg_append append;
        struct raft_msg_append_resp append_resp;
        struct raft_msg_snapshot snapshot;
        struct raft_msg_snapshot_resp snapshot_resp;
        struct raft_msg_heartbeat heartbeat;
        struct raft_msg_heartbeat_resp heartbeat_resp;
        struct raft_msg_read_index read_index;
        struct raft_msg_read_index_resp read_index_resp;
        /* TIMEOUT_NOW has no body. */
    };
};

/* ---------------------------------------------------------------------------
 * Events.
 * ------------------------------------------------------------------------- */

enum raft_event_type {
    RAFT_EV_MESSAGE = 1,       /* a message from a peer */
    RAFT_EV_PERSISTED = 2,     /* a persist requested earlier completed */
    RAFT_EV_TICK = 3,          /* time passed (at or after deadline_ms) */
    RAFT_EV_PROPOSE = 4,       /* append commands (leader only) */
    RAFT_EV_READ = 5,          /* request a linearizable read index */
    RAFT_EV_SNAPSHOT_TAKEN = 6,/* the state machine wrote a snapshot */
    RAFT_EV_MEMBERSHIP = 7,    /* change the configuration (leader only) */
    RAFT_EV_TRANSFER = 8,      /* hand leadership to another voter */
    RAFT_EV_SHUTDOWN = 9,      /* stop: fail pending work, accept nothing */
};

enum raft_read_mode {
    RAFT_READ_INDEX = 1, /* ReadIndex: one quorum heartbeat round */
    RAFT_READ_LEASE = 2, /* leader lease; falls back to ReadIndex */
};

enum raft_change_op {
    RAFT_CHANGE_ADD_LEARNER = 1,
    RAFT_CHANGE_PROMOTE = 2, /* learner -> voter, once caught up */
    RAFT_CHANGE_REMOVE = 3,
};

struct raft_buf {
    const void *data;
    uint32_t len;
};

struct raft_event {
    uint8_t type; /* enum raft_event_type */
    uint64_t now_ms; /* the host's monotonic clock, never going back */
    union {
        /* RAFT_EV_MESSAGE: msg is borrowed for the call. */
        struct {
            const struct raft_msg *msg;
        } message;
        /* RAFT_EV_PERSISTED: the durable state after the completed write:
         * the hard state on disk, and the last (index, term) of the durable
         * log (after a snapshot install: the snapshot's last index and
         * term).  Completions arrive in the order the writes were asked. */
        struct {
            struct raft_hard_state hard_state;
            uint64_t last_index;
            uint64_t last_term;
        } persisted;
        /* RAFT_EV_PROPOSE: n bufs (borrowed, copied into the log) become
         * consecutive RAFT_ENTRY_NORMAL entries; see update.proposed. */
        struct {
            const struct raft_buf *bufs;
            uint32_t n;
        } propose;
        /* RAFT_EV_READ: request_id is the caller's; the answer appears in
         * a later (or this) update's reads[] with the same id.  On a
         * follower the request is forwarded to the leader (follower read);
         * see docs/design/raft.md for what each mode guarantees. */
        struct {
            uint64_t request_id;
            uint8_t mode; /* enum raft_read_mode */
        } read;
        /* RAFT_EV_SNAPSHOT_TAKEN: the state machine durably wrote a
         * snapshot of everything up to meta.last_index (<= the applied
         * index handed out).  data (meta.size bytes) is BORROWED for
         * longer than the call: the host keeps it valid and unchanged until
         * it passes a newer snapshot and that raft_step() returns, because
         * InstallSnapshot chunks point into it.  The log is compacted,
         * keeping snapshot_trailing_entries entries before last_index.
         * The host also passes its snapshot this way after raft_create()
         * on restart and after completing a snapshot_install, so that
         * this server can send it when it leads. */
        struct {
            struct raft_snapshot_meta meta;
            const void *data;
        } snapshot;
        /* RAFT_EV_MEMBERSHIP: one server at a time (§4.1 of the thesis). */
        struct {
            uint8_t op; /* enum raft_change_op */
            uint64_t id;
        } change;
        /* RAFT_EV_TRANSFER: target 0 picks the most up-to-date voter. */
        struct {
            uint64_t target_id;
        } transfer;
    };
};

/* ---------------------------------------------------------------------------
 * Updates: what the host must do after a step.  See OWNERSHIP above.
 *
 * The host handles an update in this order:
 *   1. snapshot_chunk: store the received bytes at their offset;
 *      snapshot_install: replace the state machine with the received
 *      snapshot, make it durable and drop the whole durable log;
 *   2. delete durable entries with index >= truncate_from (if nonzero),
 *      append entries[], write hard_state (if has_hard_state): these
 *      writes complete in order and each completion is reported with
 *      RAFT_EV_PERSISTED; compact_index: durable entries <= it may go;
 *   3. send msgs[] (any time, even before step 2 completes);
 *   4. apply committed[] in order (after any snapshot_install);
 *   5. serve reads[] with status 0 once the applied index >= their index.
 * ------------------------------------------------------------------------- */

struct raft_read_state {
    uint64_t request_id;
    uint64_t index; /* serve once applied index >= index */
    int32_t status; /* 0, or CAIRN_ENOTLEADER, CAIRN_ESHUTDOWN, ... */
};

struct raft_snapshot_chunk {
    struct raft_snapshot_meta meta;
    uint64_t offset;
    uint32_t len;
    const void *data;
};

struct raft_update {
    /* Current state, always filled. */
    uint8_t role; /* enum raft_role */
    bool role_changed; /* role or leader changed during this step */
    uint64_t term;
    uint64_t leader_id; /* 0 if unknown; the hint for ENOTLEADER */
    uint64_t commit_index;

    /* 1. snapshot from the leader */
    const struct raft_snapshot_chunk *snapshot_chunk; /* NULL if none */
    const struct raft_snapshot_meta *snapshot_install; /* NULL if none */

    /* 2. durable writes, in this order */
    uint64_t truncate_from; /* 0: nothing to delete */
    const struct raft_entry *entries;
    size_t n_entries;
    bool has_hard_state;
    struct raft_hard_state hard_state;
    uint64_t compact_index; /* 0: nothing new to compact */

    /* 3. messages */
    const struct raft_msg *msgs;
    size_t n_msgs;

    /* 4. committed entries to apply */
    const struct raft_entry *committed;
    size_t n_committed;

    /* 5. reads answered */
    const struct raft_read_state *reads;
    size_t n_reads;

    /* RAFT_EV_PROPOSE / RAFT_EV_MEMBERSHIP: where the new entries went, so
     * the host can match them when they are committed (count 0 if none). */
    struct {
        uint64_t first_index;
        uint64_t term;
        uint32_t count;
    } proposed;

    /* Step again with RAFT_EV_TICK at or after this time (absolute ms). */
    uint64_t deadline_ms;
};

/* ---------------------------------------------------------------------------
 * Functions.
 * ------------------------------------------------------------------------- */

/* Creates an instance from cfg and the durable state (both borrowed).
 * Returns 0 and *out, or CAIRN_ECONFIG (bad cfg), CAIRN_EINVAL (restore
 * inconsistent), CAIRN_ENOMEM. */
int raft_create(const struct raft_config *cfg, const struct raft_restore *rs,
                struct raft **out);
/* Frees the instance and everything its updates pointed to. */
void raft_destroy(struct raft *r);

/* Processes one event and fills *up (always, even on error: then it still
 * carries the current state and whatever the step produced).  Returns:
 *   0 on success;
 *   CAIRN_ENOTLEADER  propose/membership/transfer/read on a non-leader
 *                     (up->leader_id is the hint, 0 if unknown);
 *   CAIRN_ETRANSFER   propose or membership during a leadership transfer;
 *   CAIRN_ETOOBIG     an entry over entry_size_max or a batch too long;
 *   CAIRN_ESHUTDOWN   any event after RAFT_EV_SHUTDOWN;
 *   CAIRN_EBUSY       a membership change while another is uncommitted, or
 *                     before this leader committed an entry of its term;
 *   CAIRN_EAGAIN      promote of a learner that has not caught up;
 *   CAIRN_EEXIST / CAIRN_ENOTFOUND  adding a member twice / changing one
 *                     that is not in the configuration;
 *   CAIRN_EFULL       too many pending reads;
 *   CAIRN_EINVAL      a malformed event (unknown type, bad member id);
 *   CAIRN_EPROTO      a malformed message or one for another group/server;
 *   CAIRN_ENOMEM      allocation failed; the state stays consistent and
 *                     what failed may be retried (for PROPOSE,
 *                     up->proposed counts the buffers that made it in;
 *                     a message whose handling failed is simply dropped,
 *                     as if lost on the network).
 * Message-level refusals (stale term, log mismatch) are normal protocol
 * replies, not errors. */
int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *up);

/* Introspection for the host, tests and the simulator. */
struct raft_status {
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader_id;
    uint64_t commit_index;
    uint64_t applied_index; /* last index handed out in committed[] */
    uint64_t first_index;   /* first entry still in the in-memory log */
    uint64_t last_index;
    uint64_t last_term;
    uint64_t persisted_index; /* durable log end, as last reported */
    uint64_t snapshot_index;
    struct raft_conf conf;  /* latest configuration in the log */
    uint64_t transfer_target; /* 0 if none */
    bool shutdown;
};
void raft_status_get(const struct raft *r, struct raft_status *out);

/* Term of the entry at index, 0 if not known (compacted or beyond). */
uint64_t raft_term_at(const struct raft *r, uint64_t index);

/* Whole-structure consistency check; true if every invariant of
 * docs/design/raft.md holds.  raft_step() runs it under ASSERT_SLOW. */
bool raft_invariants(const struct raft *r);

const char *raft_role_name(uint8_t role);
const char *raft_msg_type_name(uint8_t type);

#endif
