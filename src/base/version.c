/* Version and error names. */
#include "internal.h"
#include "base/errors.h"

const char *dfr_version(void)
{
    return "0.2.0";
}

const char *dfr_strerror(int code)
{
#define DFR__ERROR_MSG(name, msg) [-(name)] = msg,
    static const char *const messages[] = {DFR__ERRORS(DFR__ERROR_MSG)};
#undef DFR__ERROR_MSG
    if (code > 0 || code <= -DFR__ECOUNT)
        return "unknown error";
    return messages[-code];
}
