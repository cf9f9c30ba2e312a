/*
 * raft_int.h: private layout of the Raft core, shared by its files.
 *
 * One concern per file:
 *   log.c         the in-memory log with a compaction offset
 *   progress.c    per-follower progress, in-flight windows, quorum maths
 *   election.c    timers, PreVote, RequestVote, role changes, transfer
 *   replication.c AppendEntries, heartbeats, commit, proposals
 *   snapshot.c    snapshots taken, InstallSnapshot send/receive, compaction
 *   membership.c  configurations: encoding, tracking, changes
 *   read.c        ReadIndex, lease reads, follower reads
 *   raft.c        create/destroy, the step dispatcher, output assembly,
 *                 held messages (the durability gate), invariants
 *
 * Nothing here is visible to the host; raft.h is the contract.
 */
#ifndef CAIRN_RAFT_RAFT_INT_H
#define CAIRN_RAFT_RAFT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "raft/raft.h"

/* Most messages one update may carry: 16 peers each with a full window of
 * 256 appends plus heartbeats, read replies and released responses.  Over
 * it a message is dropped (Raft tolerates loss; the peer retries). */
#define RAFT_OUT_MSGS_MAX 8192u
/* Heartbeat broadcasts whose send time we remember for leases. */
#define RAFT_HB_RING 16u
/* Reads answered in one update. */
#define RAFT_OUT_READS_MAX RAFT_READS_PENDING_MAX

#if defined(CAIRN_MUTANT)
#define RAFT_MUTANT(k) (CAIRN_MUTANT == (k))
#else
#define RAFT_MUTANT(k) 0
#endif

/* ---- log.c ---- */

struct raft_log {
    struct raft_entry *entries; /* entries[i].index == offset + 1 + i */
    size_t n;
    size_t cap;
    uint64_t offset;      /* last index covered by a snapshot/compaction */
    uint64_t offset_term; /* term of the entry at offset (0 if offset 0) */
};

void raft_log_init(struct raft_log *log, uint64_t offset, uint64_t offset_term);
void raft_log_free(struct raft_log *log);
uint64_t raft_log_last_index(const struct raft_log *log);
uint64_t raft_log_last_term(const struct raft_log *log);
/* Term at index: offset_term at offset, 0 below offset or past the end. */
uint64_t raft_log_term(const struct raft_log *log, uint64_t index);
/* Entry at index, or NULL if compacted or past the end. */
const struct raft_entry *raft_log_get(const struct raft_log *log,
                                      uint64_t index);
/* Appends a copy of e (data copied) at last+1; e->index must be last+1.
 * Returns 0 or CAIRN_ENOMEM (log unchanged). */
int raft_log_append(struct raft_log *log, const struct raft_entry *e);
/* Replaces the entry at index in place (data copied); for mutant 6 only. */
int raft_log_replace(struct raft_log *log, const struct raft_entry *e);
/* Deletes entries with index >= from (from > offset). */
void raft_log_truncate(struct raft_log *log, uint64_t from);
/* Drops entries with index <= upto (offset < upto <= last). */
void raft_log_compact(struct raft_log *log, uint64_t upto);
/* Drops everything and restarts the log after (index, term). */
void raft_log_reset(struct raft_log *log, uint64_t index, uint64_t term);
/* Bytes of entry data in [from, to]. */
uint64_t raft_log_bytes(const struct raft_log *log, uint64_t from,
                        uint64_t to);
bool raft_log_check(const struct raft_log *log);

/* ---- progress.c ---- */

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 1,     /* one append at a time, find the match */
    RAFT_PROGRESS_REPLICATE = 2, /* pipelined appends within the window */
    RAFT_PROGRESS_SNAPSHOT = 3,  /* sending a snapshot in chunks */
};

struct raft_inflight {
    uint64_t last_index;
    uint64_t bytes;
};

struct raft_progress {
    bool used; /* slot holds a member of the latest configuration */
    uint64_t id;
    bool voter;
    uint8_t state;
    uint64_t match;
    uint64_t next;
    bool probe_sent;   /* probe: an append is out, wait for reply or tick */
    uint64_t last_ack_ms; /* time of the last append reply */
    bool recent_active; /* heard from since the last check-quorum */
    uint64_t hb_acked_ctx; /* highest heartbeat context acknowledged */
    /* in-flight window (ring) */
    struct raft_inflight *infl;
    uint32_t infl_cap;
    uint32_t infl_head;
    uint32_t infl_count;
    uint64_t infl_bytes;
    /* snapshot state */
    uint64_t snap_index;  /* snapshot being sent */
    uint64_t snap_offset; /* next byte to send */
    uint64_t snap_sent_ms;
};

struct raft;

struct raft_progress *raft_progress_find(struct raft *r, uint64_t id);
/* Rebuilds the progress table after the configuration changed, keeping the
 * state of members that stay.  Returns 0 or CAIRN_ENOMEM. */
int raft_progress_sync(struct raft *r);
/* Resets every follower's progress for a new leadership term. */
void raft_progress_reset_all(struct raft *r);
void raft_progress_become_probe(struct raft_progress *pr);
void raft_progress_become_replicate(struct raft_progress *pr);
void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t index);
bool raft_progress_window_full(const struct raft *r,
                               const struct raft_progress *pr);
void raft_progress_infl_add(struct raft_progress *pr, uint64_t last,
                            uint64_t bytes);
void raft_progress_infl_free_to(struct raft_progress *pr, uint64_t index);
void raft_progress_infl_clear(struct raft_progress *pr);
/* The leader's own durable match (mutant 2 counts the unpersisted log). */
uint64_t raft_self_match(const struct raft *r);
/* Highest index replicated on a quorum of voters (0 if no voters). */
uint64_t raft_quorum_match(const struct raft *r);
/* Highest heartbeat context acknowledged by a quorum of voters. */
uint64_t raft_quorum_hb_ctx(const struct raft *r);
/* Voters in conf and how many make a quorum. */
uint32_t raft_voter_count(const struct raft_conf *conf);
bool raft_is_voter(const struct raft_conf *conf, uint64_t id);

/* ---- read.c ---- */

struct raft_pending_read {
    uint64_t request_id;
    uint64_t from;  /* 0: local; else the follower that forwarded it */
    uint64_t index; /* read index, set when assigned to a round */
    uint64_t ctx;   /* heartbeat round; 0: not yet assigned */
    uint64_t deadline_ms; /* follower side: give up after this */
};

struct raft_read_queue {
    struct raft_pending_read *items;
    size_t n;
    size_t cap;
};

/* ---- the instance ---- */

struct raft_held_msg {
    struct raft_msg msg;
    uint64_t need_term; /* hard state (term, vote) that must be durable */
    uint64_t need_vote;
    uint64_t need_index; /* log prefix that must be durable (0: none) */
    uint64_t need_index_term;
};

struct raft_hb_sent {
    uint64_t ctx;
    uint64_t sent_ms;
};

struct raft {
    struct raft_config cfg;
    struct cairn_rng rng;
    bool shutdown;

    /* persistent state (§5, Figure 2) */
    uint64_t term;
    uint64_t vote;
    struct raft_log log;

    /* volatile state */
    uint8_t role;
    uint64_t leader_id;
    uint64_t commit;
    uint64_t applied; /* last index handed out in committed[] */
    uint64_t now;

    /* configuration: latest in the log, and as of the log offset */
    struct raft_conf conf;
    uint64_t conf_index;
    struct raft_conf base_conf;

    /* durability as last reported by RAFT_EV_PERSISTED */
    struct raft_hard_state hs_durable;
    uint64_t persisted_index;
    struct raft_hard_state hs_emitted; /* last hard state put in an update */

    /* timers */
    uint64_t election_deadline;
    uint64_t heartbeat_deadline;
    uint64_t cq_deadline;
    uint64_t last_leader_contact;

    /* elections: voters that answered this round */
    uint64_t votes_from[RAFT_MEMBERS_MAX];
    bool votes_granted[RAFT_MEMBERS_MAX];
    uint32_t n_votes;

    /* leader */
    struct raft_progress prs[RAFT_MEMBERS_MAX]; /* stable slots */
    struct raft_inflight *infl_pool; /* RAFT_MEMBERS_MAX rings */
    uint64_t noop_index;
    uint64_t transfer_target;
    uint64_t transfer_deadline;
    bool transfer_sent;
    bool lease_revoked;
    uint64_t hb_ctx; /* last heartbeat context broadcast */
    struct raft_hb_sent hb_ring[RAFT_HB_RING];
    uint64_t read_round_ctx; /* read round in flight, 0 if none */

    /* reads: leader queue or follower forwarded queue */
    struct raft_read_queue reads;

    /* our latest snapshot (data borrowed from the host) */
    struct raft_snapshot_meta snap;
    const void *snap_data;

    /* snapshot being received */
    bool srecv_active;
    struct raft_snapshot_meta srecv_meta;
    uint64_t srecv_offset;
    void *chunk_buf;
    uint32_t chunk_cap;

    /* held responses waiting on durability */
    struct raft_held_msg *held;
    size_t n_held;
    size_t held_cap;

    /* output of the current step */
    struct raft_msg *out_msgs;
    size_t n_out_msgs;
    size_t out_msgs_cap;
    struct raft_read_state *out_reads;
    size_t n_out_reads;
    size_t out_reads_cap;
    uint64_t out_first_new; /* UINT64_MAX: no new entries */
    uint64_t out_truncate_from;
    uint64_t restore_truncate_from; /* stale durable tail found at restore */
    uint64_t out_compact;
    bool out_install;
    bool out_chunk;
    struct raft_snapshot_chunk out_chunk_v;
    bool out_role_changed;
    uint8_t prev_role;
    uint64_t prev_leader;
    uint64_t out_proposed_first;
    uint32_t out_proposed_count;
    uint64_t dropped_msgs; /* statistics: messages lost to limits/ENOMEM */
};

/* ---- raft.c: output ---- */

/* Queues msg (type, to and body filled by the caller; group, from and term
 * are set here) for this step's update. */
void raft_send(struct raft *r, struct raft_msg *msg);
/* Queues msg to be released once hard state (current term, vote) and the
 * log up to need_index are durable. */
void raft_send_held(struct raft *r, struct raft_msg *msg, uint64_t need_index);
/* Reports a read answer in this step's update. */
void raft_read_report(struct raft *r, uint64_t request_id, uint64_t index,
                      int status);
/* Notes that entries from index on are new (to persist). */
void raft_note_new_entries(struct raft *r, uint64_t index);
void raft_note_truncate(struct raft *r, uint64_t from);
bool raft_hs_durable(const struct raft *r);
int raft_invariants_line(const struct raft *r);

/* ---- election.c ---- */

void raft_election_reset_timer(struct raft *r);
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader);
int raft_become_leader(struct raft *r);
void raft_election_tick(struct raft *r);
int raft_recv_vote(struct raft *r, const struct raft_msg *m);
int raft_recv_vote_resp(struct raft *r, const struct raft_msg *m);
int raft_recv_timeout_now(struct raft *r, const struct raft_msg *m);
int raft_transfer_start(struct raft *r, uint64_t target);
void raft_transfer_check(struct raft *r, const struct raft_progress *pr);
void raft_transfer_abort(struct raft *r);
bool raft_in_leader_lease(const struct raft *r);

/* ---- replication.c ---- */

void raft_send_append(struct raft *r, struct raft_progress *pr, bool empty_ok);
void raft_broadcast_append(struct raft *r);
void raft_broadcast_heartbeat(struct raft *r);
int raft_recv_append(struct raft *r, const struct raft_msg *m);
int raft_recv_append_resp(struct raft *r, const struct raft_msg *m);
int raft_recv_heartbeat(struct raft *r, const struct raft_msg *m);
int raft_recv_heartbeat_resp(struct raft *r, const struct raft_msg *m);
int raft_propose(struct raft *r, const struct raft_buf *bufs, uint32_t n);
/* Leader appends one entry of its term; returns 0 or CAIRN_ENOMEM. */
int raft_leader_append(struct raft *r, uint8_t type, const void *data,
                       uint32_t len);
void raft_maybe_commit(struct raft *r);
void raft_on_commit_advanced(struct raft *r);
void raft_leader_tick(struct raft *r);

/* ---- snapshot.c ---- */

int raft_snapshot_taken(struct raft *r, const struct raft_snapshot_meta *meta,
                        const void *data);
void raft_send_snapshot_chunk(struct raft *r, struct raft_progress *pr);
int raft_recv_snapshot(struct raft *r, const struct raft_msg *m);
int raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m);

/* ---- membership.c ---- */

/* Called after an entry was appended: tracks configuration entries. */
int raft_conf_on_append(struct raft *r, const struct raft_entry *e);
/* Called after the log was truncated from index from. */
void raft_conf_on_truncate(struct raft *r, uint64_t from);
/* Called before the log is compacted up to upto: folds config entries. */
void raft_conf_on_compact(struct raft *r, uint64_t upto);
/* Called after the configuration changed (leader: progress, step down). */
int raft_conf_changed(struct raft *r);
int raft_membership_change(struct raft *r, uint8_t op, uint64_t id);
/* The latest committed configuration (the one before an uncommitted
 * change, if there is one). */
void raft_conf_committed(const struct raft *r, struct raft_conf *out);
/* Leader removed from the voters steps down once that change commits. */
void raft_conf_check_removed(struct raft *r);
bool raft_conf_check(const struct raft_conf *conf);

/* ---- read.c ---- */

int raft_read_request(struct raft *r, uint64_t request_id, uint8_t mode);
int raft_recv_read_index(struct raft *r, const struct raft_msg *m);
int raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m);
/* Leader: assigns waiting reads to a new heartbeat round if allowed. */
void raft_read_kick(struct raft *r);
/* Leader: completes reads whose round a quorum acknowledged. */
void raft_read_advance(struct raft *r);
/* Fails every pending read (leadership lost, shutdown). */
void raft_read_fail_all(struct raft *r, int status);
void raft_read_tick(struct raft *r);
uint64_t raft_read_deadline(const struct raft *r);
bool raft_lease_valid(const struct raft *r);
void raft_read_free(struct raft *r);

#endif
