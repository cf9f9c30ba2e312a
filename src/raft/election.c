/*
 * election.c: timers, PreVote, RequestVote, role changes and leadership
 * transfer.
 *
 * Rules kept here (paper §5.1, §5.2, §5.4.1; thesis §3.10, §4.2.3, §9.6):
 *   - a server votes at most once per term, for a candidate whose log is at
 *     least as up-to-date as its own; a vote grant and a candidate's own
 *     vote requests leave only once (term, vote) is durable (held
 *     messages in raft.c);
 *   - the election timeout is drawn from [min, max) on every reset;
 *   - PreVote: a would-be candidate first asks whether it could win at
 *     term+1, without changing anyone's term;
 *   - with check_quorum, a server that heard from a live leader within the
 *     minimum election timeout ignores (pre)vote requests, unless the
 *     candidate was told to campaign by the leader (TimeoutNow);
 *   - only voters of the latest configuration campaign;
 *   - a transfer refuses proposals, sends TimeoutNow once the target holds
 *     the whole log, and gives up after an election timeout.
 */
#include <string.h>

#include "core/assert.h"
#include "core/error.h"
#include "core/log.h"
#include "raft/raft_int.h"

void raft_election_reset_timer(struct raft *r)
{
    uint64_t lo = r->cfg.election_timeout_ms_min;
    uint64_t hi = r->cfg.election_timeout_ms_max;
    uint64_t t = hi > lo ? cairn_rng_range(&r->rng, lo, hi - 1) : lo;
    r->election_deadline = r->now + t;
}

static void set_role(struct raft *r, uint8_t role, uint64_t leader)
{
    r->role = role;
    r->leader_id = leader;
}

static void leader_state_clear(struct raft *r)
{
    if (r->role == RAFT_LEADER || r->reads.n > 0)
        raft_read_fail_all(r, CAIRN_ENOTLEADER);
    r->transfer_target = 0;
    r->transfer_sent = false;
    r->lease_revoked = false;
    r->read_round_ctx = 0;
    r->noop_index = 0;
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    ASSERT(term >= r->term);
    leader_state_clear(r);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
    }
    set_role(r, RAFT_FOLLOWER, leader);
    raft_election_reset_timer(r);
}

int raft_become_leader(struct raft *r)
{
    ASSERT(r->role == RAFT_CANDIDATE);
    ASSERT(r->vote == r->cfg.id);
    leader_state_clear(r);
    set_role(r, RAFT_LEADER, r->cfg.id);
    int rc = raft_progress_sync(r);
    if (rc != 0)
        return rc;
    raft_progress_reset_all(r);
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++)
        r->prs[i].hb_acked_ctx = 0;
    r->heartbeat_deadline = r->now + r->cfg.heartbeat_interval_ms;
    r->cq_deadline = r->now + r->cfg.election_timeout_ms_min;
    /* §8 and §5.4.2: a no-op of the new term lets the leader learn what is
     * committed and commit earlier entries indirectly. */
    rc = raft_leader_append(r, RAFT_ENTRY_NOOP, NULL, 0);
    if (rc != 0) {
        /* A leader without its no-op could never commit: stand down and
         * let the next election (maybe ours) retry. */
        raft_become_follower(r, r->term, 0);
        return rc;
    }
    r->noop_index = raft_log_last_index(&r->log);
    LOG_VERBOSE("raft %llu: leader of term %llu",
                (unsigned long long)r->cfg.id, (unsigned long long)r->term);
    raft_broadcast_append(r);
    raft_maybe_commit(r);
    return 0;
}

static bool votes_quorum(const struct raft *r, bool granted)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_votes; i++)
        if (r->votes_granted[i] == granted &&
            raft_is_voter(&r->conf, r->votes_from[i]))
            n++;
    return n >= raft_voter_count(&r->conf) / 2 + 1;
}

static void record_vote(struct raft *r, uint64_t from, bool granted)
{
    for (uint32_t i = 0; i < r->n_votes; i++)
        if (r->votes_from[i] == from)
            return;
    if (r->n_votes >= RAFT_MEMBERS_MAX)
        return;
    r->votes_from[r->n_votes] = from;
    r->votes_granted[r->n_votes] = granted;
    r->n_votes++;
}

static void send_vote_requests(struct raft *r, bool prevote, bool transfer)
{
    for (uint32_t i = 0; i < r->conf.n_members; i++) {
        const struct raft_member *m = &r->conf.members[i];
        if (m->role != RAFT_VOTER || m->id == r->cfg.id)
            continue;
        struct raft_msg msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = prevote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
        /* PreVote asks about the term we would campaign in. */
        msg.term = prevote ? r->term + 1 : r->term;
        msg.to = m->id;
        msg.vote.last_log_index = raft_log_last_index(&r->log);
        msg.vote.last_log_term = raft_log_last_term(&r->log);
        msg.vote.transfer = transfer;
        if (prevote)
            raft_send(r, &msg);
        else
            raft_send_held(r, &msg, 0); /* after (term, vote) is durable */
    }
}

/* Starts a PreVote round (prevote) or a real election; transfer marks a
 * campaign ordered by TimeoutNow. */
static int campaign(struct raft *r, bool prevote, bool transfer)
{
    if (prevote) {
        r->n_votes = 0;
        set_role(r, RAFT_PRECANDIDATE, 0);
        raft_election_reset_timer(r);
        record_vote(r, r->cfg.id, true);
        if (!votes_quorum(r, true)) {
            send_vote_requests(r, true, transfer);
            return 0;
        }
        /* A single voter needs nobody's opinion: campaign for real. */
    }
    r->n_votes = 0;
    leader_state_clear(r);
    r->term++;
    r->vote = r->cfg.id;
    set_role(r, RAFT_CANDIDATE, 0);
    raft_election_reset_timer(r);
    record_vote(r, r->cfg.id, true);
    if (votes_quorum(r, true))
        return raft_become_leader(r);
    send_vote_requests(r, false, transfer);
    return 0;
}

/* A voter of the latest configuration campaigns; so does a voter whose
 * removal is not committed yet: its log may be the only one holding that
 * removal, and the remaining voters could otherwise never elect anyone
 * (thesis §4.2.2: a server outside the new configuration may lead until
 * the change commits).  Votes are still counted in the latest one. */
static bool may_campaign(const struct raft *r)
{
    if (raft_is_voter(&r->conf, r->cfg.id))
        return true;
    if (r->conf_index <= r->commit)
        return false;
    struct raft_conf committed;
    raft_conf_committed(r, &committed);
    return raft_is_voter(&committed, r->cfg.id);
}

void raft_election_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER || r->now < r->election_deadline)
        return;
    if (!may_campaign(r)) {
        /* Learners and removed servers never campaign. */
        raft_election_reset_timer(r);
        return;
    }
    (void)campaign(r, r->cfg.prevote, false);
}

bool raft_in_leader_lease(const struct raft *r)
{
    if (!r->cfg.check_quorum)
        return false;
    if (r->role == RAFT_LEADER)
        return true;
    return r->leader_id != 0 &&
           r->now < r->last_leader_contact + r->cfg.election_timeout_ms_min;
}

static bool log_up_to_date(const struct raft *r, const struct raft_msg *m)
{
#if defined(CAIRN_MUTANT) && CAIRN_MUTANT == 7
    /* MUTANT 7: grant without the §5.4.1 up-to-date check. */
    (void)r;
    (void)m;
    return true;
#else
    /* §5.4.1: later last term wins; same term, longer log wins. */
    uint64_t lt = raft_log_last_term(&r->log);
    if (m->vote.last_log_term != lt)
        return m->vote.last_log_term > lt;
    return m->vote.last_log_index >= raft_log_last_index(&r->log);
#endif
}

int raft_recv_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term && !m->vote.transfer && raft_in_leader_lease(r))
        return 0; /* stickiness: a live leader exists; ignore */
    if (!pre && m->term > r->term)
        raft_become_follower(r, m->term, 0);
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    resp.to = m->from;
    bool grant;
    if (pre)
        grant = m->term > r->term && log_up_to_date(r, m);
    else
        grant = m->term == r->term &&
                (r->vote == 0 || r->vote == m->from) && log_up_to_date(r, m);
    resp.vote_resp.granted = grant;
    if (!grant) {
        raft_send(r, &resp);
        return 0;
    }
    if (pre) {
        /* A prevote grant is answered at the term asked about. */
        resp.term = m->term;
        raft_send(r, &resp);
        return 0;
    }
    r->vote = m->from;
    raft_election_reset_timer(r);
    raft_send_held(r, &resp, 0); /* the vote must be durable first */
    return 0;
}

int raft_recv_vote_resp(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (m->term > r->term && !(pre && m->vote_resp.granted)) {
        raft_become_follower(r, m->term, 0);
        return 0;
    }
    if (pre ? r->role != RAFT_PRECANDIDATE : r->role != RAFT_CANDIDATE)
        return 0;
    if (pre ? m->term != r->term + 1 : m->term != r->term)
        return 0;
    record_vote(r, m->from, m->vote_resp.granted);
    if (votes_quorum(r, true))
        return pre ? campaign(r, false, false) : raft_become_leader(r);
    if (votes_quorum(r, false))
        raft_become_follower(r, r->term, 0);
    return 0;
}

int raft_recv_timeout_now(struct raft *r, const struct raft_msg *m)
{
    if (m->term != r->term || r->role != RAFT_FOLLOWER)
        return 0;
    if (!may_campaign(r))
        return 0;
    LOG_VERBOSE("raft %llu: TimeoutNow from %llu, campaigning",
                (unsigned long long)r->cfg.id, (unsigned long long)m->from);
    /* Thesis §3.10: skip PreVote; voters bypass stickiness for us. */
    return campaign(r, false, true);
}

static uint64_t transfer_pick(struct raft *r)
{
    uint64_t best = 0, best_match = 0;
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        const struct raft_progress *pr = &r->prs[i];
        if (!pr->used || !pr->voter || pr->id == r->cfg.id)
            continue;
        if (best == 0 || pr->match > best_match) {
            best = pr->id;
            best_match = pr->match;
        }
    }
    return best;
}

int raft_transfer_start(struct raft *r, uint64_t target)
{
    if (r->role != RAFT_LEADER)
        return CAIRN_ENOTLEADER;
    if (r->transfer_target != 0)
        return CAIRN_ETRANSFER;
    if (target == 0)
        target = transfer_pick(r);
    if (target == 0 || target == r->cfg.id || !raft_is_voter(&r->conf, target))
        return CAIRN_EINVAL;
    r->transfer_target = target;
    r->transfer_sent = false;
    r->transfer_deadline = r->now + r->cfg.election_timeout_ms_min;
    struct raft_progress *pr = raft_progress_find(r, target);
    ASSERT(pr != NULL);
    raft_transfer_check(r, pr);
    if (!r->transfer_sent)
        raft_send_append(r, pr, false);
    return 0;
}

void raft_transfer_check(struct raft *r, const struct raft_progress *pr)
{
    if (r->transfer_target != pr->id || r->transfer_sent)
        return;
    if (pr->match != raft_log_last_index(&r->log))
        return;
    struct raft_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = RAFT_MSG_TIMEOUT_NOW;
    msg.to = pr->id;
    raft_send(r, &msg);
    r->transfer_sent = true;
    /* The target's voters will ignore our lease (etcd-io/raft #99): from
     * now on this leader may not serve lease reads in this term. */
    r->lease_revoked = true;
}

void raft_transfer_abort(struct raft *r)
{
    r->transfer_target = 0;
    r->transfer_sent = false;
}
