/* Stream benchmarks over loopback (issue 17), one JSON line each:
 *   tcp_rtt         one-byte ping-pong, n round trips (libdeferred push and
 *                   pull/coroutine, raw libuv);
 *   tcp_throughput  n bytes in 64 KiB writes (libdeferred pull writer with
 *                   wait_writable, raw libuv); bytes_per_op = MB/s;
 *   tcp_accept      connect + accept + close, n times in a row.
 *
 *   bench_net [rtt_n throughput_bytes accept_n]
 * Twisted's peers are in bench/twisted_net_bench.py; bench/run_net runs both. */
#include <deferred.h>
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK (64 * 1024)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void emit(const char *bench, const char *impl, long n, double secs)
{
    printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"ns_per_op\": %.1f}\n", bench, impl,
           n, secs / (double)n * 1e9);
    fflush(stdout);
}

static void emit_rate(const char *bench, const char *impl, long n, double secs)
{
    printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"ns_per_op\": 0, \"mb_per_s\": %.1f}\n",
           bench, impl, n, (double)n / secs / 1e6);
    fflush(stdout);
}

/* ---- libdeferred ---- */

typedef struct run {
    dfr_reactor *r;
    long n, count;
    size_t bytes;
    bool pull;
    double t0, t1;
} run;

static run R;

static void echo_data(dfr_stream *s, const void *buf, size_t n, void *d)
{
    (void)d;
    dfr_stream_write(s, buf, n);
}

static void count_data(dfr_stream *s, const void *buf, size_t n, void *d)
{
    (void)s, (void)buf, (void)d;
    R.bytes += n;
    if (R.bytes >= (size_t)R.n) {
        R.t1 = now_s();
        dfr_reactor_stop(R.r);
    }
}

static void accept_echo(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l;
    dfr_protocol p = {.size = sizeof p, .data_received = data};
    dfr_stream_set_protocol(s, &p, NULL, NULL);
}

static void ping_data(dfr_stream *s, const void *buf, size_t n, void *d)
{
    (void)buf, (void)n, (void)d;
    if (++R.count < R.n) {
        dfr_stream_write(s, "x", 1);
        return;
    }
    R.t1 = now_s();
    dfr_reactor_stop(R.r);
}

static dfr_value pinger(void *data)
{
    dfr_stream *s = data;
    for (R.count = 0; R.count < R.n; R.count++) {
        dfr_stream_write(s, "x", 1);
        dfr_value v = dfr_await(dfr_stream_read(s, 1));
        dfr_value_drop(v);
    }
    R.t1 = now_s();
    dfr_reactor_stop(R.r);
    return dfr_none();
}

static dfr_value writer(void *data)
{
    dfr_stream *s = data;
    static char chunk[CHUNK];
    dfr_stream_set_watermarks(s, 1 << 20, 256 << 10);
    for (long sent = 0; sent < R.n; sent += CHUNK) {
        dfr_value_drop(dfr_await(dfr_stream_wait_writable(s)));
        dfr_stream_write(s, chunk, CHUNK);
    }
    return dfr_none();
}

static void release(void *s) { dfr_stream_unref(s); }

static dfr_value connected(dfr_value v, void *mode)
{
    dfr_stream *s = dfr_stream_from(&v);
    R.t0 = now_s();
    if (!strcmp(mode, "push")) {
        dfr_protocol p = {.size = sizeof p, .data_received = ping_data};
        dfr_stream_set_protocol(s, &p, NULL, NULL);
        dfr_stream_write(s, "x", 1);
    } else if (!strcmp(mode, "pull")) {
        dfr_deferred_unref(dfr_inline_callbacks(pinger, dfr_stream_ref(s), release));
    } else {
        dfr_deferred_unref(dfr_inline_callbacks(writer, dfr_stream_ref(s), release));
    }
    return v;
}

static double dfr_stream_bench(const char *mode, long n)
{
    memset(&R, 0, sizeof R);
    R.r = dfr_reactor_new(NULL);
    R.n = n;
    dfr_listener *l;
    bool tput = !strcmp(mode, "tput");
    dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_echo, tput ? (void *)count_data : (void *)echo_data,
                           NULL, NULL, &l);
    dfr_connect_options o = {.size = sizeof o, .no_delay = true};
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l), &o);
    dfr_deferred_add_callback(d, connected, (void *)mode, NULL);
    dfr_reactor_run(R.r);
    dfr_deferred_unref(d);
    dfr_listener_unref(l);
    dfr_reactor_free(R.r);
    return R.t1 - R.t0;
}

static void accept_drop(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l, (void)s, (void)data; /* kept by nobody: closed */
}

static int accept_port;

static dfr_value accept_next(dfr_value v, void *data)
{
    (void)data;
    dfr_value_drop(v); /* the stream goes: closed */
    if (++R.count == R.n) {
        R.t1 = now_s();
        dfr_reactor_stop(R.r);
        return dfr_none();
    }
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", accept_port, NULL);
    dfr_deferred_add_both(d, accept_next, NULL, NULL);
    dfr_deferred_unref(d);
    return dfr_none();
}

static void accept_start(void *data)
{
    (void)data;
    R.t0 = now_s();
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", accept_port, NULL);
    dfr_deferred_add_both(d, accept_next, NULL, NULL);
    dfr_deferred_unref(d);
}

static double dfr_accept_bench(long n)
{
    memset(&R, 0, sizeof R);
    R.r = dfr_reactor_new(NULL);
    R.n = n;
    dfr_listener *l;
    dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_drop, NULL, NULL, NULL, &l);
    accept_port = dfr_listener_port(l);
    dfr_reactor_call_when_running(R.r, accept_start, NULL, NULL);
    dfr_reactor_run(R.r);
    dfr_listener_unref(l);
    dfr_reactor_free(R.r);
    return R.t1 - R.t0;
}

/* ---- raw libuv, written plainly ---- */

static uv_loop_t loop;
static uv_tcp_t server, client, accepted;
static char rbuf[CHUNK];
static long uv_n, uv_count;
static size_t uv_bytes;
static double uv_t0, uv_t1;
static int uv_mode; /* 0 rtt, 1 throughput, 2 accept */
static struct sockaddr_in uv_addr;

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)h, (void)s;
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void free_write(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void write_bytes(uv_stream_t *s, const char *p, size_t n)
{
    uv_write_t *w = malloc(sizeof *w + n);
    memcpy(w + 1, p, n);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
    uv_write(w, s, &b, 1, free_write);
}

static void server_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n <= 0) {
        if (n < 0)
            uv_close((uv_handle_t *)s, NULL);
        return;
    }
    if (uv_mode == 0) {
        write_bytes(s, b->base, (size_t)n);
    } else if ((uv_bytes += (size_t)n) >= (size_t)uv_n) {
        uv_t1 = now_s();
        uv_close((uv_handle_t *)s, NULL);
        uv_close((uv_handle_t *)&client, NULL);
        uv_close((uv_handle_t *)&server, NULL);
    }
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n <= 0)
        return;
    if (++uv_count < uv_n) {
        write_bytes(s, "x", 1);
        return;
    }
    uv_t1 = now_s();
    uv_close((uv_handle_t *)s, NULL);
    uv_close((uv_handle_t *)&accepted, NULL);
    uv_close((uv_handle_t *)&server, NULL);
}

static void on_conn(uv_stream_t *srv, int status)
{
    (void)status;
    if (uv_mode == 2) {
        uv_tcp_t *c = malloc(sizeof *c);
        uv_tcp_init(&loop, c);
        uv_accept(srv, (uv_stream_t *)c);
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        return;
    }
    uv_tcp_init(&loop, &accepted);
    uv_accept(srv, (uv_stream_t *)&accepted);
    uv_read_start((uv_stream_t *)&accepted, alloc_cb, server_read);
}

static char chunk[CHUNK];
static long uv_sent;

static void pump(uv_write_t *w, int status);

static void fill(void)
{
    while (uv_sent < uv_n && client.write_queue_size <= (1 << 20)) {
        uv_write_t *w = malloc(sizeof *w);
        uv_buf_t b = uv_buf_init(chunk, CHUNK);
        uv_write(w, (uv_stream_t *)&client, &b, 1, pump);
        uv_sent += CHUNK;
    }
}

static void pump(uv_write_t *w, int status)
{
    free(w);
    if (status == 0)
        fill();
}

static void connect_again(void);

static void client_closed(uv_handle_t *h)
{
    (void)h;
    if (++uv_count < uv_n) {
        connect_again();
        return;
    }
    uv_t1 = now_s();
    uv_close((uv_handle_t *)&server, NULL);
}

static void on_connected(uv_connect_t *req, int status)
{
    (void)status;
    free(req);
    if (uv_mode == 0) {
        uv_tcp_nodelay(&client, 1);
        uv_read_start((uv_stream_t *)&client, alloc_cb, client_read);
        write_bytes((uv_stream_t *)&client, "x", 1);
    } else if (uv_mode == 1) {
        fill();
    } else {
        uv_close((uv_handle_t *)&client, client_closed);
    }
}

static void connect_again(void)
{
    uv_tcp_init(&loop, &client);
    uv_connect_t *req = malloc(sizeof *req);
    uv_tcp_connect(req, &client, (struct sockaddr *)&uv_addr, on_connected);
}

static double uv_bench(int mode, long n)
{
    uv_mode = mode;
    uv_n = n;
    uv_count = 0;
    uv_bytes = 0;
    uv_sent = 0;
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &uv_addr);
    uv_tcp_bind(&server, (struct sockaddr *)&uv_addr, 0);
    int len = sizeof uv_addr;
    uv_tcp_getsockname(&server, (struct sockaddr *)&uv_addr, &len);
    uv_listen((uv_stream_t *)&server, 511, on_conn);
    uv_t0 = now_s();
    connect_again();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return uv_t1 - uv_t0;
}

static double best3(double (*f)(const char *, long), const char *mode, long n)
{
    double best = 1e300;
    for (int i = 0; i < 3; i++) {
        double t = f(mode, n);
        if (t < best)
            best = t;
    }
    return best;
}

static double uv_best3(int mode, long n)
{
    double best = 1e300;
    for (int i = 0; i < 3; i++) {
        double t = uv_bench(mode, n);
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    long rtt_n = argc > 1 ? atol(argv[1]) : 100000;
    long tput_n = argc > 2 ? atol(argv[2]) : 256L << 20;
    long acc_n = argc > 3 ? atol(argv[3]) : 10000;
    emit("tcp_rtt", "libdeferred_push", rtt_n, best3(dfr_stream_bench, "push", rtt_n));
    emit("tcp_rtt", "libdeferred_pull", rtt_n, best3(dfr_stream_bench, "pull", rtt_n));
    emit("tcp_rtt", "libuv", rtt_n, uv_best3(0, rtt_n));
    emit_rate("tcp_throughput", "libdeferred_pull", tput_n, best3(dfr_stream_bench, "tput", tput_n));
    emit_rate("tcp_throughput", "libuv", tput_n, uv_best3(1, tput_n));
    double best = 1e300;
    for (int i = 0; i < 3; i++) {
        double t = dfr_accept_bench(acc_n);
        best = t < best ? t : best;
    }
    emit("tcp_accept", "libdeferred", acc_n, best);
    emit("tcp_accept", "libuv", acc_n, uv_best3(2, acc_n));
    return 0;
}
