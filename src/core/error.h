/*
 * error.h: the one list of cairn error codes.
 *
 * Functions that can fail because of something outside the program (bad
 * bytes from a client or peer, a full queue, a failed allocation, a disk
 * error) return a negative CAIRN_E* code.  0 is success.  The X-macro below
 * also generates cairn_strerror(), so every code has a message.
 */
#ifndef CAIRN_CORE_ERROR_H
#define CAIRN_CORE_ERROR_H

#define CAIRN_ERRORS(X)                                                     \
    X(CAIRN_ENOMEM, 1, "out of memory")                                     \
    X(CAIRN_EINVAL, 2, "invalid argument")                                  \
    X(CAIRN_EPROTO, 3, "protocol error")                                    \
    X(CAIRN_ETOOBIG, 4, "value exceeds a configured limit")                 \
    X(CAIRN_EIO, 5, "I/O error")                                            \
    X(CAIRN_ECORRUPT, 6, "data is corrupt (checksum or format mismatch)")   \
    X(CAIRN_EAGAIN, 7, "resource temporarily unavailable")                  \
    X(CAIRN_ENOTFOUND, 8, "not found")                                      \
    X(CAIRN_EEXIST, 9, "already exists")                                    \
    X(CAIRN_ECLOSED, 10, "connection closed")                               \
    X(CAIRN_EFULL, 11, "queue or buffer is full")                           \
    X(CAIRN_ENOTLEADER, 12, "not the leader")                               \
    X(CAIRN_ETRANSFER, 13, "leadership transfer in progress")               \
    X(CAIRN_ESHUTDOWN, 14, "shutting down")                                 \
    X(CAIRN_EBUSY, 15, "busy")                                              \
    X(CAIRN_ERANGE, 16, "value out of range")                               \
    X(CAIRN_EADDR, 17, "cannot bind or resolve address")                    \
    X(CAIRN_ECONFIG, 18, "bad configuration")                               \
    X(CAIRN_EVERSION, 19, "unsupported version")                            \
    X(CAIRN_ESTALE, 20, "stale term or index")

enum cairn_error {
    CAIRN_OK = 0,
#define CAIRN_ERROR_ENUM(name, num, msg) name = -(num),
    CAIRN_ERRORS(CAIRN_ERROR_ENUM)
#undef CAIRN_ERROR_ENUM
};

/* Returns a static, human-readable message for a code (0 or negative). */
const char *cairn_strerror(int code);

/* Returns the symbolic name ("CAIRN_ENOMEM") for a code. */
const char *cairn_errname(int code);

#endif
