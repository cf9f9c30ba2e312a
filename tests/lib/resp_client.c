/*
 * resp_client.c: see resp_client.h.
 *
 * Invariants: c->in holds only bytes not yet returned; a returned reply is
 * exactly one top-level value (attributes included); every blocking wait is
 * a poll() with the client's timeout.
 */
#include "resp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

/* Most elements one reply may announce; a bigger count is treated as
 * garbage so a broken server cannot make the scanner loop for long. */
#define REPLY_ELEMENTS_MAX (64ll * 1024 * 1024)

/* Bytes resp_client_wait_closed() keeps for the test to look at. */
#define WAIT_KEEP_MAX (1024 * 1024)

/* Receive chunk size. */
#define READ_CHUNK (64 * 1024)

int resp_client_connect(struct resp_client *c, int port, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    buf_init(&c->in, 0);
    buf_init(&c->reply, 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return CAIRN_EIO;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, c->timeout_ms) != 1) {
            close(fd);
            return CAIRN_EAGAIN;
        }
        int err = 0;
        socklen_t elen = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        rc = err == 0 ? 0 : -1;
    }
    if (rc != 0) {
        close(fd);
        return CAIRN_ECLOSED;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    return 0;
}

void resp_client_close(struct resp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->reply);
}

int resp_client_send(struct resp_client *c, const void *data, size_t len)
{
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return CAIRN_ECLOSED;
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        int r = poll(&pfd, 1, c->timeout_ms);
        if (r == 0)
            return CAIRN_EAGAIN;
        if (r < 0 && errno != EINTR)
            return CAIRN_EIO;
    }
    return 0;
}

int resp_client_send_argv(struct resp_client *c, int argc,
                          const char *const *argv, const size_t *lens)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_printf(&b, "*%d\r\n", argc);
    for (int i = 0; i < argc && rc == 0; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(argv[i]);
        rc = buf_printf(&b, "$%zu\r\n", n);
        if (rc == 0)
            rc = buf_append(&b, argv[i], n);
        if (rc == 0)
            rc = buf_append(&b, "\r\n", 2);
    }
    if (rc == 0)
        rc = resp_client_send(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

void resp_client_shutdown_write(struct resp_client *c)
{
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_WR);
}

/* Splits line into words (see resp_client_send_line) inside store. */
static int split_words(const char *line, char *store, size_t store_len,
                       const char **argv, size_t *lens, int argc_max)
{
    int argc = 0;
    size_t w = 0;
    const char *p = line;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (argc == argc_max)
            return -1;
        argv[argc] = store + w;
        bool quoted = *p == '"';
        if (quoted)
            p++;
        while (*p != '\0' && (quoted ? *p != '"' : *p != ' ')) {
            if (w + 1 >= store_len)
                return -1;
            store[w++] = *p++;
        }
        if (quoted && *p == '"')
            p++;
        lens[argc] = (size_t)(store + w - argv[argc]);
        store[w++] = '\0';
        argc++;
    }
    return argc;
}

int resp_client_send_line(struct resp_client *c, const char *line)
{
    char store[4096];
    const char *argv[64];
    size_t lens[64];
    int argc = split_words(line, store, sizeof(store), argv, lens, 64);
    if (argc <= 0)
        return CAIRN_EINVAL;
    return resp_client_send_argv(c, argc, argv, lens);
}

/* Parses the decimal after a type byte, up to CR; -1 on garbage. */
static int line_int(const char *p, const char *end, long long *out)
{
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p == end)
        return -1;
    long long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

size_t resp_client_reply_len(const char *p, size_t len)
{
    long long pending = 1; /* values still to read */
    size_t pos = 0;
    while (pending > 0) {
        const char *cr = pos < len ? memchr(p + pos, '\r', len - pos) : NULL;
        if (cr == NULL || (size_t)(cr - p) + 1 >= len)
            return 0;
        char type = p[pos];
        const char *body = p + pos + 1;
        size_t next = (size_t)(cr - p) + 2;
        long long n = 0;
        pending--;
        switch (type) {
        case '+': case '-': case ':': case ',': case '#': case '_': case '(':
            break;
        case '$': case '=': case '!':
            if (line_int(body, cr, &n) != 0 || n < -1)
                return (size_t)-1;
            if (n >= 0) {
                if (len - next < (size_t)n + 2)
                    return 0;
                next += (size_t)n + 2;
            }
            break;
        case '*': case '~': case '>': case '%': case '|':
            if (line_int(body, cr, &n) != 0 || n < -1 || n > REPLY_ELEMENTS_MAX)
                return (size_t)-1;
            if (n > 0)
                pending += (type == '%' || type == '|') ? 2 * n : n;
            if (type == '|')
                pending++; /* an attribute precedes the real value */
            break;
        default:
            return (size_t)-1;
        }
        pos = next;
    }
    return pos;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One bounded wait for input; returns >0 bytes read, 0 on EOF, or a
 * negative CAIRN_E* code. */
static int read_some(struct resp_client *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r == 0)
        return CAIRN_EAGAIN;
    if (r < 0)
        return errno == EINTR ? CAIRN_EAGAIN : CAIRN_EIO;
    if (buf_reserve(&c->in, READ_CHUNK) != 0)
        return CAIRN_ENOMEM;
    ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
        c->eof = true;
        return 0;
    }
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? CAIRN_EAGAIN : CAIRN_EIO;
    c->in.len += (size_t)n;
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

int resp_client_read(struct resp_client *c, struct buf *out)
{
    /* Bounded by a deadline: a server trickling bytes cannot hang a test. */
    long long deadline = now_ms() + c->timeout_ms;
    while (now_ms() <= deadline) {
        size_t n = resp_client_reply_len(c->in.data, c->in.len);
        if (n == (size_t)-1)
            return CAIRN_EPROTO;
        if (n > 0) {
            int rc = buf_append(out, c->in.data, n);
            buf_consume(&c->in, n);
            return rc;
        }
        if (c->eof)
            return CAIRN_ECLOSED;
        int r = read_some(c, c->timeout_ms);
        if (r < 0)
            return r;
    }
    return CAIRN_EAGAIN;
}

const char *resp_client_call(struct resp_client *c, const char *line)
{
    buf_clear(&c->reply);
    if (resp_client_send_line(c, line) != 0)
        return NULL;
    if (resp_client_read(c, &c->reply) != 0)
        return NULL;
    if (buf_append(&c->reply, "", 1) != 0)
        return NULL;
    c->reply.len--; /* keep the NUL outside the reply bytes */
    return c->reply.data;
}

int resp_client_wait_closed(struct resp_client *c, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (!c->eof && now_ms() <= deadline) {
        int r = read_some(c, 50);
        if (r == CAIRN_EIO)
            return 0; /* a reset counts as closed */
        if (c->in.len > WAIT_KEEP_MAX) {
            c->dropped += c->in.len;
            buf_clear(&c->in);
        }
    }
    return c->eof ? 0 : CAIRN_EAGAIN;
}

const char *resp_client_show(const char *p, size_t len)
{
    static char out[2048];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < sizeof(out); i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\r')
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
        else if (ch == '\n')
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
        else if (ch < 32 || ch >= 127)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    if (o + 8 >= sizeof(out))
        o += (size_t)snprintf(out + o, sizeof(out) - o, "...");
    out[o] = '\0';
    return out;
}
