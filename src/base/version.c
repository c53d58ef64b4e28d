/* Version and error names. */
#include "internal.h"

const char *dfr_version(void)
{
    return "0.2.0";
}

const char *dfr_strerror(int code)
{
    switch (code) {
    case DFR_OK: return "success";
    case DFR_EINVAL: return "invalid argument";
    case DFR_ENOMEM: return "out of memory";
    case DFR_EALREADY: return "already called, started or in use";
    case DFR_ECANCELLED: return "cancelled";
    case DFR_ETIMEDOUT: return "timed out";
    case DFR_EFIRST: return "first error in a deferred list";
    case DFR_ENOTRUNNING: return "reactor not running";
    case DFR_EALREADY_CANCELLED: return "delayed call already cancelled";
    case DFR_EALREADY_CALLED_DC: return "delayed call already called";
    case DFR_ENOTCORO: return "not inside a coroutine";
    case DFR_EDEADLK: return "would deadlock";
    case DFR_EOVERFLOW: return "queue overflow";
    case DFR_EUNDERFLOW: return "queue underflow";
    case DFR_ENOTOWNER: return "not the owning thread";
    case DFR_ECONNREFUSED: return "connection refused";
    case DFR_EUNREACHABLE: return "host or network unreachable";
    case DFR_ENOTFOUND: return "host name not found";
    case DFR_ECONNRESET: return "connection reset by peer";
    case DFR_ECONNDONE: return "connection closed cleanly";
    case DFR_ECONNLOST: return "connection lost";
    case DFR_EFRAME: return "frame too long or malformed";
    case DFR_EADDRINUSE: return "address already in use";
    default: return "unknown error";
    }
}
