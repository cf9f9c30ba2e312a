/*
 * assert.h: invariant checks that stay on in production.
 *
 * ASSERT is for programmer errors only: a broken invariant means the process
 * state can no longer be trusted, so we crash at once with the failing
 * expression, file and line.  Never ASSERT on bytes that came from a client,
 * a peer or a disk: those are validated and returned as errors.
 *
 * ASSERT_SLOW guards expensive whole-structure checks.  It is compiled in
 * when CAIRN_SLOW_ASSERTS is defined (tests, fuzzers, the simulator) and
 * compiled out otherwise; the expression is still type-checked.
 */
#ifndef CAIRN_CORE_ASSERT_H
#define CAIRN_CORE_ASSERT_H

#include <stdbool.h>

_Noreturn void cairn_assert_fail(const char *expr, const char *file, int line,
                                 const char *func);

#define ASSERT(expr)                                                    \
    ((expr) ? (void)0 : cairn_assert_fail(#expr, __FILE__, __LINE__, __func__))

#ifdef CAIRN_SLOW_ASSERTS
#define ASSERT_SLOW(expr) ASSERT(expr)
#define CAIRN_SLOW_ASSERTS_ON 1
#else
#define ASSERT_SLOW(expr) ((void)sizeof(!(expr)))
#define CAIRN_SLOW_ASSERTS_ON 0
#endif

/* Marks code that must never run, e.g. the default of an exhaustive switch. */
#define UNREACHABLE() cairn_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#define STATIC_ASSERT(expr, msg) _Static_assert(expr, msg)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define CAIRN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CAIRN_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#else
#define likely(x) (x)
#define unlikely(x) (x)
#endif

#endif
