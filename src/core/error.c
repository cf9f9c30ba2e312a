/* error.c: messages for the codes in error.h, generated from the same list. */
#include "core/error.h"

const char *cairn_strerror(int code)
{
    switch (code) {
    case CAIRN_OK:
        return "success";
#define CAIRN_ERROR_MSG(name, num, msg) \
    case name:                          \
        return msg;
        CAIRN_ERRORS(CAIRN_ERROR_MSG)
#undef CAIRN_ERROR_MSG
    default:
        return "unknown error";
    }
}

const char *cairn_errname(int code)
{
    switch (code) {
    case CAIRN_OK:
        return "CAIRN_OK";
#define CAIRN_ERROR_NAME(name, num, msg) \
    case name:                           \
        return #name;
        CAIRN_ERRORS(CAIRN_ERROR_NAME)
#undef CAIRN_ERROR_NAME
    default:
        return "CAIRN_E?";
    }
}
