/*
 * cmd_cluster.c: CLUSTER (INFO, NODES, MYID, SLOTS, SHARDS-less subset,
 * ADDNODE, DELNODE, PROMOTE, TRANSFER), READONLY, READWRITE, and the
 * replication section of INFO.
 *
 * Redis formats: one Raft group owns every slot, so CLUSTER NODES shows the
 * leader as the master of 0-16383 and every other member as its replica
 * ("slave <leader id>").  Node ids are 40 hex characters as in Redis: the
 * numeric node id, zero-padded.  On a single node (no cluster-peers)
 * CLUSTER answers "ERR This instance has cluster support disabled" as Redis.
 */
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "node/cluster_int.h"
#include "node/cmd_server_int.h"
#include "node/node_int.h"

#define ERR_DISABLED "ERR This instance has cluster support disabled"

static void node_name(uint64_t id, char out[41])
{
    snprintf(out, 41, "%040llx", (unsigned long long)id);
}

static struct cluster *cluster_of(struct cmd_ctx *c)
{
    struct cluster *cl = c->node->cluster;
    if (cl == NULL)
        resp_reply_error(c->w, ERR_DISABLED);
    return cl;
}

static void reply_buf(struct cmd_ctx *c, const struct buf *b)
{
    resp_reply_verbatim(c->w, b->data != NULL ? b->data : "", b->len);
}

static void cluster_info_cmd(struct cmd_ctx *c)
{
    struct cluster *cl = cluster_of(c);
    if (cl == NULL)
        return;
    struct cluster_status st;
    cluster_status_get(cl, &st);
    struct buf b;
    buf_init(&b, 0);
    bool ok = st.leader_id != 0 && !st.recovering;
    (void)buf_printf(
        &b,
        "cluster_state:%s\r\ncluster_slots_assigned:16384\r\n"
        "cluster_slots_ok:%d\r\ncluster_slots_pfail:0\r\n"
        "cluster_slots_fail:%d\r\ncluster_known_nodes:%u\r\n"
        "cluster_size:1\r\ncluster_current_epoch:%llu\r\n"
        "cluster_my_epoch:%llu\r\ncluster_stats_messages_sent:0\r\n"
        "cluster_stats_messages_received:0\r\n"
        "total_cluster_links_buffer_limit_exceeded:0\r\n",
        ok ? "ok" : "fail", ok ? 16384 : 0, ok ? 0 : 16384, st.members,
        (unsigned long long)st.term, (unsigned long long)st.term);
    reply_buf(c, &b);
    buf_free(&b);
}

static void nodes_line(struct cluster *cl, struct buf *b,
                       const struct cluster_peer *p, uint64_t leader,
                       uint64_t term, bool learner)
{
    char name[41], lname[41];
    node_name(p->id, name);
    node_name(leader, lname);
    bool self = p->id == cl->self_id;
    bool master = p->id == leader;
    (void)buf_printf(b, "%s %s:%u@%u %s%s%s %s 0 0 %llu connected%s\n", name,
                     p->host, p->port, p->peer_port, self ? "myself," : "",
                     master ? "master" : "slave", learner ? ",nofailover" : "",
                     master || leader == 0 ? "-" : lname,
                     (unsigned long long)term, master ? " 0-16383" : "");
}

static void cluster_nodes_cmd(struct cmd_ctx *c)
{
    struct cluster *cl = cluster_of(c);
    if (cl == NULL)
        return;
    struct cluster_status st;
    cluster_status_get(cl, &st);
    struct raft_status rst;
    memset(&rst, 0, sizeof(rst));
    if (cl->raft != NULL)
        raft_status_get(cl->raft, &rst);
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < cl->n_peers; i++) {
        const struct cluster_peer *p = &cl->peers[i];
        const struct raft_member *m = raft_conf_find(&rst.conf, p->id);
        if (m == NULL && p->id != cl->self_id)
            continue; /* not a member (removed, or not yet added) */
        nodes_line(cl, &b, p, st.leader_id, st.term,
                   m != NULL && m->role == RAFT_LEARNER);
    }
    reply_buf(c, &b);
    buf_free(&b);
}

static void cluster_myid_cmd(struct cmd_ctx *c)
{
    struct cluster *cl = cluster_of(c);
    if (cl == NULL)
        return;
    char name[41];
    node_name(cl->self_id, name);
    resp_reply_bulk(c->w, name, 40);
}

static void slot_node(struct cmd_ctx *c, const struct cluster_peer *p)
{
    char name[41];
    node_name(p->id, name);
    resp_reply_array(c->w, 3);
    resp_reply_bulk(c->w, p->host, strlen(p->host));
    resp_reply_int(c->w, p->port);
    resp_reply_bulk(c->w, name, 40);
}

static void cluster_slots_cmd(struct cmd_ctx *c)
{
    struct cluster *cl = cluster_of(c);
    if (cl == NULL)
        return;
    struct cluster_peer *leader = cluster_peer_find(cl, cl->leader_id);
    if (leader == NULL) {
        resp_reply_array(c->w, 0);
        return;
    }
    size_t replicas = 0;
    for (size_t i = 0; i < cl->n_peers; i++)
        replicas += cl->peers[i].id != leader->id;
    resp_reply_array(c->w, 1);
    resp_reply_array(c->w, 3 + replicas);
    resp_reply_int(c->w, 0);
    resp_reply_int(c->w, 16383);
    slot_node(c, leader);
    for (size_t i = 0; i < cl->n_peers; i++)
        if (cl->peers[i].id != leader->id)
            slot_node(c, &cl->peers[i]);
}

static bool parse_id(struct cmd_ctx *c, int i, uint64_t *out)
{
    int64_t v;
    if (cairn_str_to_i64(c->argv[i], c->argv_len[i], &v) != 0 || v <= 0) {
        resp_reply_error(c->w, "ERR invalid node id");
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static void member_reply(struct cmd_ctx *c, int rc)
{
    if (rc == 0)
        resp_reply_ok(c->w);
    else if (rc == CAIRN_ENOTLEADER)
        resp_reply_error(c->w, "ERR not the leader; send it to the leader");
    else
        resp_reply_errorf(c->w, "ERR %s", cairn_strerror(rc));
}

/* The cluster and the node id a membership command names (argv[2]); with
 * not_self, this node is refused: it is a member already, and adding or
 * promoting it would make the leader re-admit (and message) itself.
 * Replies and returns NULL when there is nothing to do. */
static struct cluster *member_target(struct cmd_ctx *c, uint64_t *id,
                                     bool not_self)
{
    struct cluster *cl = cluster_of(c);
    if (cl == NULL || !parse_id(c, 2, id))
        return NULL;
    if (not_self && *id == cl->self_id) {
        resp_reply_error(c->w, "ERR node is this node; it is a member already");
        return NULL;
    }
    return cl;
}

static void cluster_addnode_cmd(struct cmd_ctx *c)
{
    uint64_t id;
    struct cluster *cl = member_target(c, &id, true);
    if (cl == NULL)
        return;
    if (!cluster_is_leader(cl)) {
        member_reply(c, CAIRN_ENOTLEADER);
        return;
    }
    if (c->argc >= 4) {
        struct config_peer p;
        char spec[128];
        int n = snprintf(spec, sizeof(spec), "%llu@%.*s",
                         (unsigned long long)id, (int)c->argv_len[3],
                         c->argv[3]);
        const char *why = NULL;
        if (c->argc > 4 || n >= (int)sizeof(spec) ||
            config_peers_parse(spec, &p, 1, &why) != 1) {
            resp_reply_errorf(c->w, "ERR bad address: %s",
                              why != NULL ? why : "expected host:port");
            return;
        }
        int rc = cluster_propose_peer(cl, id, p.host, p.port);
        if (rc != 0) {
            member_reply(c, rc);
            return;
        }
    } else if (cluster_peer_find(cl, id) == NULL) {
        resp_reply_error(c->w, "ERR unknown node: give its host:port");
        return;
    }
    member_reply(c, cluster_member_change(cl, RAFT_CHANGE_ADD_LEARNER, id));
}

static void cluster_delnode_cmd(struct cmd_ctx *c)
{
    uint64_t id;
    struct cluster *cl = member_target(c, &id, false);
    if (cl == NULL)
        return;
    member_reply(c, cluster_member_change(cl, RAFT_CHANGE_REMOVE, id));
}

static void cluster_promote_cmd(struct cmd_ctx *c)
{
    uint64_t id;
    struct cluster *cl = member_target(c, &id, true);
    if (cl == NULL)
        return;
    member_reply(c, cluster_member_change(cl, RAFT_CHANGE_PROMOTE, id));
}

static void cluster_transfer_cmd(struct cmd_ctx *c)
{
    struct cluster *cl = cluster_of(c);
    uint64_t id = 0;
    if (cl == NULL || (c->argc == 3 && !parse_id(c, 2, &id)))
        return;
    if (!cluster_is_leader(cl)) {
        member_reply(c, CAIRN_ENOTLEADER);
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.target_id = id;
    member_reply(c, cluster_step(cl, &ev));
}

static void cluster_help_cmd(struct cmd_ctx *c)
{
    static const char *const lines[] = {
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "INFO", "    Return information about the cluster.",
        "NODES", "    Return the cluster configuration as Redis does.",
        "MYID", "    Return this node's id.",
        "SLOTS", "    Return slot ranges (one range: 0-16383) and owners.",
        "ADDNODE <id> <host:port>",
        "    Add a node (listed in cluster-peers) as a learner; it is "
        "promoted once caught up.",
        "DELNODE <id>", "    Remove a node from the group.",
        "PROMOTE <id>", "    Make a caught-up learner a voter.",
        "TRANSFER [<id>]", "    Hand leadership to a voter.",
        "HELP", "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

static const struct subcommand cluster_subcommands[] = {
    {"info", 2, cluster_info_cmd},       {"nodes", 2, cluster_nodes_cmd},
    {"myid", 2, cluster_myid_cmd},       {"slots", 2, cluster_slots_cmd},
    {"addnode", -3, cluster_addnode_cmd}, {"delnode", 3, cluster_delnode_cmd},
    {"promote", 3, cluster_promote_cmd}, {"transfer", -2, cluster_transfer_cmd},
    {"help", 2, cluster_help_cmd},       {NULL, 0, NULL},
};

void cmd_cluster(struct cmd_ctx *c)
{
    (void)cmd_subcommand_run(c, "CLUSTER", cluster_subcommands);
}

void cmd_readonly(struct cmd_ctx *c)
{
    if (c->node->cluster == NULL) {
        resp_reply_error(c->w, ERR_DISABLED);
        return;
    }
    c->session->readonly = true;
    resp_reply_ok(c->w);
}

void cmd_readwrite(struct cmd_ctx *c)
{
    if (c->node->cluster == NULL) {
        resp_reply_error(c->w, ERR_DISABLED);
        return;
    }
    c->session->readonly = false;
    resp_reply_ok(c->w);
}

static void info_peers(struct cluster *cl, struct buf *b,
                       const struct raft_status *rst)
{
    size_t k = 0;
    for (size_t i = 0; i < cl->n_peers; i++) {
        const struct cluster_peer *p = &cl->peers[i];
        if (p->id == cl->self_id)
            continue;
        const struct raft_member *m = raft_conf_find(&rst->conf, p->id);
        uint64_t match = p->match_index;
        uint64_t lag = rst->last_index > match ? rst->last_index - match : 0;
        (void)buf_printf(b,
                         "peer%zu:id=%llu,addr=%s:%u,role=%s,match_index=%llu,"
                         "lag=%llu\r\n",
                         k++, (unsigned long long)p->id, p->host, p->port,
                         m == NULL ? "none"
                         : m->role == RAFT_VOTER ? "voter"
                                                 : "learner",
                         (unsigned long long)match, (unsigned long long)lag);
    }
}

void cluster_info_replication(struct node *n, struct buf *b)
{
    struct cluster *cl = n->cluster;
    ASSERT(cl != NULL);
    struct cluster_status st;
    cluster_status_get(cl, &st);
    struct raft_status rst;
    memset(&rst, 0, sizeof(rst));
    if (cl->raft != NULL)
        raft_status_get(cl->raft, &rst);
    const struct cluster_peer *lp = cluster_peer_find(cl, st.leader_id);
    bool leader = st.role == RAFT_LEADER;
    (void)buf_printf(
        b,
        "role:%s\r\nraft_role:%s\r\nnode_id:%llu\r\nraft_term:%llu\r\n"
        "leader_id:%llu\r\nleader_addr:%s:%u\r\nvoter:%d\r\n"
        "recovering:%d\r\ncommit_index:%llu\r\napplied_index:%llu\r\n"
        "last_index:%llu\r\nentries_applied:%llu\r\n"
        "writes_forwarded:%llu\r\nconnected_slaves:%zu\r\n",
        leader ? "master" : "slave",
        cl->raft != NULL ? raft_role_name(st.role) : "starting",
        (unsigned long long)cl->self_id, (unsigned long long)st.term,
        (unsigned long long)st.leader_id, lp != NULL ? lp->host : "",
        lp != NULL ? lp->port : 0, st.voter, st.recovering,
        (unsigned long long)st.commit_index,
        (unsigned long long)st.applied_index,
        (unsigned long long)st.last_index,
        (unsigned long long)cl->entries_applied,
        (unsigned long long)cl->writes_forwarded,
        leader ? cl->n_peers - 1 : 0);
    if (leader && cl->raft != NULL)
        info_peers(cl, b, &rst);
    if (!leader)
        /* Redis's replica fields, for tools that read them. */
        (void)buf_printf(b,
                         "master_host:%s\r\nmaster_port:%u\r\n"
                         "master_link_status:%s\r\n",
                         lp != NULL ? lp->host : "", lp != NULL ? lp->port : 0,
                         lp != NULL && !st.recovering ? "up" : "down");
}
