/*
 * io_uv.c: struct io on libuv, for the daemon.
 *
 * Tuned for many small request/reply exchanges: reads land in one shared
 * 64 KiB buffer owned by the binding (a read callback's data is valid only
 * during the call, so one buffer serves every connection of this
 * single-threaded loop); writes try uv_try_write() first and copy only the
 * part the socket did not take.  Each connection keeps two byte buffers:
 * `inflight`, handed to the one uv_write() in progress, and `queue`, which
 * collects later writes; when the write completes they swap.  In steady state
 * no write allocates.
 *
 * Invariants:
 *  - at most one uv_write() per connection is in progress, and it owns
 *    `inflight` until its callback runs (checked in start_write);
 *  - once a handle is closed no user callback fires for it (`closing` /
 *    `closed` flags are checked at the top of every libuv callback);
 *  - handle memory is freed only from libuv close callbacks, and every handle
 *    is counted in handles_open until then (io_uv_free asserts zero).
 */
#include "io/io_uv.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/log.h"

#define CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct io_uv {
    struct io io; /* first: struct io * and struct io_uv * convert */
    uv_loop_t *loop;
    uint64_t seed;
    size_t handles_open;
    char *read_buf; /* CAIRN_IO_READ_CHUNK bytes shared by all conns */
};

struct uv_timer_io {
    struct io_timer base;
    struct io_uv *u;
    uv_timer_t h;
    void *ctx;
    io_timer_cb cb;
};

struct uv_conn {
    struct io_conn base;
    struct io_uv *u;
    uv_tcp_t tcp;
    void *ctx;
    struct io_conn_handlers h;
    bool started;
    bool reading; /* uv_read_start is in effect */
    bool paused;  /* the owner asked for no reads */
    bool eof;     /* eof_cb was delivered (or is not wanted any more) */
    bool closing;
    bool write_active; /* wreq is in flight and owns inflight */
    struct buf inflight;
    struct buf queue;
    uv_write_t wreq;
};

struct uv_listener {
    struct io_listener base;
    struct io_uv *u;
    uv_tcp_t tcp;
    uv_tcp_t reject; /* accepts and drops a peer when no memory is left */
    bool reject_busy;
    bool accept_deferred; /* a peer waits for `reject` to be free */
    bool closing;
    int closes_pending;
    void *ctx;
    io_accept_cb cb;
};

struct uv_connect_req {
    uv_connect_t req;
    struct uv_conn *c;
    void *ctx;
    io_connect_cb cb;
};

struct uv_file_io {
    struct io_file base;
    struct io_uv *u;
    uv_file fd;
    int ops_pending;
    bool closed; /* the owner called file_close: no more callbacks */
};

struct uv_fs_op {
    uv_fs_t req;
    struct io_uv *u;
    struct uv_file_io *f; /* NULL for rename/unlink */
    void *ctx;
    io_file_cb cb;
    io_file_open_cb open_cb;
    /* write progress, for short writes */
    const char *data;
    size_t len;
    size_t done;
    uint64_t offset;
};

/* uv_buf_init takes an unsigned int length; build the buffer directly so
 * lengths over 4 GiB are not truncated. */
static uv_buf_t make_buf(const void *p, size_t len)
{
    uv_buf_t b;
    b.base = (char *)(uintptr_t)p;
    b.len = len;
    return b;
}

static struct io_uv *to_uv(struct io *io)
{
    return (struct io_uv *)(void *)io;
}

/* Maps a libuv error to a CAIRN_E* code. */
static int err_from_uv(int uv_err)
{
    switch (uv_err) {
    case 0:
        return 0;
    case UV_ENOMEM:
        return CAIRN_ENOMEM;
    case UV_ENOENT:
        return CAIRN_ENOTFOUND;
    case UV_EEXIST:
        return CAIRN_EEXIST;
    case UV_EADDRINUSE:
    case UV_EADDRNOTAVAIL:
    case UV_EACCES:
    case UV_EINVAL:
    case UV_EAI_NONAME:
        return CAIRN_EADDR;
    case UV_EOF:
    case UV_ECONNRESET:
    case UV_EPIPE:
    case UV_ECONNREFUSED:
    case UV_ECANCELED:
        return CAIRN_ECLOSED;
    default:
        return CAIRN_EIO;
    }
}

/* ---- clock and randomness ---- */

static uint64_t uvio_now_ms(struct io *io)
{
    /* The loop's cached time: refreshed every iteration, no syscall. */
    return uv_now(to_uv(io)->loop);
}

static uint64_t uvio_now_us(struct io *io)
{
    (void)io;
    return uv_hrtime() / 1000;
}

static int64_t uvio_wall_ms(struct io *io)
{
    (void)io;
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0)
        return 0;
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint64_t uvio_random_seed(struct io *io)
{
    return to_uv(io)->seed;
}

/* ---- timers ---- */

static void handle_freed_cb(uv_handle_t *h);

static void timer_fire_cb(uv_timer_t *h)
{
    struct uv_timer_io *t = CONTAINER_OF(h, struct uv_timer_io, h);
    t->cb(t->ctx);
}

static struct io_timer *uvio_timer_new(struct io *io, void *ctx,
                                       io_timer_cb cb)
{
    struct io_uv *u = to_uv(io);
    struct uv_timer_io *t = cairn_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->base.io = io;
    t->u = u;
    t->ctx = ctx;
    t->cb = cb;
    int rc = uv_timer_init(u->loop, &t->h);
    ASSERT(rc == 0); /* uv_timer_init cannot fail on a live loop */
    t->h.data = t;
    u->handles_open++;
    return &t->base;
}

static void uvio_timer_start(struct io_timer *base, uint64_t delay_ms)
{
    struct uv_timer_io *t = (struct uv_timer_io *)(void *)base;
    int rc = uv_timer_start(&t->h, timer_fire_cb, delay_ms, 0);
    ASSERT(rc == 0);
}

static void uvio_timer_stop(struct io_timer *base)
{
    struct uv_timer_io *t = (struct uv_timer_io *)(void *)base;
    uv_timer_stop(&t->h);
}

static void uvio_timer_free(struct io_timer *base)
{
    struct uv_timer_io *t = (struct uv_timer_io *)(void *)base;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, handle_freed_cb);
}

/* Every handle stores its owning allocation in h->data; the count of open
 * handles drops when libuv is done with it. */
static void handle_freed_cb(uv_handle_t *h)
{
    struct io_timer *base = h->data;
    struct io_uv *u = to_uv(base->io);
    ASSERT(u->handles_open > 0);
    u->handles_open--;
    cairn_free(h->data);
}

/* ---- connections: reading ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *out)
{
    (void)hint;
    struct uv_conn *c = h->data;
    out->base = c->u->read_buf;
    out->len = CAIRN_IO_READ_CHUNK;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct uv_conn *c = s->data;
    if (c->closing)
        return;
    if (nread > 0) {
        c->h.read_cb(c->ctx, &c->base, b->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return; /* EAGAIN */
    uv_read_stop(s);
    c->reading = false;
    if (!c->eof) {
        c->eof = true;
        c->h.eof_cb(c->ctx, &c->base,
                    nread == UV_EOF ? CAIRN_ECLOSED : err_from_uv((int)nread));
    }
}

static void reading_update(struct uv_conn *c)
{
    bool want = c->started && !c->paused && !c->eof && !c->closing;
    if (want == c->reading)
        return;
    if (want) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc != 0) {
            LOG_WARNING("io_uv: uv_read_start failed: %s", uv_strerror(rc));
            return; /* the write side will surface the failure */
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->reading = want;
}

static void uvio_conn_start(struct io_conn *base, void *ctx,
                            const struct io_conn_handlers *h)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    ASSERT(!c->started);
    ASSERT(h->read_cb != NULL && h->eof_cb != NULL);
    c->ctx = ctx;
    c->h = *h;
    c->started = true;
    reading_update(c);
}

static void uvio_conn_read_pause(struct io_conn *base)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    c->paused = true;
    reading_update(c);
}

static void uvio_conn_read_resume(struct io_conn *base)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    c->paused = false;
    reading_update(c);
}

/* ---- connections: writing ---- */

static void write_done_cb(uv_write_t *req, int status);

/* Hands the queue to one uv_write.  Precondition: no write in flight. */
static int start_write(struct uv_conn *c)
{
    ASSERT(!c->write_active);
    ASSERT(c->inflight.len == 0);
    if (c->queue.len == 0)
        return 0;
    struct buf tmp = c->inflight;
    c->inflight = c->queue;
    c->queue = tmp;
    uv_buf_t b = make_buf(c->inflight.data, c->inflight.len);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_done_cb);
    if (rc != 0) {
        buf_clear(&c->inflight);
        return err_from_uv(rc);
    }
    c->write_active = true;
    return 0;
}

static void report_failure(struct uv_conn *c, int err)
{
    if (c->eof || c->closing)
        return;
    c->eof = true;
    reading_update(c);
    c->h.eof_cb(c->ctx, &c->base, err);
}

static void write_done_cb(uv_write_t *req, int status)
{
    struct uv_conn *c = req->data;
    c->write_active = false;
    buf_clear(&c->inflight);
    if (c->closing)
        return;
    /* Give memory back after a burst of large replies. */
    buf_shrink(&c->inflight, CAIRN_IO_WRITE_BUF_KEEP);
    if (status < 0) {
        buf_clear(&c->queue);
        report_failure(c, err_from_uv(status));
        return;
    }
    int rc = start_write(c);
    if (rc != 0) {
        buf_clear(&c->queue);
        report_failure(c, rc);
        return;
    }
    if (!c->write_active && c->h.drain_cb != NULL)
        c->h.drain_cb(c->ctx, &c->base);
}

static int uvio_conn_write(struct io_conn *base, const void *data, size_t len)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    ASSERT(!c->closing);
    if (len == 0)
        return 0;
    const char *p = data;
    if (!c->write_active && c->queue.len == 0) {
        uv_buf_t b = make_buf(p, len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n >= 0 && (size_t)n == len)
            return 0;
        if (n < 0 && n != UV_EAGAIN)
            return CAIRN_ECLOSED;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    int rc = buf_append(&c->queue, p, len);
    if (rc != 0)
        return rc;
    if (!c->write_active)
        return start_write(c);
    return 0;
}

static size_t uvio_conn_write_pending(struct io_conn *base)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    return c->inflight.len + c->queue.len;
}

static void conn_freed_cb(uv_handle_t *h)
{
    struct uv_conn *c = h->data;
    ASSERT(c->closing);
    ASSERT(!c->write_active);
    buf_free(&c->inflight);
    buf_free(&c->queue);
    ASSERT(c->u->handles_open > 0);
    c->u->handles_open--;
    cairn_free(c);
}

static void uvio_conn_close(struct io_conn *base)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    ASSERT(!c->closing);
    /* Best effort for a last reply (QUIT's +OK, an error before a kick). */
    if (!c->write_active && c->queue.len > 0) {
        uv_buf_t b = make_buf(c->queue.data, c->queue.len);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    c->closing = true;
    reading_update(c);
    uv_close((uv_handle_t *)&c->tcp, conn_freed_cb);
}

static int format_addr(const struct sockaddr_storage *ss, char *out,
                       size_t out_len)
{
    char ip[64];
    int port;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (uv_ip4_name(a, ip, sizeof(ip)) != 0)
            return CAIRN_EINVAL;
        port = ntohs(a->sin_port);
        snprintf(out, out_len, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (uv_ip6_name(a, ip, sizeof(ip)) != 0)
            return CAIRN_EINVAL;
        port = ntohs(a->sin6_port);
        snprintf(out, out_len, "[%s]:%d", ip, port);
    } else {
        return CAIRN_EINVAL;
    }
    return 0;
}

static int uvio_conn_peer_name(struct io_conn *base, char *out,
                               size_t out_len)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    int rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n);
    if (rc != 0)
        return err_from_uv(rc);
    return format_addr(&ss, out, out_len);
}

static int uvio_conn_local_name(struct io_conn *base, char *out,
                                size_t out_len)
{
    struct uv_conn *c = (struct uv_conn *)(void *)base;
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    int rc = uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &n);
    if (rc != 0)
        return err_from_uv(rc);
    return format_addr(&ss, out, out_len);
}

/* A conn with an initialised tcp handle, not yet started. */
static struct uv_conn *conn_new(struct io_uv *u)
{
    struct uv_conn *c = cairn_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base.io = &u->io;
    c->u = u;
    buf_init(&c->inflight, 0);
    buf_init(&c->queue, 0);
    int rc = uv_tcp_init(u->loop, &c->tcp);
    ASSERT(rc == 0);
    c->tcp.data = c;
    c->wreq.data = c;
    u->handles_open++;
    return c;
}

/* ---- listeners ---- */

static void reject_closed_cb(uv_handle_t *h);

/* Accepts the waiting peer into `reject` and closes it at once: without an
 * accept libuv would stop watching the listening socket. */
static void reject_one(struct uv_listener *l)
{
    if (l->reject_busy) {
        l->accept_deferred = true;
        return;
    }
    int rc = uv_tcp_init(l->u->loop, &l->reject);
    ASSERT(rc == 0);
    l->reject.data = l;
    l->reject_busy = true;
    l->closes_pending++;
    (void)uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&l->reject);
    uv_close((uv_handle_t *)&l->reject, reject_closed_cb);
}

static void listener_maybe_free(struct uv_listener *l)
{
    if (!l->closing || l->closes_pending > 0)
        return;
    ASSERT(l->u->handles_open > 0);
    l->u->handles_open--;
    cairn_free(l);
}

static void reject_closed_cb(uv_handle_t *h)
{
    struct uv_listener *l = h->data;
    l->reject_busy = false;
    l->closes_pending--;
    if (l->accept_deferred && !l->closing) {
        l->accept_deferred = false;
        reject_one(l);
    }
    listener_maybe_free(l);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct uv_listener *l = server->data;
    if (l->closing)
        return;
    if (status < 0) {
        LOG_WARNING("io_uv: accept failed: %s", uv_strerror(status));
        return;
    }
    struct uv_conn *c = conn_new(l->u);
    if (c == NULL) {
        LOG_WARNING("io_uv: out of memory accepting a connection; dropped");
        reject_one(l);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_freed_cb);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    /* Find peers that vanished without a FIN (Redis: tcp-keepalive 300). */
    uv_tcp_keepalive(&c->tcp, 1, 300);
    l->cb(l->ctx, &c->base);
    ASSERT(c->started || c->closing); /* the contract of io_accept_cb */
}

static int parse_addr(const char *host, uint16_t port,
                      struct sockaddr_storage *ss)
{
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return CAIRN_EADDR;
}

static void listener_closed_cb(uv_handle_t *h)
{
    struct uv_listener *l = h->data;
    l->closes_pending--;
    listener_maybe_free(l);
}

static int uvio_listen(struct io *io, const char *host, uint16_t port,
                       int backlog, void *ctx, io_accept_cb cb,
                       struct io_listener **out)
{
    struct io_uv *u = to_uv(io);
    struct sockaddr_storage ss;
    int rc = parse_addr(host, port, &ss);
    if (rc != 0)
        return rc;
    struct uv_listener *l = cairn_calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_ENOMEM;
    l->base.io = io;
    l->u = u;
    l->ctx = ctx;
    l->cb = cb;
    rc = uv_tcp_init(u->loop, &l->tcp);
    ASSERT(rc == 0);
    l->tcp.data = l;
    u->handles_open++;
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection);
    if (rc != 0) {
        LOG_WARNING("io_uv: cannot listen on %s:%u: %s", host, port,
                    uv_strerror(rc));
        l->closing = true;
        l->closes_pending = 1;
        uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
        return rc == UV_ENOMEM ? CAIRN_ENOMEM : CAIRN_EADDR;
    }
    *out = &l->base;
    return 0;
}

static void uvio_listener_close(struct io_listener *base)
{
    struct uv_listener *l = (struct uv_listener *)(void *)base;
    ASSERT(!l->closing);
    l->closing = true;
    l->closes_pending++;
    uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
}

uint16_t io_uv_listener_port(struct io_listener *base)
{
    struct uv_listener *l = (struct uv_listener *)(void *)base;
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &n) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* ---- outgoing connections ---- */

static void connect_done_cb(uv_connect_t *req, int status)
{
    struct uv_connect_req *r = CONTAINER_OF(req, struct uv_connect_req, req);
    struct uv_conn *c = r->c;
    io_connect_cb cb = r->cb;
    void *ctx = r->ctx;
    cairn_free(r);
    if (status < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_freed_cb);
        cb(ctx, NULL, err_from_uv(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    cb(ctx, &c->base, 0);
}

static int uvio_connect(struct io *io, const char *host, uint16_t port,
                        void *ctx, io_connect_cb cb)
{
    struct io_uv *u = to_uv(io);
    struct sockaddr_storage ss;
    int rc = parse_addr(host, port, &ss);
    if (rc != 0)
        return rc;
    struct uv_connect_req *r = cairn_calloc(1, sizeof(*r));
    if (r == NULL)
        return CAIRN_ENOMEM;
    struct uv_conn *c = conn_new(u);
    if (c == NULL) {
        cairn_free(r);
        return CAIRN_ENOMEM;
    }
    r->c = c;
    r->ctx = ctx;
    r->cb = cb;
    rc = uv_tcp_connect(&r->req, &c->tcp, (const struct sockaddr *)&ss,
                        connect_done_cb);
    if (rc != 0) {
        cairn_free(r);
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_freed_cb);
        return err_from_uv(rc);
    }
    return 0;
}

/* ---- files ---- */

static struct uv_fs_op *fs_op_new(struct io_uv *u, struct uv_file_io *f,
                                  void *ctx, io_file_cb cb)
{
    struct uv_fs_op *op = cairn_calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->u = u;
    op->f = f;
    op->ctx = ctx;
    op->cb = cb;
    op->req.data = op;
    if (f != NULL)
        f->ops_pending++;
    return op;
}

static void file_close_now(struct uv_file_io *f);

/* Ends an op: calls its callback unless the file was closed meanwhile, and
 * finishes a deferred close when this was the last op. */
static void fs_op_finish(struct uv_fs_op *op, int status, size_t n)
{
    struct uv_file_io *f = op->f;
    io_file_cb cb = op->cb;
    void *ctx = op->ctx;
    uv_fs_req_cleanup(&op->req);
    cairn_free(op);
    if (f == NULL) {
        cb(ctx, status, n);
        return;
    }
    ASSERT(f->ops_pending > 0);
    f->ops_pending--;
    if (!f->closed)
        cb(ctx, status, n);
    else if (f->ops_pending == 0)
        file_close_now(f);
}

static void fs_open_done_cb(uv_fs_t *req)
{
    struct uv_fs_op *op = req->data;
    struct uv_file_io *f = op->f;
    ssize_t result = req->result;
    io_file_open_cb cb = op->open_cb;
    void *ctx = op->ctx;
    uv_fs_req_cleanup(req);
    cairn_free(op);
    f->ops_pending--;
    if (result < 0) {
        f->u->handles_open--;
        cairn_free(f);
        cb(ctx, NULL, err_from_uv((int)result));
        return;
    }
    f->fd = (uv_file)result;
    cb(ctx, &f->base, 0);
}

static int uvio_file_open(struct io *io, const char *path, int flags,
                          void *ctx, io_file_open_cb cb)
{
    struct io_uv *u = to_uv(io);
    int os_flags = 0;
    if ((flags & IO_OPEN_READ) && (flags & IO_OPEN_WRITE))
        os_flags = UV_FS_O_RDWR;
    else if (flags & IO_OPEN_WRITE)
        os_flags = UV_FS_O_WRONLY;
    else
        os_flags = UV_FS_O_RDONLY;
    if (flags & IO_OPEN_CREATE)
        os_flags |= UV_FS_O_CREAT;
    if (flags & IO_OPEN_TRUNCATE)
        os_flags |= UV_FS_O_TRUNC;
    struct uv_file_io *f = cairn_calloc(1, sizeof(*f));
    if (f == NULL)
        return CAIRN_ENOMEM;
    f->base.io = io;
    f->u = u;
    f->fd = -1;
    struct uv_fs_op *op = fs_op_new(u, f, ctx, NULL);
    if (op == NULL) {
        cairn_free(f);
        return CAIRN_ENOMEM;
    }
    op->open_cb = cb;
    u->handles_open++;
    int rc = uv_fs_open(u->loop, &op->req, path, os_flags, 0644,
                        fs_open_done_cb);
    if (rc != 0) {
        u->handles_open--;
        cairn_free(op);
        cairn_free(f);
        return err_from_uv(rc);
    }
    return 0;
}

static void fs_rw_done_cb(uv_fs_t *req)
{
    struct uv_fs_op *op = req->data;
    if (req->result < 0) {
        fs_op_finish(op, err_from_uv((int)req->result), op->done);
        return;
    }
    op->done += (size_t)req->result;
    bool is_write = req->fs_type == UV_FS_WRITE;
    bool progress = req->result > 0;
    if (!is_write || op->done == op->len || !progress || op->f->closed) {
        int status = (is_write && op->done < op->len) ? CAIRN_EIO : 0;
        fs_op_finish(op, status, op->done);
        return;
    }
    /* A short write: send the rest (each round makes progress). */
    uv_fs_req_cleanup(req);
    uv_buf_t b = make_buf(op->data + op->done, op->len - op->done);
    int rc = uv_fs_write(op->u->loop, req, op->f->fd, &b, 1,
                         (int64_t)(op->offset + op->done), fs_rw_done_cb);
    if (rc != 0)
        fs_op_finish(op, err_from_uv(rc), op->done);
}

static int uvio_file_read(struct io_file *base, uint64_t offset, void *buf,
                          size_t len, void *ctx, io_file_cb cb)
{
    struct uv_file_io *f = (struct uv_file_io *)(void *)base;
    ASSERT(!f->closed);
    struct uv_fs_op *op = fs_op_new(f->u, f, ctx, cb);
    if (op == NULL)
        return CAIRN_ENOMEM;
    op->len = len;
    uv_buf_t b = make_buf(buf, len);
    int rc = uv_fs_read(f->u->loop, &op->req, f->fd, &b, 1, (int64_t)offset,
                        fs_rw_done_cb);
    if (rc != 0) {
        f->ops_pending--;
        cairn_free(op);
        return err_from_uv(rc);
    }
    return 0;
}

static int uvio_file_write(struct io_file *base, uint64_t offset,
                           const void *data, size_t len, void *ctx,
                           io_file_cb cb)
{
    struct uv_file_io *f = (struct uv_file_io *)(void *)base;
    ASSERT(!f->closed);
    struct uv_fs_op *op = fs_op_new(f->u, f, ctx, cb);
    if (op == NULL)
        return CAIRN_ENOMEM;
    op->data = data;
    op->len = len;
    op->offset = offset;
    uv_buf_t b = make_buf(data, len);
    int rc = uv_fs_write(f->u->loop, &op->req, f->fd, &b, 1, (int64_t)offset,
                         fs_rw_done_cb);
    if (rc != 0) {
        f->ops_pending--;
        cairn_free(op);
        return err_from_uv(rc);
    }
    return 0;
}

static void fs_simple_done_cb(uv_fs_t *req)
{
    struct uv_fs_op *op = req->data;
    int status = req->result < 0 ? err_from_uv((int)req->result) : 0;
    fs_op_finish(op, status, 0);
}

static int uvio_file_fsync(struct io_file *base, void *ctx, io_file_cb cb)
{
    struct uv_file_io *f = (struct uv_file_io *)(void *)base;
    ASSERT(!f->closed);
    struct uv_fs_op *op = fs_op_new(f->u, f, ctx, cb);
    if (op == NULL)
        return CAIRN_ENOMEM;
    int rc = uv_fs_fsync(f->u->loop, &op->req, f->fd, fs_simple_done_cb);
    if (rc != 0) {
        f->ops_pending--;
        cairn_free(op);
        return err_from_uv(rc);
    }
    return 0;
}

static void fs_close_done_cb(uv_fs_t *req)
{
    struct uv_file_io *f = req->data;
    uv_fs_req_cleanup(req);
    cairn_free(req);
    ASSERT(f->u->handles_open > 0);
    f->u->handles_open--;
    cairn_free(f);
}

static void file_close_now(struct uv_file_io *f)
{
    ASSERT(f->closed);
    ASSERT(f->ops_pending == 0);
    uv_fs_t *req = cairn_malloc(sizeof(*req));
    if (req == NULL) {
        /* No memory for an async close: close synchronously instead. */
        uv_fs_t sync_req;
        uv_fs_close(f->u->loop, &sync_req, f->fd, NULL);
        uv_fs_req_cleanup(&sync_req);
        f->u->handles_open--;
        cairn_free(f);
        return;
    }
    req->data = f;
    int rc = uv_fs_close(f->u->loop, req, f->fd, fs_close_done_cb);
    ASSERT(rc == 0);
}

static void uvio_file_close(struct io_file *base)
{
    struct uv_file_io *f = (struct uv_file_io *)(void *)base;
    ASSERT(!f->closed);
    f->closed = true;
    if (f->ops_pending == 0)
        file_close_now(f);
}

static int path_op(struct io *io, const char *from, const char *to,
                   void *ctx, io_file_cb cb)
{
    struct io_uv *u = to_uv(io);
    struct uv_fs_op *op = fs_op_new(u, NULL, ctx, cb);
    if (op == NULL)
        return CAIRN_ENOMEM;
    int rc = to != NULL
                 ? uv_fs_rename(u->loop, &op->req, from, to, fs_simple_done_cb)
                 : uv_fs_unlink(u->loop, &op->req, from, fs_simple_done_cb);
    if (rc != 0) {
        cairn_free(op);
        return err_from_uv(rc);
    }
    return 0;
}

static int uvio_rename(struct io *io, const char *from, const char *to,
                       void *ctx, io_file_cb cb)
{
    ASSERT(to != NULL);
    return path_op(io, from, to, ctx, cb);
}

static int uvio_unlink(struct io *io, const char *path, void *ctx,
                       io_file_cb cb)
{
    return path_op(io, path, NULL, ctx, cb);
}

/* ---- the binding ---- */

static const struct io_ops uv_ops = {
    .now_ms = uvio_now_ms,
    .now_us = uvio_now_us,
    .wall_ms = uvio_wall_ms,
    .random_seed = uvio_random_seed,
    .timer_new = uvio_timer_new,
    .timer_start = uvio_timer_start,
    .timer_stop = uvio_timer_stop,
    .timer_free = uvio_timer_free,
    .listen = uvio_listen,
    .listener_close = uvio_listener_close,
    .connect = uvio_connect,
    .conn_start = uvio_conn_start,
    .conn_read_pause = uvio_conn_read_pause,
    .conn_read_resume = uvio_conn_read_resume,
    .conn_write = uvio_conn_write,
    .conn_write_pending = uvio_conn_write_pending,
    .conn_peer_name = uvio_conn_peer_name,
    .conn_local_name = uvio_conn_local_name,
    .conn_close = uvio_conn_close,
    .file_open = uvio_file_open,
    .file_read = uvio_file_read,
    .file_write = uvio_file_write,
    .file_fsync = uvio_file_fsync,
    .file_close = uvio_file_close,
    .rename = uvio_rename,
    .unlink = uvio_unlink,
};

int io_uv_init(struct io_uv **out, uv_loop_t *loop, uint64_t seed)
{
    struct io_uv *u = cairn_calloc(1, sizeof(*u));
    if (u == NULL)
        return CAIRN_ENOMEM;
    u->read_buf = cairn_malloc(CAIRN_IO_READ_CHUNK);
    if (u->read_buf == NULL) {
        cairn_free(u);
        return CAIRN_ENOMEM;
    }
    u->io.ops = &uv_ops;
    u->loop = loop;
    while (seed == 0) {
        if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) != 0) {
            seed = uv_hrtime() ^ (uint64_t)(uintptr_t)u;
        }
    }
    u->seed = seed;
    *out = u;
    return 0;
}

struct io *io_uv_io(struct io_uv *u)
{
    return &u->io;
}

void io_uv_free(struct io_uv *u)
{
    if (u == NULL)
        return;
    ASSERT(u->handles_open == 0);
    cairn_free(u->read_buf);
    cairn_free(u);
}

size_t io_uv_handles_open(const struct io_uv *u)
{
    return u->handles_open;
}
