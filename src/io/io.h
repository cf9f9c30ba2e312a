/*
 * io.h: the one seam between cairn's logic and the outside world.
 *
 * Everything a node does to the world (read a clock, arm a timer, accept and
 * talk to TCP peers, read and write files, draw a random seed) goes through a
 * struct io.  The daemon plugs in io_uv.c (libuv); the simulator plugs in its
 * deterministic model.  Logic above this line never includes <uv.h>, never
 * calls clock_gettime(), socket(), open() or rand().
 *
 * Model: single-threaded and callback-driven.  A callback is never invoked
 * from inside the call that registered it (always from the event loop), so
 * callers need not guard against re-entrancy.  Handles are opaque and owned
 * by the io implementation; each has an explicit close/free after which no
 * callback for it fires.
 *
 * Errors are negative CAIRN_E* codes (core/error.h).
 */
#ifndef CAIRN_IO_IO_H
#define CAIRN_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io;

/* Handles.  An implementation embeds the matching struct as the first member
 * of its own handle type; callers treat them as opaque. */
struct io_timer {
    struct io *io;
};
struct io_listener {
    struct io *io;
};
struct io_conn {
    struct io *io;
};
struct io_file {
    struct io *io;
};

typedef void (*io_timer_cb)(void *ctx);

/* A new connection was accepted.  The receiver must call io_conn_start()
 * (or io_conn_close()) on it before returning. */
typedef void (*io_accept_cb)(void *ctx, struct io_conn *conn);

/* An outgoing connection finished: status 0 and a conn, or an error and
 * NULL. */
typedef void (*io_connect_cb)(void *ctx, struct io_conn *conn, int status);

/* Bytes arrived.  data is valid only during the call (len > 0). */
typedef void (*io_read_cb)(void *ctx, struct io_conn *conn, const char *data,
                           size_t len);

/* The peer closed, or the connection failed (status is CAIRN_ECLOSED or
 * another error).  The conn is still valid; the receiver must call
 * io_conn_close() on it, now or later. */
typedef void (*io_eof_cb)(void *ctx, struct io_conn *conn, int status);

/* All queued output was written (io_conn_write_pending() is 0); optional. */
typedef void (*io_drain_cb)(void *ctx, struct io_conn *conn);

/* File completions: status is 0 or a negative CAIRN_E* code; n is the byte
 * count for read and write. */
typedef void (*io_file_open_cb)(void *ctx, struct io_file *file, int status);
typedef void (*io_file_cb)(void *ctx, int status, size_t n);

enum io_open_flags {
    IO_OPEN_READ = 1 << 0,
    IO_OPEN_WRITE = 1 << 1,
    IO_OPEN_CREATE = 1 << 2,
    IO_OPEN_TRUNCATE = 1 << 3,
};

struct io_conn_handlers {
    io_read_cb read_cb;
    io_eof_cb eof_cb;
    io_drain_cb drain_cb; /* may be NULL */
};

struct io_ops {
    /* clock */
    uint64_t (*now_ms)(struct io *io);   /* monotonic, milliseconds */
    uint64_t (*now_us)(struct io *io);   /* monotonic, microseconds */
    int64_t (*wall_ms)(struct io *io);   /* Unix time, milliseconds */
    uint64_t (*random_seed)(struct io *io);

    /* timers: one-shot; re-arm from the callback for periodic work */
    struct io_timer *(*timer_new)(struct io *io, void *ctx, io_timer_cb cb);
    void (*timer_start)(struct io_timer *t, uint64_t delay_ms);
    void (*timer_stop)(struct io_timer *t);
    void (*timer_free)(struct io_timer *t);

    /* tcp */
    int (*listen)(struct io *io, const char *host, uint16_t port, int backlog,
                  void *ctx, io_accept_cb cb, struct io_listener **out);
    void (*listener_close)(struct io_listener *l);
    int (*connect)(struct io *io, const char *host, uint16_t port, void *ctx,
                   io_connect_cb cb);
    void (*conn_start)(struct io_conn *c, void *ctx,
                       const struct io_conn_handlers *h);
    void (*conn_read_pause)(struct io_conn *c);
    void (*conn_read_resume)(struct io_conn *c);
    int (*conn_write)(struct io_conn *c, const void *data, size_t len);
    size_t (*conn_write_pending)(struct io_conn *c);
    int (*conn_peer_name)(struct io_conn *c, char *out, size_t out_len);
    int (*conn_local_name)(struct io_conn *c, char *out, size_t out_len);
    void (*conn_close)(struct io_conn *c);

    /* files */
    int (*file_open)(struct io *io, const char *path, int flags, void *ctx,
                     io_file_open_cb cb);
    int (*file_read)(struct io_file *f, uint64_t offset, void *buf,
                     size_t len, void *ctx, io_file_cb cb);
    int (*file_write)(struct io_file *f, uint64_t offset, const void *data,
                      size_t len, void *ctx, io_file_cb cb);
    int (*file_fsync)(struct io_file *f, void *ctx, io_file_cb cb);
    void (*file_close)(struct io_file *f);
    int (*rename)(struct io *io, const char *from, const char *to, void *ctx,
                  io_file_cb cb);
    int (*unlink)(struct io *io, const char *path, void *ctx, io_file_cb cb);
};

/* An implementation embeds struct io as its first member. */
struct io {
    const struct io_ops *ops;
};

/* --- clock and randomness --- */

static inline uint64_t io_now_ms(struct io *io) { return io->ops->now_ms(io); }
static inline uint64_t io_now_us(struct io *io) { return io->ops->now_us(io); }
static inline int64_t io_wall_ms(struct io *io) { return io->ops->wall_ms(io); }
static inline uint64_t io_random_seed(struct io *io)
{
    return io->ops->random_seed(io);
}

/* --- timers --- */

/* Returns NULL on allocation failure. */
static inline struct io_timer *io_timer_new(struct io *io, void *ctx,
                                            io_timer_cb cb)
{
    return io->ops->timer_new(io, ctx, cb);
}
/* Arms (or re-arms) the timer to fire once after delay_ms. */
static inline void io_timer_start(struct io_timer *t, uint64_t delay_ms)
{
    t->io->ops->timer_start(t, delay_ms);
}
static inline void io_timer_stop(struct io_timer *t)
{
    t->io->ops->timer_stop(t);
}
/* Stops and releases; the callback never fires afterwards. */
static inline void io_timer_free(struct io_timer *t)
{
    t->io->ops->timer_free(t);
}

/* --- tcp --- */

/* Listens on host:port (port 0 picks a free port; see io_listener_port). */
static inline int io_listen(struct io *io, const char *host, uint16_t port,
                            int backlog, void *ctx, io_accept_cb cb,
                            struct io_listener **out)
{
    return io->ops->listen(io, host, port, backlog, ctx, cb, out);
}
static inline int io_connect(struct io *io, const char *host, uint16_t port,
                             void *ctx, io_connect_cb cb)
{
    return io->ops->connect(io, host, port, ctx, cb);
}
static inline void io_listener_close(struct io_listener *l)
{
    l->io->ops->listener_close(l);
}

/* Installs handlers and starts reading. */
static inline void io_conn_start(struct io_conn *c, void *ctx,
                                 const struct io_conn_handlers *h)
{
    c->io->ops->conn_start(c, ctx, h);
}
static inline void io_conn_read_pause(struct io_conn *c)
{
    c->io->ops->conn_read_pause(c);
}
static inline void io_conn_read_resume(struct io_conn *c)
{
    c->io->ops->conn_read_resume(c);
}
/* Queues len bytes (copied) for sending; returns 0 or CAIRN_ENOMEM /
 * CAIRN_ECLOSED.  Bytes are sent in order. */
static inline int io_conn_write(struct io_conn *c, const void *data,
                                size_t len)
{
    return c->io->ops->conn_write(c, data, len);
}
/* Bytes queued by io_conn_write and not yet handed to the OS. */
static inline size_t io_conn_write_pending(struct io_conn *c)
{
    return c->io->ops->conn_write_pending(c);
}
/* "ip:port" of the peer / of our end; returns 0 or an error. */
static inline int io_conn_peer_name(struct io_conn *c, char *out,
                                    size_t out_len)
{
    return c->io->ops->conn_peer_name(c, out, out_len);
}
static inline int io_conn_local_name(struct io_conn *c, char *out,
                                     size_t out_len)
{
    return c->io->ops->conn_local_name(c, out, out_len);
}
/* Closes at once (queued output is dropped if the socket cannot take it);
 * no callback fires for the conn afterwards and it must not be used. */
static inline void io_conn_close(struct io_conn *c)
{
    c->io->ops->conn_close(c);
}

/* --- files (asynchronous, completion callbacks) --- */

static inline int io_file_open(struct io *io, const char *path, int flags,
                               void *ctx, io_file_open_cb cb)
{
    return io->ops->file_open(io, path, flags, ctx, cb);
}
static inline int io_file_read(struct io_file *f, uint64_t offset, void *buf,
                               size_t len, void *ctx, io_file_cb cb)
{
    return f->io->ops->file_read(f, offset, buf, len, ctx, cb);
}
static inline int io_file_write(struct io_file *f, uint64_t offset,
                                const void *data, size_t len, void *ctx,
                                io_file_cb cb)
{
    return f->io->ops->file_write(f, offset, data, len, ctx, cb);
}
static inline int io_file_fsync(struct io_file *f, void *ctx, io_file_cb cb)
{
    return f->io->ops->file_fsync(f, ctx, cb);
}
static inline void io_file_close(struct io_file *f)
{
    f->io->ops->file_close(f);
}
static inline int io_rename(struct io *io, const char *from, const char *to,
                            void *ctx, io_file_cb cb)
{
    return io->ops->rename(io, from, to, ctx, cb);
}
static inline int io_unlink(struct io *io, const char *path, void *ctx,
                            io_file_cb cb)
{
    return io->ops->unlink(io, path, ctx, cb);
}

#endif
