/*
 * cluster_net.c: the daemon's struct cluster_net over src/node/transport:
 * listens on this node's peer port, dials every peer, authenticates with
 * cluster-secret (HMAC handshake inside the transport) and hands received
 * frames to cluster_recv.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "node/cluster_int.h"
#include "node/transport.h"

struct cluster_tnet {
    struct cluster *c;
    struct transport *t;
};

static void tnet_recv(void *ctx, uint64_t from, const uint8_t *frame,
                      size_t len)
{
    struct cluster_tnet *tn = ctx;
    cluster_recv(tn->c, from, frame, len);
}

static void tnet_peer(void *ctx, uint64_t peer_id, bool up)
{
    struct cluster_tnet *tn = ctx;
    LOG_NOTICE("cluster: link to peer %llu is %s", (unsigned long long)peer_id,
               up ? "up" : "down");
    cluster_peer_link(tn->c, peer_id, up);
}

static int tnet_send(void *ctx, uint64_t peer, const void *frame, size_t len)
{
    struct cluster_tnet *tn = ctx;
    return transport_send(tn->t, peer, frame, len);
}

static int tnet_peer_set(void *ctx, uint64_t peer, const char *host,
                         uint16_t port)
{
    struct cluster_tnet *tn = ctx;
    return transport_peer_set(tn->t, peer, host, port);
}

static void tnet_peer_remove(void *ctx, uint64_t peer)
{
    struct cluster_tnet *tn = ctx;
    transport_peer_remove(tn->t, peer);
}

static void tnet_free(void *ctx)
{
    struct cluster_tnet *tn = ctx;
    transport_free(tn->t);
    cairn_free(tn);
}

int cluster_net_default(struct cluster *c, struct cluster_net *out)
{
    struct cluster_tnet *tn = cairn_calloc(1, sizeof(*tn));
    if (tn == NULL)
        return CAIRN_ENOMEM;
    tn->c = c;
    struct transport_config tc;
    memset(&tc, 0, sizeof(tc));
    tc.self_id = c->self_id;
    tc.secret = (const uint8_t *)c->cfg->cluster_secret;
    tc.secret_len = strlen(c->cfg->cluster_secret);
    tc.frame_size_max = CAIRN_RAFT_MSG_SIZE_MAX + 64;
    int rc = transport_new(c->io, &tc, tn, tnet_recv, tnet_peer, &tn->t);
    if (rc != 0) {
        LOG_WARNING("cluster: cannot create the transport: %s",
                    cairn_strerror(rc));
        cairn_free(tn);
        return rc == CAIRN_EINVAL ? CAIRN_ECONFIG : rc;
    }
    const struct cluster_peer *self = cluster_peer_find(c, c->self_id);
    rc = transport_listen(tn->t, self->host, self->peer_port);
    if (rc != 0) {
        LOG_WARNING("cluster: cannot listen for peers on %s:%u: %s",
                    self->host, self->peer_port, cairn_strerror(rc));
        transport_free(tn->t);
        cairn_free(tn);
        return rc;
    }
    LOG_NOTICE("cluster: listening for peers on %s:%u", self->host,
               self->peer_port);
    out->ctx = tn;
    out->send = tnet_send;
    out->peer_set = tnet_peer_set;
    out->peer_remove = tnet_peer_remove;
    out->free = tnet_free;
    return 0;
}
