/* assert.c: the crash path for a broken invariant. */
#include "core/assert.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void cairn_assert_fail(const char *expr, const char *file, int line,
                                 const char *func)
{
    fprintf(stderr, "cairn: assertion failed: %s (%s:%d, %s)\n", expr, file,
            line, func);
    fflush(stderr);
    abort();
}
