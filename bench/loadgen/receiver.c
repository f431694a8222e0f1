/*
 * The receiving side of the fan-out benchmarks: thousands of WebSocket client connections in
 * one process on one epoll loop, counting what the server sends them. Built by the benchmark
 * (bench/receivers.py) with `gcc -O2` into build/bench/receiver; driven by the Python load
 * generator over a line protocol on stdin/stdout. The Python side keeps everything that is not
 * per-frame work (SigV4 presigning, REST publishers, flow control, the statistics); this process
 * does only what scales with the number of deliveries: reads, frame parsing, marker counting.
 *
 * Commands (stdin, one per line; a bad line is answered with "e <reason>" and skipped):
 *   h <host>                                Host header of the handshakes that follow
 *   k <n>                                   connects in flight at most (default 200)
 *   c <id> <mode> <port> <source|-> <path>  open a connection to 127.0.0.1:<port>, from the
 *                                           loopback address <source>; mode 0 counts, mode 1
 *                                           also reports each message's latency
 *   l <bytes>                               SO_RCVLOWAT on every open counting connection
 *   r                                       report the counts now, then answer "r" (a barrier)
 *   q                                       exit (as does the end of stdin)
 * Reports (stdout):
 *   u <id>                          the connection is upgraded (101 received)
 *   f <id> <reason>                 the connection failed before the upgrade
 *   x <id> <code>                   an upgraded connection ended (close code, 1006 without one)
 *   n <markers> <bytes> <frames>    cumulative counts, at most every 2 ms while they change
 *   s <ns> <ns> ...                 latencies of messages on sampling connections
 *   e <reason>                      a command was not understood
 *
 * A benchmark message carries a marker, "bwts" and 19 digits of CLOCK_MONOTONIC nanoseconds (the
 * clock of Python's time.monotonic_ns): deliveries are the markers counted in the payloads of
 * data frames. Pings are answered with pongs; a close frame is recorded. The server's frames are
 * parsed, not scanned, so a marker split across two reads is found whole.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_FRAME (1 << 20)     /* larger server frames fail the connection */
#define MAX_HEAD 16384          /* the handshake response's head */
#define MAX_LINE 65536          /* one command line (a presigned path is ~1 KiB) */
#define SAMPLE_BATCH 256
#define REPORT_NS 2000000LL
#define STDIN_TAG UINT32_MAX

enum { CONNECTING, HANDSHAKE, OPEN, DONE };

typedef struct {
    long id;
    int fd;
    uint8_t state;
    uint8_t sample;
    uint16_t close_code;
    char *request;          /* until sent */
    size_t request_len, request_sent;
    uint8_t *carry;         /* an incomplete frame or head, kept between reads */
    size_t carry_len, carry_cap;
} conn_t;

typedef struct {
    long id;
    int port;
    uint8_t sample;
    char *source;
    char *path;
} pending_t;

static conn_t *conns;
static size_t nconns, cap_conns;
static pending_t *queue;
static size_t queue_head, queue_len, queue_cap;
static int epfd;
static int inflight, max_inflight = 200;
static char host[512] = "127.0.0.1";
static uint8_t *rbuf;
static unsigned long long markers, bytes_in, frames;
static int dirty;
static long long last_report;
static long long samples[SAMPLE_BATCH];
static int nsamples;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void flush_samples(void) {
    if (nsamples == 0) return;
    fputs("s", stdout);
    for (int i = 0; i < nsamples; i++) printf(" %lld", samples[i]);
    fputc('\n', stdout);
    nsamples = 0;
}

static void report(void) {
    flush_samples();
    printf("n %llu %llu %llu\n", markers, bytes_in, frames);
    dirty = 0;
    last_report = now_ns();
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) {
        fputs("e out of memory\n", stdout);
        fflush(stdout);
        exit(2);
    }
    return q;
}

static void release(conn_t *c) {
    if (c->fd >= 0) close(c->fd); /* closing removes it from the epoll set */
    c->fd = -1;
    free(c->request);
    c->request = NULL;
    free(c->carry);
    c->carry = NULL;
    c->carry_len = c->carry_cap = 0;
}

static void fail(conn_t *c, const char *reason) {
    if (c->state == OPEN) {
        printf("x %ld %u\n", c->id, c->close_code ? c->close_code : 1006);
    } else if (c->state != DONE) {
        printf("f %ld %s\n", c->id, reason);
        inflight--;
    }
    c->state = DONE;
    release(c);
}

static void keep(conn_t *c, const uint8_t *data, size_t len) {
    if (len > c->carry_cap) {
        c->carry_cap = len < 256 ? 256 : len;
        c->carry = xrealloc(c->carry, c->carry_cap);
    }
    memmove(c->carry, data, len);
    c->carry_len = len;
}

static void send_control(conn_t *c, int opcode, const uint8_t *payload, size_t len) {
    /* Masked with the all-zero key, so the payload goes as it is. */
    uint8_t frame[6 + 125];
    if (len > 125) len = 125;
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | (uint8_t)len;
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, payload, len);
    /* A control frame on a socket with room; a full buffer means the server stopped reading. */
    (void)!send(c->fd, frame, 6 + len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void count_markers(conn_t *c, const uint8_t *p, size_t len, long long now) {
    const uint8_t *end = p + len;
    while (p < end) {
        const uint8_t *m = memmem(p, (size_t)(end - p), "bwts", 4);
        if (m == NULL) break;
        markers++;
        p = m + 4;
        if (c->sample && end - p >= 19) {
            long long ts = 0;
            int ok = 1;
            for (int i = 0; i < 19; i++) {
                if (p[i] < '0' || p[i] > '9') { ok = 0; break; }
                ts = ts * 10 + (p[i] - '0');
            }
            if (ok) {
                samples[nsamples++] = now - ts;
                if (nsamples == SAMPLE_BATCH) flush_samples();
            }
        }
    }
}

/* Parse the frames in data[0:len]; returns the bytes consumed, or -1 to fail the connection. */
static long parse_frames(conn_t *c, const uint8_t *data, size_t len) {
    size_t off = 0;
    long long now = c->sample ? now_ns() : 0;
    while (len - off >= 2) {
        const uint8_t *f = data + off;
        int opcode = f[0] & 0x0F;
        int masked = f[1] & 0x80;
        uint64_t size = f[1] & 0x7F;
        size_t head = 2;
        if (size == 126) {
            if (len - off < 4) break;
            size = ((uint64_t)f[2] << 8) | f[3];
            head = 4;
        } else if (size == 127) {
            if (len - off < 10) break;
            size = 0;
            for (int i = 2; i < 10; i++) size = (size << 8) | f[i];
            head = 10;
        }
        if (masked) return -1; /* RFC 6455 5.1: a server never masks */
        if (size > MAX_FRAME) return -1;
        if (len - off < head + size) break;
        const uint8_t *payload = f + head;
        switch (opcode) {
        case 0x0: case 0x1: case 0x2:
            if (opcode != 0x0) frames++;
            count_markers(c, payload, size, now);
            break;
        case 0x8:
            c->close_code = size >= 2 ? (uint16_t)((payload[0] << 8) | payload[1]) : 1005;
            send_control(c, 0x8, payload, size >= 2 ? 2 : 0);
            break;
        case 0x9:
            send_control(c, 0xA, payload, size);
            break;
        default:
            break;
        }
        off += head + size;
    }
    dirty = 1;
    return (long)off;
}

static void on_handshake(conn_t *c, size_t len) {
    /* rbuf holds carry + new bytes */
    uint8_t *end = memmem(rbuf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (len > MAX_HEAD) { fail(c, "head-too-large"); return; }
        keep(c, rbuf, len);
        return;
    }
    if (len < 12 || memcmp(rbuf, "HTTP/1.1 101", 12) != 0) {
        char status[4] = "???";
        if (len >= 12) memcpy(status, rbuf + 9, 3);
        for (int i = 0; i < 3; i++) if (status[i] <= ' ' || status[i] > '~') status[i] = '?';
        char reason[16];
        snprintf(reason, sizeof reason, "status-%s", status);
        fail(c, reason);
        return;
    }
    c->state = OPEN;
    inflight--;
    printf("u %ld\n", c->id);
    size_t start = (size_t)(end + 4 - rbuf);
    size_t rest = len - start;
    c->carry_len = 0;
    if (rest) {
        bytes_in += rest;
        long used = parse_frames(c, rbuf + start, rest);
        if (used < 0) { fail(c, "bad-frame"); return; }
        if ((size_t)used < rest) keep(c, rbuf + start + used, rest - (size_t)used);
    }
    if (c->carry_len == 0) { free(c->carry); c->carry = NULL; c->carry_cap = 0; }
}

static void on_readable(conn_t *c) {
    size_t have = c->carry_len;
    if (have) memcpy(rbuf, c->carry, have);
    ssize_t n = recv(c->fd, rbuf + have, READ_SIZE, 0);
    if (n == 0) { fail(c, "closed-before-upgrade"); return; }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        fail(c, "read-error");
        return;
    }
    size_t len = have + (size_t)n;
    if (c->state == HANDSHAKE) { on_handshake(c, len); return; }
    bytes_in += (size_t)n;
    long used = parse_frames(c, rbuf, len);
    if (used < 0) { fail(c, "bad-frame"); return; }
    if ((size_t)used < len) {
        keep(c, rbuf + used, len - (size_t)used);
    } else if (c->carry_cap > 4096) {
        free(c->carry); /* a large frame passed: give its buffer back */
        c->carry = NULL;
        c->carry_cap = 0;
        c->carry_len = 0;
    } else {
        c->carry_len = 0;
    }
}

static void on_writable(conn_t *c) {
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) { fail(c, "connect-error"); return; }
        c->state = HANDSHAKE;
    }
    while (c->request_sent < c->request_len) {
        ssize_t n = send(c->fd, c->request + c->request_sent, c->request_len - c->request_sent,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) return;
            fail(c, "write-error");
            return;
        }
        c->request_sent += (size_t)n;
    }
    free(c->request);
    c->request = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start(pending_t *p) {
    if (nconns == cap_conns) {
        cap_conns = cap_conns ? cap_conns * 2 : 1024;
        conns = xrealloc(conns, cap_conns * sizeof *conns);
    }
    conn_t *c = &conns[nconns];
    memset(c, 0, sizeof *c);
    c->id = p->id;
    c->sample = p->sample;
    c->fd = -1;
    c->state = CONNECTING;
    inflight++;
    nconns++;
    /* The request: a random-enough key (the server only checks its form). */
    static unsigned long counter;
    counter++;
    char key[25];
    snprintf(key, sizeof key, "YmVsbHdpcmUt%09luA==", counter % 1000000000UL);
    size_t cap = strlen(p->path) + strlen(host) + 256;
    c->request = xrealloc(NULL, cap);
    c->request_len = (size_t)snprintf(
        c->request, cap,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
        p->path, host, key);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { fail(c, "socket-error"); return; }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (p->source != NULL) {
        struct sockaddr_in local = {.sin_family = AF_INET};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (inet_pton(AF_INET, p->source, &local.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
            fail(c, "bind-error");
            return;
        }
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        fail(c, "connect-error");
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) fail(c, "epoll-error");
}

static void start_queued(void) {
    while (queue_len > 0 && inflight < max_inflight) {
        pending_t *p = &queue[queue_head];
        start(p);
        free(p->source);
        free(p->path);
        queue_head++;
        queue_len--;
    }
    if (queue_len == 0) queue_head = 0;
}

static void enqueue(long id, int mode, int port, const char *source, const char *path) {
    if (queue_head + queue_len == queue_cap) {
        if (queue_head > 0) {
            memmove(queue, queue + queue_head, queue_len * sizeof *queue);
            queue_head = 0;
        }
        if (queue_len == queue_cap) {
            queue_cap = queue_cap ? queue_cap * 2 : 1024;
            queue = xrealloc(queue, queue_cap * sizeof *queue);
        }
    }
    pending_t *p = &queue[queue_head + queue_len++];
    p->id = id;
    p->port = port;
    p->sample = mode == 1;
    p->source = strcmp(source, "-") == 0 ? NULL : strdup(source);
    p->path = strdup(path);
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* Returns 0 when the driver asked to quit. */
static int command(char *line) {
    char *argv[7];
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t && argc < 7; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    if (argc == 0) return 1;
    long a, b, d;
    if (strcmp(argv[0], "q") == 0 && argc == 1) return 0;
    if (strcmp(argv[0], "r") == 0 && argc == 1) {
        report();
        puts("r");
    } else if (strcmp(argv[0], "h") == 0 && argc == 2 && strlen(argv[1]) < sizeof host) {
        strcpy(host, argv[1]);
    } else if (strcmp(argv[0], "k") == 0 && argc == 2 && parse_long(argv[1], 1, 1 << 20, &a)) {
        max_inflight = (int)a;
    } else if (strcmp(argv[0], "l") == 0 && argc == 2 && parse_long(argv[1], 1, 1 << 24, &a)) {
        int size = (int)a;
        for (size_t i = 0; i < nconns; i++)
            if (conns[i].state == OPEN && !conns[i].sample)
                setsockopt(conns[i].fd, SOL_SOCKET, SO_RCVLOWAT, &size, sizeof size);
    } else if (strcmp(argv[0], "c") == 0 && argc == 6 && parse_long(argv[1], 0, 1L << 40, &a) &&
               parse_long(argv[2], 0, 1, &b) && parse_long(argv[3], 1, 65535, &d) &&
               argv[5][0] == '/') {
        enqueue(a, (int)b, (int)d, argv[4], argv[5]);
    } else {
        printf("e bad command: %.40s\n", argv[0]);
    }
    return 1;
}

static char line_buf[MAX_LINE];
static size_t line_len;
static int line_overflow;

/* Returns 0 at the end of stdin or on "q". */
static int on_stdin(void) {
    char chunk[65536];
    ssize_t n = read(0, chunk, sizeof chunk);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    for (ssize_t i = 0; i < n; i++) {
        char ch = chunk[i];
        if (ch == '\n') {
            if (line_overflow) {
                puts("e line too long");
            } else {
                line_buf[line_len] = '\0';
                if (line_len && line_buf[line_len - 1] == '\r') line_buf[line_len - 1] = '\0';
                if (!command(line_buf)) return 0;
            }
            line_len = 0;
            line_overflow = 0;
        } else if (line_len < MAX_LINE - 1) {
            line_buf[line_len++] = ch;
        } else {
            line_overflow = 1;
        }
    }
    start_queued();
    return 1;
}

int main(void) {
    rbuf = xrealloc(NULL, READ_SIZE + MAX_FRAME + 16);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0) {
        perror("epoll");
        return 1;
    }
    struct epoll_event events[1024];
    int running = 1;
    while (running) {
        int timeout = dirty ? 2 : -1;
        int n = epoll_wait(epfd, events, 1024, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = events[i].data.u32;
            if (tag == STDIN_TAG) {
                if (!on_stdin()) running = 0;
                continue;
            }
            conn_t *c = &conns[tag];
            if (c->fd < 0) continue;
            uint32_t what = events[i].events;
            if (c->state == CONNECTING || c->request != NULL) {
                if (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(c);
            } else if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c);
            }
        }
        start_queued();
        if (dirty && now_ns() - last_report >= REPORT_NS) report();
        fflush(stdout);
    }
    report();
    fflush(stdout);
    return 0;
}
