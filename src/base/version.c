/* Version and error names. */
#include "base/base_internal.h"
#include "base/errors.h"

#define DFR__STR(x) #x
#define DFR__XSTR(x) DFR__STR(x)

const char *dfr_version(void)
{
    return DFR__XSTR(DFR_VERSION_MAJOR) "." DFR__XSTR(DFR_VERSION_MINOR) "." DFR__XSTR(
        DFR_VERSION_PATCH);
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
