/*
 * pingpong_client: an independent load client for scripts/bench-compare.sh, to check what
 * `cargo lab bench` reports. It shares no code with it: C, one thread, level-triggered
 * epoll, every latency kept and sorted for exact percentiles (no histogram).
 *
 * N connections connect, then each sends M messages of S bytes one at a time, waiting for
 * each echo before sending the next (closed loop, ping-pong), and checks every reply byte
 * for byte. Line mode: S-1 printable bytes and \n, the reply must be the same text ending in
 * \r\n (all the compared servers answer so). Raw mode: the reply must be the same S bytes.
 * A message's latency runs from just before its write to the moment its last reply byte is
 * read. Linux only; dev-only, never part of the kit.
 *
 * Usage: pingpong_client --addr 127.0.0.1:PORT [--connections N] [--messages M]
 *                        [--size S] [--mode line|raw] [--timeout SECONDS]
 * Prints a report shaped like `cargo lab bench`'s (requests ... req/s, latency p50/p99/max,
 * errors); exits 1 if any message failed.
 * Built by scripts/bench-compare.sh: gcc -O2 -o pingpong_client pingpong_client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

struct client {
    int fd;
    long id;
    int state; /* 0 connecting, 1 waiting for the start, 2 exchanging, 3 done, 4 failed */
    long number; /* the message being exchanged */
    size_t sent, got;
    uint64_t sent_at;
    unsigned events; /* what epoll watches for now: changed only when it must change */
    char *message, *reply;
};

static long connections = 50, messages = 1000;
static size_t size = 512;
static int line_mode = 1;
static double timeout_s = 10;
static int epfd;
static uint64_t *latencies;
/* 'a' + i % 26 for i in 0 .. size + 26: every message's body is one copy out of it. */
static char *letters;
static size_t answered;
static long failed, connected;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void watch(struct client *c, int op, unsigned events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

static void fail(struct client *c, const char *why) {
    if (failed == 0) fprintf(stderr, "first failure: connection %ld, message %ld: %s\n",
                             c->id + 1, c->number + 1, why);
    failed++;
    c->state = 4;
    close(c->fd);
}

/* Message `number` of a connection: a pattern that shifts with each message, so a reply
 * to an earlier message is caught. Copied, not computed byte by byte: with 4 KiB messages a
 * loop with a division per byte made this client, not the server, the bottleneck. */
static void fill(struct client *c) {
    size_t body = line_mode ? size - 1 : size;
    memcpy(c->message, letters + ((size_t)c->number + (size_t)c->id) % 26, body);
    if (line_mode) c->message[body] = '\n';
}

/* Watches for `events` on the connection, with a system call only when they change, not
 * one epoll_ctl per message on top of its write and read. */
static void watch_for(struct client *c, unsigned events) {
    if (c->events == events) return;
    c->events = events;
    watch(c, EPOLL_CTL_MOD, events);
}

static size_t reply_len(void) { return line_mode ? size + 1 : size; }

static void send_some(struct client *c) {
    while (c->sent < size) {
        ssize_t n = write(c->fd, c->message + c->sent, size - c->sent);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                watch_for(c, EPOLLIN | EPOLLOUT);
                return;
            }
            fail(c, strerror(errno));
            return;
        }
        c->sent += (size_t)n;
    }
    watch_for(c, EPOLLIN);
}

static void start_message(struct client *c) {
    fill(c);
    c->sent = c->got = 0;
    c->sent_at = now_ns();
    send_some(c);
}

static void receive(struct client *c) {
    size_t want = reply_len();
    for (;;) {
        ssize_t n = read(c->fd, c->reply + c->got, want - c->got);
        if (n == 0) {
            fail(c, "the server closed the connection");
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) fail(c, strerror(errno));
            return;
        }
        c->got += (size_t)n;
        if (c->got < want) continue;
        uint64_t at = now_ns();
        size_t text = line_mode ? size - 1 : size;
        if (memcmp(c->reply, c->message, text) != 0 ||
            (line_mode && memcmp(c->reply + text, "\r\n", 2) != 0)) {
            fail(c, "the reply differs from the message sent");
            return;
        }
        latencies[answered++] = at - c->sent_at;
        if (++c->number == messages) {
            c->state = 3;
            close(c->fd);
            return;
        }
        start_message(c);
        return; /* its reply is not there yet: ping-pong */
    }
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(double p) {
    if (!answered) return 0;
    size_t rank = (size_t)(p * (double)answered + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > answered) rank = answered;
    return (double)latencies[rank - 1] / 1e6;
}

int main(int argc, char **argv) {
    const char *addr_arg = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--addr")) addr_arg = v;
        else if (!strcmp(k, "--connections")) connections = atol(v);
        else if (!strcmp(k, "--messages")) messages = atol(v);
        else if (!strcmp(k, "--size")) size = (size_t)atol(v);
        else if (!strcmp(k, "--mode")) line_mode = strcmp(v, "raw") != 0;
        else if (!strcmp(k, "--timeout")) timeout_s = atof(v);
        else addr_arg = NULL, i = argc;
    }
    if (!addr_arg || connections < 1 || messages < 1 || size < 2 || (argc % 2) == 0) {
        fprintf(stderr, "usage: pingpong_client --addr HOST:PORT [--connections N] [--messages M] "
                        "[--size S] [--mode line|raw] [--timeout SECONDS]\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(addr_arg, ':');
    if (!colon || (size_t)(colon - addr_arg) >= sizeof host) {
        fprintf(stderr, "--addr must be IPV4:PORT\n");
        return 2;
    }
    memcpy(host, addr_arg, (size_t)(colon - addr_arg));
    host[colon - addr_arg] = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "--addr must be IPV4:PORT\n");
        return 2;
    }

    latencies = malloc(sizeof *latencies * (size_t)connections * (size_t)messages);
    letters = malloc(size + 26);
    for (size_t i = 0; letters && i < size + 26; i++) letters[i] = (char)('a' + i % 26);
    struct client *clients = calloc((size_t)connections, sizeof *clients);
    epfd = epoll_create1(0);
    if (!latencies || !letters || !clients || epfd < 0) {
        perror("setup");
        return 1;
    }
    uint64_t connect_start = now_ns();
    for (long i = 0; i < connections; i++) {
        struct client *c = &clients[i];
        c->id = i;
        c->message = malloc(size);
        c->reply = malloc(size + 2);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
            fail(c, strerror(errno));
            continue;
        }
        c->events = EPOLLOUT;
        watch(c, EPOLL_CTL_ADD, EPOLLOUT);
    }
    struct epoll_event events[1024];
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    /* Everyone connects first; the clock starts when all have (or failed to). */
    while (connected + failed < connections) {
        int ready = epoll_wait(epfd, events, 1024, 100);
        for (int i = 0; i < ready; i++) {
            struct client *c = events[i].data.ptr;
            int error = 0;
            socklen_t len = sizeof error;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
            if (error) {
                fail(c, strerror(error));
                continue;
            }
            c->state = 1;
            connected++;
            watch_for(c, 0);
        }
        if (now_ns() > deadline) {
            for (long i = 0; i < connections; i++)
                if (clients[i].state == 0) fail(&clients[i], "no connection within the timeout");
        }
    }
    uint64_t start = now_ns();
    double connect_ms = (double)(start - connect_start) / 1e6;
    for (long i = 0; i < connections; i++) {
        if (clients[i].state != 1) continue;
        clients[i].state = 2;
        start_message(&clients[i]);
    }
    long active = connected;
    uint64_t last_progress = now_ns();
    while (active > 0) {
        int ready = epoll_wait(epfd, events, 1024, 100);
        if (ready < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        size_t before = answered;
        for (int i = 0; i < ready; i++) {
            struct client *c = events[i].data.ptr;
            if (c->state != 2) continue;
            if (c->sent < size) send_some(c);
            if (c->state == 2 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) receive(c);
            if (c->state != 2) active--;
        }
        uint64_t now = now_ns();
        if (answered != before) last_progress = now;
        if (now - last_progress > (uint64_t)(timeout_s * 1e9)) {
            for (long i = 0; i < connections; i++)
                if (clients[i].state == 2) fail(&clients[i], "no reply within the timeout"), active--;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    qsort(latencies, answered, sizeof *latencies, by_value);
    printf("client %s (%s mode): %ld connection%s x %ld message%s of %zu bytes\n", addr_arg,
           line_mode ? "line" : "raw", connections, connections == 1 ? "" : "s", messages,
           messages == 1 ? "" : "s", size);
    printf("connected  %ld of %ld in %.2f ms\n", connected, connections, connect_ms);
    printf("requests   %zu of %ld answered in %.2f s: %.0f req/s\n", answered, connections * messages,
           elapsed, (double)answered / (elapsed > 0 ? elapsed : 1e-9));
    if (answered)
        printf("latency    p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", percentile_ms(0.5), percentile_ms(0.99),
               (double)latencies[answered - 1] / 1e6);
    else
        printf("latency    no answer to measure\n");
    if (failed) printf("errors     %ld\n", failed);
    else printf("errors     none\n");
    return failed ? 1 : 0;
}
