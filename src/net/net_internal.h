/* Internal state of the stream layer, shared by the files of src/net. */
#ifndef DFR_NET_INTERNAL_H
#define DFR_NET_INTERNAL_H

#include "reactor/reactor_internal.h"
#include "thread/thread_internal.h"

#include <deferred/net.h>

/* An intrusive doubly linked list node; a list is a sentinel node. */
typedef struct dfr__net_node {
    struct dfr__net_node *prev, *next;
} dfr__net_node;

static inline void dfr__node_init(dfr__net_node *n)
{
    n->prev = n->next = n;
}
static inline void dfr__node_push(dfr__net_node *list, dfr__net_node *n)
{
    n->prev = list->prev;
    n->next = list;
    list->prev->next = n;
    list->prev = n;
}
static inline void dfr__node_remove(dfr__net_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define DFR__NET_READ_CHUNK ((size_t)64 * 1024)

/* ---- net.c: per-reactor state ---- */
typedef struct dfr__net {
    dfr_reactor *r;
    dfr__net_node streams, listeners, connects;
    /* Closed streams and listeners the application still holds: told when
     * the reactor goes (their r and net become NULL). */
    dfr__net_node closed_streams, closed_listeners;
    size_t open;        /* live handles + connect attempts in flight */
    char *readbuf;      /* every read lands here first (one read at a time) */
    bool readbuf_busy;
    dfr_deferred *idle; /* shutdown trigger: fires when open reaches 0 */
} dfr__net;

/* The reactor's net state, made (with its shutdown trigger) on first use.
 * NULL on OOM. */
dfr__net *dfr__net_get(dfr_reactor *r);
void dfr__net_opened(dfr__net *n);
void dfr__net_closed(dfr__net *n);

/* Owner check for every entry point.  A stream or listener that outlived
 * its reactor (r NULL: closed, nothing of the reactor left to touch) may be
 * used from any thread. */
static inline bool dfr__net_owner(const dfr_reactor *r)
{
    return !r || dfr__on_reactor_thread(r);
}

/* A failure in domain "dfr" for libuv error `uverr` (or a DFR_E* code when
 * `uverr` is 0 and `code` given), with `what` (an address) in the message.
 * Never NULL (out of memory: the static ENOMEM failure). */
dfr_failure *dfr__net_failure(int uverr, const char *what);
dfr_failure *dfr__net_failure_code(int code, const char *what);
int dfr__net_code(int uverr);
/* An already failed deferred (NULL only on OOM). */
dfr_deferred *dfr__net_failed(int code, const char *what);
/* Make SIGPIPE harmless (once per process). */
void dfr__net_ignore_sigpipe(void);

/* ---- stream.c ---- */
typedef struct dfr__net_waiter {
    struct dfr__net_waiter *next;
    dfr_deferred *d;
    uint64_t target; /* written: writes that must be complete */
} dfr__net_waiter;
/* A waiter holding a new deferred (next and target zero); *d gets the
 * caller's reference.  NULL on OOM. */
dfr__net_waiter *dfr__net_waiter_new(dfr_deferred **d);

enum dfr__pull_kind {
    DFR__PULL_NONE,
    DFR__PULL_SOME,
    DFR__PULL_EXACT,
    DFR__PULL_UNTIL,
    DFR__PULL_EOF,
    DFR__PULL_LINE,
    DFR__PULL_NETSTRING
};

struct dfr_stream {
    atomic_uint refs;     /* all references: the application's + internal holds */
    atomic_uint app_refs; /* the application's (and a set protocol's) */
    dfr_reactor *r;
    dfr__net *net;
    dfr__net_node node;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    bool live;       /* the handle is initialised and its close has not finished */
    bool connected;  /* handed to the application */
    bool closing;    /* uv_close called */
    bool close_after_flush;
    bool write_shut; /* close_write asked: no more writes */
    bool shut_done;  /* EOF sent */
    bool eof;        /* the peer sent EOF */
    bool reading;
    bool paused;
    bool full;       /* above the high watermark */
    bool has_protocol;
    bool in_read_cb;
    dfr_protocol proto;
    void *pdata;
    dfr_destroy_fn pdestroy;
    dfr_failure *reason;       /* why it closed (set when closing) */
    dfr_failure *flush_reason; /* the reason a close after flush will give */

    /* Pull reads: the bytes not yet asked for, and the pending read. */
    char *in;
    size_t in_start, in_len, in_cap;
    int pull;
    size_t pull_n, pull_max;
    char delim[8];
    size_t delim_len;
    dfr_deferred *pull_d;

    /* Push-style framing (framing.c): 0 when the protocol is not framed. */
    int framing;
    size_t frame_max;
    void (*frame_received)(dfr_stream *s, const void *frame, size_t len, void *data);

    /* Writes. */
    size_t high, low;
    uint64_t wsubmitted, wdone;
    dfr__net_waiter *written, *written_tail;
    dfr__net_waiter *writable;
    uv_shutdown_t shutreq;
};

/* A new stream on r's loop, TCP or Unix; the handle is initialised, the
 * stream is in the net list; refs: one hold for the handle, app_refs 0.
 * NULL on OOM or a libuv error (*err set). */
dfr_stream *dfr__stream_new(dfr__net *net, bool tcp, int *err);
/* At the reactor's free: streams and listeners still held forget it. */
void dfr__streams_detach_all(dfr__net *n);
void dfr__listeners_detach_all(dfr__net *n);
/* Close now with `reason` (taken; NULL: ECONNLOST).  No-op when closing. */
void dfr__stream_close_with(dfr_stream *s, dfr_failure *reason);
/* Internal holds. */
void dfr__stream_hold(dfr_stream *s);
void dfr__stream_release(dfr_stream *s);
/* Start or stop reading to match what the stream needs now. */
void dfr__stream_update_reading(dfr_stream *s);
/* Check an application call: open, on the owner thread.  0 or a code. */
int dfr__stream_check(const dfr_stream *s);
/* A failed waiter-style deferred for a stream that is closed. */
dfr_deferred *dfr__stream_lost_deferred(dfr_stream *s);

/* ---- read.c ---- */
/* Append to the pull buffer.  0 or DFR_ENOMEM. */
int dfr__stream_buffer(dfr_stream *s, const void *data, size_t n);
void dfr__stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void dfr__stream_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
/* Complete the pending pull read if it can be (at close: it must be). */
void dfr__pull_try(dfr_stream *s);
/* A new pull read (framing.c uses it). */
dfr_deferred *dfr__pull_start(dfr_stream *s, int kind, size_t n, size_t max, const void *delim,
                              size_t delim_len);

/* ---- write.c ---- */
/* Fail every waiter with the stream's reason (at close). */
void dfr__write_fail_waiters(dfr_stream *s);

/* ---- framing.c: decoding frames out of the pull buffer ---- */
/* 1: a frame was found (*out set, bytes consumed), 0: need more,
 * <0: DFR_EFRAME (malformed / too long). */
int dfr__frame_line(dfr_stream *s, size_t max, dfr_value *out);
int dfr__frame_netstring(dfr_stream *s, size_t max, dfr_value *out);
/* Push-style framing: deliver the complete frames buffered. */
void dfr__framing_decode(dfr_stream *s);

/* ---- connect.c / listen.c: closing everything (shutdown, free) ---- */
void dfr__connects_abort_all(dfr__net *n, const char *why);
void dfr__listeners_close_all(dfr__net *n);

/* ---- resolve.c: name resolution on the reactor's thread pool ---- */
typedef struct dfr__resolve dfr__resolve;
typedef void (*dfr__resolved_fn)(dfr__resolve *res, int gai_err, struct addrinfo *ai);
struct dfr__resolve {
    dfr__job job;
    dfr__resolved_fn done; /* on the reactor thread; owns ai (freeaddrinfo) */
    char *host;
    char port[8];
    int family; /* AF_UNSPEC, AF_INET, AF_INET6 */
    int gai_err;
    struct addrinfo *ai;
};
/* Submit; 0 or a DFR_E* code (then `done` never runs). */
int dfr__resolve_submit(dfr_reactor *r, dfr__resolve *res);

#endif
