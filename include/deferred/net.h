/* libdeferred — TCP and Unix-domain streams on the reactor (Twisted's
 * transports, protocols and endpoints).  See docs/net.md.
 *
 * A dfr_stream is one connection; a dfr_listener accepts them.  Both are
 * opaque, refcounted handles.  Everything that completes later returns a
 * deferred; failures are in domain "dfr" with the codes below.
 *
 * Reading comes in two styles; a stream uses one of them:
 *  - push (Twisted's Protocol): dfr_stream_set_protocol — callbacks for
 *    connection made, data received, end of input, connection lost;
 *  - pull (for coroutines): dfr_stream_read* return deferreds, so code
 *    under dfr_await reads like blocking code.
 * Nothing is read from the socket until one of the two is chosen.
 *
 * Failure codes (dfr_failure_code of a reason or a failed deferred):
 *   DFR_ECONNREFUSED  connection refused (also: no Unix socket at that path)
 *   DFR_EUNREACHABLE  host or network unreachable
 *   DFR_ENOTFOUND     the host name does not resolve (or no resolver answered)
 *   DFR_ECONNRESET    reset by the peer (also: writing to a peer that left)
 *   DFR_ECONNDONE     the connection was closed cleanly (Twisted's
 *                     ConnectionDone); a read needing more data than came
 *   DFR_ECONNLOST     the connection was lost otherwise: aborted, the
 *                     reactor shut down, or a system error
 *   DFR_EFRAME        a frame was over its maximum length or malformed (the
 *                     connection is closed with this reason)
 *   DFR_EADDRINUSE    listen: the address is taken
 *   DFR_ECANCELLED / DFR_ETIMEDOUT  cancelled / dfr_deferred_add_timeout
 *   DFR_ENOTOWNER     called from a thread that does not own the reactor
 * The message adds the system's description and the address.
 *
 * Thread rule: as the reactor's.  Only dfr_stream_unref and
 * dfr_listener_unref may be called from other threads.
 *
 * Lifetimes: streams and listeners outlive their reactor.  dfr_reactor_free
 * closes them (connection_lost gets DFR_ECONNLOST); from then on those the
 * application still holds answer as closed ones, from any thread: writes
 * DFR_ECONNLOST, reads failed deferreds, dfr_listener_stop a fired one.
 * Their last unref on another thread must not race with the free itself.
 *
 * SIGPIPE: the first stream or listener made sets SIGPIPE to ignored if it
 * is at its default disposition (a handler of yours is kept): a peer that
 * leaves mid-write gives DFR_ECONNRESET, never a dead process.
 */
#ifndef DEFERRED_NET_H
#define DEFERRED_NET_H

#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfr_stream dfr_stream;
typedef struct dfr_listener dfr_listener;

/* A value holding a reference to a stream: what a connect deferred fires
 * with.  dfr_stream_from borrows it (NULL for other values). */
extern DFR_API const dfr_type dfr_type_stream;
DFR_API dfr_stream *dfr_stream_from(const dfr_value *v);

/* ---- connecting (Twisted's reactor.connectTCP / endpoints) ---- */

/* `size` = sizeof(dfr_connect_options); NULL options are the defaults. */
typedef struct dfr_connect_options {
    size_t size;
    int family;    /* 0: any, 4: IPv4 only, 6: IPv6 only (TCP) */
    bool no_delay; /* TCP_NODELAY */
} dfr_connect_options;

/* Connect to `host` (a name or a numeric IPv4/IPv6 address) on `port`
 * (1..65535).  The name is resolved on the reactor's thread pool (the loop
 * never blocks); each address is tried in turn.  The deferred fires with a
 * dfr_type_stream value, or fails (DFR_ECONNREFUSED, DFR_ENOTFOUND,
 * DFR_EUNREACHABLE, ...).  Cancelling it aborts the attempt; time it out
 * with dfr_deferred_add_timeout.  Bad arguments give an already failed
 * deferred (DFR_EINVAL, DFR_ENOTOWNER); NULL only when out of memory. */
DFR_API dfr_deferred *dfr_reactor_connect_tcp(dfr_reactor *r, const char *host, int port,
                                              const dfr_connect_options *opts);
/* Same for a Unix-domain socket at `path`. */
DFR_API dfr_deferred *dfr_reactor_connect_unix(dfr_reactor *r, const char *path,
                                               const dfr_connect_options *opts);

/* ---- listening (reactor.listenTCP / listenUNIX) ---- */

/* A new connection.  `s` is borrowed for the call: set a protocol on it,
 * take a reference (dfr_stream_ref) to read it by pull, or do neither —
 * then it is closed when the call returns. */
typedef void (*dfr_accept_fn)(dfr_listener *l, dfr_stream *s, void *data);

/* `size` = sizeof(dfr_listen_options); NULL options are the defaults. */
typedef struct dfr_listen_options {
    size_t size;
    int backlog;   /* 0: 511 */
    bool no_delay; /* TCP_NODELAY on accepted connections */
} dfr_listen_options;

/* Listen on `iface` (a numeric IPv4 or IPv6 address; NULL: "0.0.0.0") and
 * `port` (0: an ephemeral port, see dfr_listener_port).  on_accept(l, s,
 * data) runs for each connection; destroy(data) runs once the listener is
 * closed (or here, on error).  *out receives the caller's reference.
 * Returns 0, DFR_EINVAL, DFR_EADDRINUSE, DFR_ENOMEM, DFR_ENOTOWNER, ... */
DFR_API int dfr_reactor_listen_tcp(dfr_reactor *r, const char *iface, int port,
                                   dfr_accept_fn on_accept, void *data, dfr_destroy_fn destroy,
                                   const dfr_listen_options *opts, dfr_listener **out);
/* Same on a Unix-domain socket at `path` (removed when the listener
 * closes). */
DFR_API int dfr_reactor_listen_unix(dfr_reactor *r, const char *path, dfr_accept_fn on_accept,
                                    void *data, dfr_destroy_fn destroy,
                                    const dfr_listen_options *opts, dfr_listener **out);

/* The port actually bound (TCP), or a negative DFR_E* code. */
DFR_API int dfr_listener_port(const dfr_listener *l);
/* Stop listening (connections already accepted stay open).  The deferred
 * (the caller's reference) fires with none once the socket is closed; every
 * call returns one.  NULL l: a DFR_EINVAL failed deferred; NULL only on
 * OOM. */
DFR_API dfr_deferred *dfr_listener_stop(dfr_listener *l);
DFR_API dfr_listener *dfr_listener_ref(dfr_listener *l);
/* Dropping the last reference of a listener still listening stops it. */
DFR_API void dfr_listener_unref(dfr_listener *l);

/* ---- streams ---- */

/* The reactor keeps each open stream alive.  A stream with neither a
 * protocol nor a reference from the application is closed after its
 * pending writes (it can never be read again).  Any thread. */
DFR_API dfr_stream *dfr_stream_ref(dfr_stream *s);
DFR_API void dfr_stream_unref(dfr_stream *s);

/* Push style (Twisted's Protocol).  Every callback may be NULL; `s` is
 * borrowed (valid during the call; take a reference to keep it). */
typedef struct dfr_protocol {
    size_t size; /* sizeof(dfr_protocol) */
    /* At once, from dfr_stream_set_protocol. */
    void (*connection_made)(dfr_stream *s, void *data);
    /* Bytes, in order; the buffer is valid during the call only. */
    void (*data_received)(dfr_stream *s, const void *buf, size_t len, void *data);
    /* The peer half-closed (sent EOF).  The stream stays open for writing
     * until you close it.  NULL: the stream is closed (reason ECONNDONE),
     * as for a Twisted protocol that is not half-closeable. */
    void (*read_eof)(dfr_stream *s, void *data);
    /* Last call: `reason` (borrowed) says why — DFR_ECONNDONE for a clean
     * close, another code for an error. */
    void (*connection_lost)(dfr_stream *s, const dfr_failure *reason, void *data);
    /* The write buffer rose above the high watermark / fell back to the low
     * one (Twisted's pauseProducing / resumeProducing for the producer
     * feeding this stream). */
    void (*write_full)(dfr_stream *s, void *data);
    void (*write_drained)(dfr_stream *s, void *data);
} dfr_protocol;

/* Attach a protocol (copied) and start reading; connection_made runs now.
 * destroy(data) runs once, after connection_lost (or here, on error).
 * DFR_EINVAL (bad input, a protocol already set, a pull read pending),
 * DFR_ECONNLOST (already closed), DFR_ENOTOWNER. */
DFR_API int dfr_stream_set_protocol(dfr_stream *s, const dfr_protocol *p, void *data,
                                    dfr_destroy_fn destroy);
/* Stop / restart delivering data (push style; Twisted's transport
 * pauseProducing).  While paused nothing is read: the kernel's buffers
 * fill and the peer's writes stall. */
DFR_API int dfr_stream_pause_reading(dfr_stream *s);
DFR_API int dfr_stream_resume_reading(dfr_stream *s);

/* Pull style.  One read may be pending at a time (another is DFR_EINVAL);
 * bytes not yet asked for stay buffered (nothing is lost when a read is
 * cancelled or times out).  Each returns a deferred firing with a bytes
 * value, or failing with the connection's reason; NULL only on OOM.
 * A read that cannot be satisfied because the peer closed fails with
 * DFR_ECONNDONE.  A frame limit exceeded fails with DFR_EFRAME and closes
 * the stream. */
/* Some bytes (1..max; max 0: any amount); at end of input, empty bytes. */
DFR_API dfr_deferred *dfr_stream_read(dfr_stream *s, size_t max);
/* Exactly n bytes (n >= 1). */
DFR_API dfr_deferred *dfr_stream_read_exactly(dfr_stream *s, size_t n);
/* Up to and including the delimiter (1..8 bytes); more than `max` bytes
 * without one is DFR_EFRAME (max 0: no limit). */
DFR_API dfr_deferred *dfr_stream_read_until(dfr_stream *s, const void *delim, size_t delim_len,
                                            size_t max);
/* Everything until the peer closes; more than `max` is DFR_EFRAME (0: no
 * limit). */
DFR_API dfr_deferred *dfr_stream_read_to_eof(dfr_stream *s, size_t max);

/* Writing.  Bytes go out in order.  DFR_ECONNLOST once the stream is
 * closing or closed or its write side is shut; DFR_ENOMEM. */
DFR_API int dfr_stream_write(dfr_stream *s, const void *buf, size_t len);
/* Zero-copy: takes `buf`; destroy(buf) runs once it was written or dropped
 * (also on error).  destroy may be NULL (static data). */
DFR_API int dfr_stream_write_owned(dfr_stream *s, void *buf, size_t len, dfr_destroy_fn destroy);
/* Fires with none once everything written so far has been handed to the
 * kernel (at once when nothing is pending); fails with the reason if the
 * connection is lost first. */
DFR_API dfr_deferred *dfr_stream_written(dfr_stream *s);
/* Flow control for writers: fires at once while the write buffer is at or
 * under the high watermark, else once it drains to the low one. */
DFR_API dfr_deferred *dfr_stream_wait_writable(dfr_stream *s);
/* Watermarks in bytes (defaults 64 KiB and 16 KiB); low <= high. */
DFR_API int dfr_stream_set_watermarks(dfr_stream *s, size_t high, size_t low);
/* Bytes handed to the stream and not yet to the kernel. */
DFR_API size_t dfr_stream_write_buffered(const dfr_stream *s);

/* Half-close: send EOF after pending writes (Twisted's loseWriteConnection);
 * reading goes on. */
DFR_API int dfr_stream_close_write(dfr_stream *s);
/* Close after pending writes are flushed (loseConnection); the reason is
 * DFR_ECONNDONE.  Nothing more is read. */
DFR_API int dfr_stream_close(dfr_stream *s);
/* Close now, dropping pending writes (abortConnection); reason DFR_ECONNLOST. */
DFR_API int dfr_stream_abort(dfr_stream *s);
/* Whether the stream is still open (not closing, not closed). */
DFR_API bool dfr_stream_is_open(const dfr_stream *s);
/* A new reference to the failure the connection was lost with; NULL while
 * it is open. */
DFR_API dfr_failure *dfr_stream_reason(const dfr_stream *s);

/* ---- framing (LineReceiver, NetstringReceiver) ---- */

/* One line, without its "\n" or "\r\n"; more than `max` bytes without a
 * newline is DFR_EFRAME (max 0: 16 KiB, Twisted's MAX_LENGTH). */
DFR_API dfr_deferred *dfr_stream_read_line(dfr_stream *s, size_t max);
/* One netstring ("<len>:<payload>,"): fires with the payload.  Malformed
 * or longer than `max` (0: 99,999 bytes, Twisted's MAX_LENGTH) is
 * DFR_EFRAME. */
DFR_API dfr_deferred *dfr_stream_read_netstring(dfr_stream *s, size_t max);
/* Write `buf` as one netstring. */
DFR_API int dfr_stream_write_netstring(dfr_stream *s, const void *buf, size_t len);

/* Push-style framing: Twisted's LineReceiver / NetstringReceiver as a
 * protocol.  frame_received gets each line (without its "\n" or "\r\n")
 * or netstring payload, valid during the call.  An over-long or malformed
 * frame closes the stream; connection_lost then gets DFR_EFRAME.  `max` 0
 * is the default maximum (16 KiB lines, 99,999-byte netstrings). */
enum { DFR_FRAMING_LINES = 1, DFR_FRAMING_NETSTRINGS = 2 };
typedef struct dfr_framed_protocol {
    size_t size;  /* sizeof(dfr_framed_protocol) */
    int framing;  /* DFR_FRAMING_LINES or DFR_FRAMING_NETSTRINGS */
    size_t max;
    void (*connection_made)(dfr_stream *s, void *data);
    void (*frame_received)(dfr_stream *s, const void *frame, size_t len, void *data);
    void (*connection_lost)(dfr_stream *s, const dfr_failure *reason, void *data);
} dfr_framed_protocol;
/* As dfr_stream_set_protocol, for frames (all three callbacks may be
 * NULL).  DFR_EINVAL for an unknown framing. */
DFR_API int dfr_stream_set_framed_protocol(dfr_stream *s, const dfr_framed_protocol *p,
                                           void *data, dfr_destroy_fn destroy);

#ifdef __cplusplus
}
#endif
#endif
