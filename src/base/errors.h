/* The one table of the library's error codes: code, message.  dfr_strerror,
 * the library's own failures (plain and debug mode) and the tests read it;
 * the enum in include/deferred/common.h lists the same codes, contiguous
 * from 0 down, and tests/core/test_errors.cpp checks that the two agree. */
#ifndef DFR_BASE_ERRORS_H
#define DFR_BASE_ERRORS_H

#define DFR__ERRORS(X) \
    X(DFR_OK, "success") \
    X(DFR_EINVAL, "invalid argument") \
    X(DFR_ENOMEM, "out of memory") \
    X(DFR_EALREADY, "deferred already called") \
    X(DFR_ECANCELLED, "cancelled") \
    X(DFR_ETIMEDOUT, "timed out") \
    X(DFR_EFIRST, "first error in a deferred list") \
    X(DFR_ENOTRUNNING, "reactor not running") \
    X(DFR_EALREADY_CANCELLED, "delayed call already cancelled") \
    X(DFR_EALREADY_RAN, "delayed call already ran") \
    X(DFR_ENOTCORO, "not inside a coroutine") \
    X(DFR_EDEADLK, "would deadlock") \
    X(DFR_EOVERFLOW, "queue overflow") \
    X(DFR_EUNDERFLOW, "queue underflow") \
    X(DFR_ENOTOWNER, "not the owning thread") \
    X(DFR_ECONNREFUSED, "connection refused") \
    X(DFR_EUNREACHABLE, "host or network unreachable") \
    X(DFR_ENOTFOUND, "host name not found") \
    X(DFR_ECONNRESET, "connection reset by peer") \
    X(DFR_ECONNDONE, "connection closed cleanly") \
    X(DFR_ECONNLOST, "connection lost") \
    X(DFR_EFRAME, "frame too long or malformed") \
    X(DFR_EADDRINUSE, "address already in use") \
    X(DFR_EALREADY_RUNNING, "already running") \
    X(DFR_ENOTRESTARTABLE, "reactor already ran") \
    X(DFR_EALREADY_STARTED, "thread pool already started") \
    X(DFR_EINUSE, "allocator already in use")

/* Number of codes: DFR_OK .. DFR__ECOUNT-1 negated. */
#define DFR__ERROR_ONE(name, msg) +1
#define DFR__ECOUNT (0 DFR__ERRORS(DFR__ERROR_ONE))

#endif
