/*
 * loopback-floor: what a fan-out over loopback TCP costs this machine with
 * no server in the way: the floor under `bench fanout`'s latency figures.
 *
 * One process holds N connected socket pairs over 127.0.0.1. At a fixed
 * rate a "broadcast" is handed (through an eventfd, as a server's event loop
 * is woken) to W writer threads, each of which writes a small frame carrying
 * the broadcast's CLOCK_MONOTONIC time to its share of the sockets, one
 * write(2) each, as a server at light load does; R reader threads read them
 * with epoll and record the latency. It prints the latency percentiles and
 * the writers' and readers' CPU per frame. Loopback only, bounded in count
 * and time.
 *
 *   cc -O2 -pthread -o loopback-floor Benchmarks/loopback-floor/floor.c
 *   chrt -r 5 ./loopback-floor --connections 1000 --rate 50 --duration 12 --writers 2 --readers 2
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 8
#define FRAME 32                    /* bytes per frame: 8 of time, the rest padding */
#define BUCKET_NS 10000ULL          /* histogram resolution: 10 µs */
#define BUCKETS 100000              /* up to 1 s */

static int connections = 1000, rate = 50, duration = 12, writers = 2, readers = 2;
static int *writer_fds, *reader_fds;
static volatile int stop = 0;
static uint64_t histogram[MAX_THREADS][BUCKETS];
static uint64_t received[MAX_THREADS];
static double writer_cpu[MAX_THREADS], reader_cpu[MAX_THREADS];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

struct writer { int index; int wake; };

static void *write_frames(void *argument) {
    struct writer *self = argument;
    double cpu_start = thread_cpu_seconds();
    char frame[FRAME];
    memset(frame, 'x', sizeof frame);
    for (;;) {
        uint64_t sent;
        if (read(self->wake, &sent, sizeof sent) != sizeof sent || stop) break;
        memcpy(frame, &sent, sizeof sent);
        for (int i = self->index; i < connections; i += writers) {
            if (write(writer_fds[i], frame, sizeof frame) != sizeof frame) die("write");
        }
    }
    writer_cpu[self->index] = thread_cpu_seconds() - cpu_start;
    return NULL;
}

static void *read_frames(void *argument) {
    int index = (int)(intptr_t)argument;
    double cpu_start = thread_cpu_seconds();
    int epoll = epoll_create1(0);
    if (epoll < 0) die("epoll_create1");
    for (int i = index; i < connections; i += readers) {
        struct epoll_event event = { .events = EPOLLIN, .data.fd = reader_fds[i] };
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, reader_fds[i], &event) < 0) die("epoll_ctl");
    }
    struct epoll_event events[256];
    char buffer[FRAME * 64];
    while (!stop) {
        int ready = epoll_wait(epoll, events, 256, 100);
        uint64_t now = now_ns();
        for (int e = 0; e < ready; e++) {
            ssize_t length = read(events[e].data.fd, buffer, sizeof buffer);
            for (ssize_t offset = 0; offset + FRAME <= length; offset += FRAME) {
                uint64_t sent;
                memcpy(&sent, buffer + offset, sizeof sent);
                uint64_t bucket = (now - sent) / BUCKET_NS;
                histogram[index][bucket < BUCKETS ? bucket : BUCKETS - 1]++;
                received[index]++;
            }
        }
    }
    reader_cpu[index] = thread_cpu_seconds() - cpu_start;
    return NULL;
}

static double percentile(const uint64_t *merged, uint64_t total, double fraction) {
    uint64_t wanted = (uint64_t)(fraction * (double)total), seen = 0;
    for (int b = 0; b < BUCKETS; b++) {
        seen += merged[b];
        if (seen > wanted) return (double)(b + 1) * BUCKET_NS / 1e6;
    }
    return (double)BUCKETS * BUCKET_NS / 1e6;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        int value = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--connections")) connections = value;
        else if (!strcmp(argv[i], "--rate")) rate = value;
        else if (!strcmp(argv[i], "--duration")) duration = value;
        else if (!strcmp(argv[i], "--writers")) writers = value;
        else if (!strcmp(argv[i], "--readers")) readers = value;
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (connections < 1 || connections > 20000 || rate < 1 || rate > 10000 || duration < 1 || duration > 600
        || writers < 1 || writers > MAX_THREADS || readers < 1 || readers > MAX_THREADS) {
        fprintf(stderr, "connections 1-20000, rate 1-10000, duration 1-600, writers and readers 1-%d\n", MAX_THREADS);
        return 2;
    }
    writer_fds = calloc((size_t)connections, sizeof(int));
    reader_fds = calloc((size_t)connections, sizeof(int));
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 4096) < 0
        || getsockname(listener, (struct sockaddr *)&address, &length) < 0) die("listen");
    int one = 1;
    for (int i = 0; i < connections; i++) {
        reader_fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (reader_fds[i] < 0 || connect(reader_fds[i], (struct sockaddr *)&address, sizeof address) < 0) die("connect");
        writer_fds[i] = accept(listener, NULL, NULL);
        if (writer_fds[i] < 0) die("accept");
        setsockopt(writer_fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    pthread_t reader_threads[MAX_THREADS], writer_threads[MAX_THREADS];
    struct writer writer_state[MAX_THREADS];
    for (int r = 0; r < readers; r++) pthread_create(&reader_threads[r], NULL, read_frames, (void *)(intptr_t)r);
    for (int w = 0; w < writers; w++) {
        writer_state[w] = (struct writer){ .index = w, .wake = eventfd(0, 0) };
        pthread_create(&writer_threads[w], NULL, write_frames, &writer_state[w]);
    }

    uint64_t interval = 1000000000ULL / (uint64_t)rate, start = now_ns(), broadcasts = 0;
    for (uint64_t next = start + interval; next < start + (uint64_t)duration * 1000000000ULL; next += interval) {
        struct timespec until = { .tv_sec = (time_t)(next / 1000000000ULL), .tv_nsec = (long)(next % 1000000000ULL) };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
        uint64_t sent = now_ns();
        for (int w = 0; w < writers; w++) {
            if (write(writer_state[w].wake, &sent, sizeof sent) != sizeof sent) die("eventfd");
        }
        broadcasts++;
    }
    usleep(500000);
    stop = 1;
    for (int w = 0; w < writers; w++) {
        uint64_t wake = 1;
        if (write(writer_state[w].wake, &wake, sizeof wake) != sizeof wake) die("eventfd");
        pthread_join(writer_threads[w], NULL);
    }
    for (int r = 0; r < readers; r++) pthread_join(reader_threads[r], NULL);

    static uint64_t merged[BUCKETS];
    uint64_t total = 0;
    double writing = 0, reading = 0;
    for (int r = 0; r < readers; r++) {
        for (int b = 0; b < BUCKETS; b++) merged[b] += histogram[r][b];
        total += received[r];
        reading += reader_cpu[r];
    }
    for (int w = 0; w < writers; w++) writing += writer_cpu[w];
    printf("frames: %llu of %llu\n", (unsigned long long)total, (unsigned long long)(broadcasts * (uint64_t)connections));
    printf("latency: p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p99_9_ms=%.2f max_ms=%.2f\n",
           percentile(merged, total, 0.50), percentile(merged, total, 0.90), percentile(merged, total, 0.99),
           percentile(merged, total, 0.999), percentile(merged, total, 1.0 - 1e-12));
    printf("cpu: writers_us_per_frame=%.2f readers_us_per_frame=%.2f\n",
           total ? writing * 1e6 / (double)total : 0.0, total ? reading * 1e6 / (double)total : 0.0);
    return total == broadcasts * (uint64_t)connections ? 0 : 1;
}
