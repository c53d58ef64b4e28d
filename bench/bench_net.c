/* Stream benchmarks over loopback (issue 17).  One run of one bench by one
 * impl per call, one JSON line; bench/lang/net alternates the impls (and
 * Twisted's peers, bench/twisted_net_bench.py) and keeps the best run.
 *
 *   bench_net BENCH IMPL N
 *     tcp_rtt         one-byte ping-pong, N round trips;
 *                     impls libdeferred_push, libdeferred_pull, libuv, floor
 *     tcp_throughput  N bytes in 64 KiB writes; impls libdeferred_pull,
 *                     libuv, floor
 *     tcp_accept      connect + accept + close, N times in a row;
 *                     impls libdeferred, libuv, floor
 *
 * Every impl does the same work, so the ratios compare like with like:
 * - one process, one thread: both ends of the connection on one loop (the
 *   floor alternates blocking calls), so loopback delivery runs in this
 *   process and its kernel time is charged to it;
 * - every reader reads into a 64 KiB buffer and counts what it received;
 * - throughput: the writer has one 64 KiB chunk in flight and writes the
 *   next once the previous was handed to the kernel (Twisted's pull
 *   producer, which its transport asks for more once its buffer is empty).
 *   Writing until the kernel refuses instead buffers megabytes, and the
 *   copies then miss the caches: that measured the kernel's buffer sizes,
 *   not the impls.  No impl copies the chunk in user space;
 * - the clock starts once connected (rtt, throughput) or before the first
 *   connect (accept), and stops when the reader has everything.
 * Rows give wall time and CPU time (user + system of this process): on a
 * shared machine the wall time also counts the time spent waiting for a
 * core, the CPU time does not.
 *
 * The floor is the least the kernel lets any impl do: blocking sockets, no
 * event loop (rtt: write, read, write, read; throughput: write 64 KiB, read
 * it; accept: connect, accept, close, close). */
#include <deferred.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* The timed section: start() and stop() around it. */
static double wall0, wall1, cpu0, cpu1;

static void start(void)
{
    cpu0 = cpu_s();
    wall0 = now_s();
}

static void stop(void)
{
    wall1 = now_s();
    cpu1 = cpu_s();
}

static void emit(const char *bench, const char *impl, long n)
{
    double wall = wall1 - wall0, cpu = cpu1 - cpu0;
    if (!strcmp(bench, "tcp_throughput"))
        printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"mb_per_s\": %.1f, "
               "\"cpu_mb_per_s\": %.1f}\n",
               bench, impl, n, (double)n / wall / 1e6, cpu > 0 ? (double)n / cpu / 1e6 : 0.0);
    else
        printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"n\": %ld, \"ns_per_op\": %.1f, "
               "\"cpu_ns_per_op\": %.1f}\n",
               bench, impl, n, wall / (double)n * 1e9, cpu / (double)n * 1e9);
}

static char chunk[CHUNK];

/* ---- libdeferred ---- */

typedef struct run {
    dfr_reactor *r;
    long n, count;
    size_t bytes;
    int port;
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
        stop();
        dfr_reactor_stop(R.r);
    }
}

static void accept_with(dfr_listener *l, dfr_stream *s, void *data)
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
    stop();
    dfr_reactor_stop(R.r);
}

static dfr_value pinger(void *data)
{
    dfr_stream *s = data;
    for (R.count = 0; R.count < R.n; R.count++) {
        dfr_stream_write(s, "x", 1);
        dfr_value v = dfr_await(dfr_stream_read(s, 1));
        if (dfr_is_failure(v))
            abort();
        dfr_value_drop(v);
    }
    stop();
    dfr_reactor_stop(R.r);
    return dfr_none();
}

static dfr_value writer(void *data)
{
    dfr_stream *s = data;
    for (long sent = 0; sent < R.n; sent += CHUNK) {
        dfr_stream_write_owned(s, chunk, CHUNK, NULL);
        dfr_value_drop(dfr_await(dfr_stream_written(s)));
    }
    return dfr_none();
}

static void release(void *s) { dfr_stream_unref(s); }

static dfr_value connected(dfr_value v, void *mode)
{
    dfr_stream *s = dfr_stream_from(&v);
    if (!s)
        abort();
    start();
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

static void dfr_stream_bench(const char *mode, long n)
{
    R = (run){.r = dfr_reactor_new(NULL), .n = n};
    dfr_listener *l;
    bool tput = !strcmp(mode, "tput");
    if (dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_with,
                               tput ? (void *)count_data : (void *)echo_data, NULL, NULL, &l))
        abort();
    dfr_connect_options o = {.size = sizeof o, .no_delay = true};
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l), &o);
    dfr_deferred_add_callback(d, connected, (void *)mode, NULL);
    dfr_reactor_run(R.r);
    dfr_deferred_unref(d);
    dfr_listener_unref(l);
    dfr_reactor_free(R.r);
}

static void accept_drop(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l, (void)s, (void)data; /* kept by nobody: closed */
}

static dfr_value accept_next(dfr_value v, void *data)
{
    (void)data;
    if (!dfr_stream_from(&v))
        abort();
    dfr_value_drop(v); /* the stream goes: closed */
    if (++R.count == R.n) {
        stop();
        dfr_reactor_stop(R.r);
        return dfr_none();
    }
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", R.port, NULL);
    dfr_deferred_add_both(d, accept_next, NULL, NULL);
    dfr_deferred_unref(d);
    return dfr_none();
}

static void accept_start(void *data)
{
    (void)data;
    start();
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", R.port, NULL);
    dfr_deferred_add_both(d, accept_next, NULL, NULL);
    dfr_deferred_unref(d);
}

static void dfr_accept_bench(long n)
{
    R = (run){.r = dfr_reactor_new(NULL), .n = n};
    dfr_listener *l;
    if (dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_drop, NULL, NULL, NULL, &l))
        abort();
    R.port = dfr_listener_port(l);
    dfr_reactor_call_when_running(R.r, accept_start, NULL, NULL);
    dfr_reactor_run(R.r);
    dfr_listener_unref(l);
    dfr_reactor_free(R.r);
}

/* ---- raw libuv, written plainly ---- */

static uv_loop_t loop;
static uv_tcp_t server, client, accepted;
static char rbuf[CHUNK];
static long uv_n, uv_count;
static size_t uv_bytes;
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
        stop();
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
    stop();
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

static long uv_sent;

/* One chunk in flight: the next goes when this one reached the kernel. */
static void write_chunk(uv_write_t *w, int status)
{
    if (status < 0 || uv_sent >= uv_n) {
        free(w);
        return;
    }
    if (!w)
        w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init(chunk, CHUNK);
    uv_sent += CHUNK;
    uv_write(w, (uv_stream_t *)&client, &b, 1, write_chunk);
}

static void connect_again(void);

static void client_closed(uv_handle_t *h)
{
    (void)h;
    if (++uv_count < uv_n) {
        connect_again();
        return;
    }
    stop();
    uv_close((uv_handle_t *)&server, NULL);
}

static void on_connected(uv_connect_t *req, int status)
{
    free(req);
    if (status < 0)
        abort();
    if (uv_mode == 0) {
        start();
        uv_tcp_nodelay(&client, 1);
        uv_read_start((uv_stream_t *)&client, alloc_cb, client_read);
        write_bytes((uv_stream_t *)&client, "x", 1);
    } else if (uv_mode == 1) {
        start();
        uv_tcp_nodelay(&client, 1);
        write_chunk(NULL, 0);
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

static void uv_bench(int mode, long n)
{
    uv_mode = mode;
    uv_n = n;
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &uv_addr);
    uv_tcp_bind(&server, (struct sockaddr *)&uv_addr, 0);
    int len = sizeof uv_addr;
    uv_tcp_getsockname(&server, (struct sockaddr *)&uv_addr, &len);
    uv_listen((uv_stream_t *)&server, 511, on_conn);
    if (mode == 2)
        start();
    connect_again();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* ---- the floor: blocking sockets, no loop ---- */

static int floor_listener(struct sockaddr_in *a)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *a;
    if (l < 0 || bind(l, (struct sockaddr *)a, len) || getsockname(l, (struct sockaddr *)a, &len) ||
        listen(l, 511))
        abort();
    return l;
}

static int floor_connect(const struct sockaddr_in *a)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof *a))
        abort();
    return c;
}

/* Read exactly n bytes into rbuf-sized pieces. */
static void read_n(int fd, size_t n)
{
    while (n > 0) {
        ssize_t got = read(fd, rbuf, sizeof rbuf);
        if (got <= 0)
            abort();
        n -= (size_t)got;
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put <= 0)
            abort();
        p += put;
        n -= (size_t)put;
    }
}

static void floor_bench(int mode, long n)
{
    struct sockaddr_in a;
    int l = floor_listener(&a);
    if (mode == 2) {
        start();
        for (long i = 0; i < n; i++) {
            int c = floor_connect(&a);
            int s = accept(l, NULL, NULL);
            if (s < 0)
                abort();
            close(s);
            close(c);
        }
        stop();
        close(l);
        return;
    }
    int c = floor_connect(&a);
    int s = accept(l, NULL, NULL);
    int one = 1;
    if (s < 0 || setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
        abort();
    start();
    if (mode == 0) {
        for (long i = 0; i < n; i++) {
            write_all(c, "x", 1);
            read_n(s, 1);
            write_all(s, rbuf, 1);
            read_n(c, 1);
        }
    } else {
        for (long sent = 0; sent < n; sent += CHUNK) {
            write_all(c, chunk, CHUNK);
            read_n(s, CHUNK);
        }
    }
    stop();
    close(s);
    close(c);
    close(l);
}

/* ---- the table ---- */

typedef struct entry {
    const char *bench, *impl;
    void (*run)(long n);
} entry;

static void rtt_push(long n) { dfr_stream_bench("push", n); }
static void rtt_pull(long n) { dfr_stream_bench("pull", n); }
static void rtt_uv(long n) { uv_bench(0, n); }
static void rtt_floor(long n) { floor_bench(0, n); }
static void tput_dfr(long n) { dfr_stream_bench("tput", n); }
static void tput_uv(long n) { uv_bench(1, n); }
static void tput_floor(long n) { floor_bench(1, n); }
static void acc_dfr(long n) { dfr_accept_bench(n); }
static void acc_uv(long n) { uv_bench(2, n); }
static void acc_floor(long n) { floor_bench(2, n); }

static const entry table[] = {
    {"tcp_rtt", "libdeferred_push", rtt_push},
    {"tcp_rtt", "libdeferred_pull", rtt_pull},
    {"tcp_rtt", "libuv", rtt_uv},
    {"tcp_rtt", "floor", rtt_floor},
    {"tcp_throughput", "libdeferred_pull", tput_dfr},
    {"tcp_throughput", "libuv", tput_uv},
    {"tcp_throughput", "floor", tput_floor},
    {"tcp_accept", "libdeferred", acc_dfr},
    {"tcp_accept", "libuv", acc_uv},
    {"tcp_accept", "floor", acc_floor},
};

int main(int argc, char **argv)
{
    long n = argc == 4 ? atol(argv[3]) : 0;
    for (size_t i = 0; n > 0 && i < sizeof table / sizeof *table; i++) {
        if (strcmp(table[i].bench, argv[1]) || strcmp(table[i].impl, argv[2]))
            continue;
        if (!strcmp(argv[1], "tcp_throughput") && n % CHUNK)
            break;
        table[i].run(n);
        emit(argv[1], argv[2], n);
        return 0;
    }
    fprintf(stderr, "usage: bench_net BENCH IMPL N (N > 0; a multiple of %d for throughput)\n",
            CHUNK);
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        fprintf(stderr, "  %s %s\n", table[i].bench, table[i].impl);
    return 2;
}
