/*
 * epoll_echo: a minimal single-threaded epoll echo server in C, the practical limit that
 * scripts/bench-compare.sh measures the reference server (`cargo lab serve`) against.
 *
 * It does the least an echo server can do per message: one read into a shared buffer, the
 * line search with libc's memchr, one write straight from that buffer (raw mode) or from
 * one reply buffer (line mode: each line back ending in \r\n, like the reference server).
 * A connection keeps a buffer only while a line is unfinished or a reply is waiting. No
 * timeouts, no connection cap, no logging: it only has to be fast, not safe in a lecture
 * hall. Linux only (epoll, accept4); dev-only, never part of the kit.
 *
 * Usage: epoll_echo [--mode line|raw] [--port N]. Prints `listening on ADDR (MODE mode)` on
 * stdout, like `cargo lab serve`, then serves 127.0.0.1 until killed.
 * Built by scripts/bench-compare.sh: gcc -O2 -o epoll_echo epoll_echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)
#define MAX_LINE (64 * 1024)
#define EVENTS 1024

struct conn {
    char *in; /* an unfinished line */
    size_t in_len, in_cap;
    char *out; /* reply bytes the socket did not take yet */
    size_t out_len, out_off, out_cap;
    int used;
};

static struct conn *conns;
static size_t conns_cap;
static int line_mode = 1;
static int epfd;
static char readbuf[READ_SIZE];
/* A reply is at most the unfinished line plus one read, each \n growing to \r\n. */
static char replybuf[2 * (MAX_LINE + READ_SIZE)];

static void die(const char *what) {
    perror(what);
    exit(1);
}

static struct conn *conn_of(int fd) {
    if ((size_t)fd >= conns_cap) {
        size_t cap = conns_cap ? conns_cap : 1024;
        while (cap <= (size_t)fd) cap *= 2;
        conns = realloc(conns, cap * sizeof *conns);
        if (!conns) die("realloc");
        memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
        conns_cap = cap;
    }
    return &conns[fd];
}

static void close_conn(int fd) {
    struct conn *c = conn_of(fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    close(fd); /* also removes it from the epoll set */
}

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n > *cap) {
        size_t cap2 = *cap ? *cap : 256;
        while (cap2 < *len + n) cap2 *= 2;
        char *grown = realloc(*buf, cap2);
        if (!grown) return -1;
        *buf = grown;
        *cap = cap2;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

static void watch(int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl mod");
}

/* Writes what is pending; returns -1 if the connection failed, 1 if output still waits. */
static int flush_out(int fd, struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 1;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    return 0;
}

/* Sends `data` now, keeping whatever the socket does not take; -1 on failure. */
static int send_reply(int fd, struct conn *c, const char *data, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return -1;
        }
        off += (size_t)w;
    }
    if (off < n) {
        if (append(&c->out, &c->out_len, &c->out_cap, data + off, n - off) < 0) return -1;
        watch(fd, EPOLLOUT); /* stop reading until the client takes its replies */
    }
    return 0;
}

/* Line mode: every complete line in `data` goes back ending in \r\n. */
static int take_lines(int fd, struct conn *c, char *data, size_t n) {
    if (c->in_len) {
        if (c->in_len + n > MAX_LINE + READ_SIZE) return -1;
        if (append(&c->in, &c->in_len, &c->in_cap, data, n) < 0) return -1;
        data = c->in;
        n = c->in_len;
    }
    size_t pos = 0, reply = 0;
    char *nl;
    while (pos < n && (nl = memchr(data + pos, '\n', n - pos))) {
        size_t end = (size_t)(nl - data), text = end;
        if (text > pos && data[text - 1] == '\r') text--;
        memcpy(replybuf + reply, data + pos, text - pos);
        reply += text - pos;
        replybuf[reply++] = '\r';
        replybuf[reply++] = '\n';
        pos = end + 1;
    }
    size_t rest = n - pos;
    if (rest >= MAX_LINE) return -1;
    if (data == c->in) {
        memmove(c->in, c->in + pos, rest);
        c->in_len = rest;
    } else if (rest && append(&c->in, &c->in_len, &c->in_cap, data + pos, rest) < 0) {
        return -1;
    }
    if (c->in_len == 0 && c->in_cap > 4096) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    return reply ? send_reply(fd, c, replybuf, reply) : 0;
}

static void on_readable(int fd) {
    struct conn *c = conn_of(fd);
    for (;;) {
        ssize_t n = read(fd, readbuf, sizeof readbuf);
        if (n == 0) {
            close_conn(fd);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            close_conn(fd);
            return;
        }
        int failed = line_mode ? take_lines(fd, c, readbuf, (size_t)n)
                               : send_reply(fd, c, readbuf, (size_t)n);
        if (failed) {
            close_conn(fd);
            return;
        }
        if (c->out_len) return; /* paused until the replies are out */
        if ((size_t)n < sizeof readbuf) return; /* drained: level-triggered epoll says when more comes */
    }
}

static void on_writable(int fd) {
    struct conn *c = conn_of(fd);
    int left = flush_out(fd, c);
    if (left < 0) {
        close_conn(fd);
    } else if (left == 0) {
        if (c->out_cap > 4096) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        watch(fd, EPOLLIN);
        on_readable(fd); /* input may have arrived while reading was paused */
    }
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            line_mode = strcmp(argv[++i], "raw") != 0;
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: epoll_echo [--mode line|raw] [--port N]\n");
            return 2;
        }
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");
    socklen_t len = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    printf("listening on 127.0.0.1:%d (%s mode)\n", ntohs(addr.sin_port), line_mode ? "line" : "raw");
    fflush(stdout);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listener");
    struct epoll_event events[EVENTS];
    for (;;) {
        int ready = epoll_wait(epfd, events, EVENTS, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    conn_of(cfd)->used = 1;
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev) < 0) close(cfd);
                }
                continue;
            }
            if (!conn_of(fd)->used) continue; /* closed earlier in this batch */
            if (events[i].events & EPOLLOUT) on_writable(fd);
            else on_readable(fd);
        }
    }
}
