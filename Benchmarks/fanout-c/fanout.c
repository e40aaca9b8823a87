/*
 * fanout-c: a lean epoll fan-out receiver, to cross-check `switchboard bench
 * fanout` with a generator that spends as little CPU per frame as C allows.
 *
 * N WebSocket connections (Phoenix V2 serializer) join one topic; a
 * publisher thread POSTs broadcasts to /api/broadcast at a fixed rate, each
 * carrying its CLOCK_MONOTONIC send time in "t"; receiver threads read the
 * frames with epoll and record send-to-read latency. Loopback only, bounded
 * in count and time.
 *
 *   clang -O2 -pthread -o fanout-c Benchmarks/fanout-c/fanout.c   (or cc)
 *   ./fanout-c --port 4000 --api-key k --connections 5000 --rate 10 --duration 10 --server-pid PID
 *   (--publish-port P publishes through another node: cross-node fan-out)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 8
#define BUCKET_NS 10000ULL          /* histogram resolution: 10 µs */
#define BUCKETS 1000000             /* up to 10 s */

static const char *host = "127.0.0.1";
static int port = 4000;
/* The node the broadcasts are published through (0: --port): another node of the cluster for cross-node fan-out. */
static int publish_port = 0;
static const char *api_key = "";
static const char *topic = "room:bench";
static int connections = 1000;
static int rate = 10;
static int duration = 10;
static int threads = 2;
static int server_pid = 0;

static volatile int stop_receiving = 0;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "fanout-c: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int connect_loopback(int to_port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "fanout-c: --host must be an IPv4 loopback address\n");
        exit(1);
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write");
        data += n;
        length -= (size_t)n;
    }
}

/* Reads until `marker` appears; returns the bytes read (NUL-terminated). */
static size_t read_until(int fd, char *buffer, size_t capacity, const char *marker) {
    size_t used = 0;
    while (used + 1 < capacity) {
        ssize_t n = read(fd, buffer + used, capacity - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("read during the handshake");
        used += (size_t)n;
        buffer[used] = 0;
        if (strstr(buffer, marker)) return used;
    }
    fprintf(stderr, "fanout-c: no %s in the first %zu bytes\n", marker, capacity);
    exit(1);
}

/* A masked client text frame (mask 0: the bytes go as they are). */
static void send_text(int fd, const char *text) {
    size_t length = strlen(text);
    char frame[512];
    if (length > 125 || length + 6 > sizeof frame) {
        fprintf(stderr, "fanout-c: join frame too long\n");
        exit(1);
    }
    frame[0] = (char)0x81;
    frame[1] = (char)(0x80 | length);
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, text, length);
    write_all(fd, frame, length + 6);
}

/* Upgrades, joins the topic, waits for the join's ok; returns the socket. */
static int open_subscriber(int index) {
    int fd = connect_loopback(port);
    char request[512];
    int length = snprintf(request, sizeof request,
        "GET /socket/websocket?vsn=2.0.0&user_id=c%d HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        index, host, port);
    write_all(fd, request, (size_t)length);
    char response[4096];
    read_until(fd, response, sizeof response, "\r\n\r\n");
    if (strncmp(response, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "fanout-c: upgrade refused: %.60s\n", response);
        exit(1);
    }
    char join[256];
    snprintf(join, sizeof join, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
    send_text(fd, join);
    read_until(fd, response, sizeof response, "\"ok\"");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Per connection: bytes of a frame not yet complete. */
typedef struct {
    int fd;
    uint32_t used;
    unsigned char buffer[8192];
} Subscriber;

typedef struct {
    Subscriber *subscribers;
    int count;
    uint32_t *histogram;
    uint64_t received;
    uint64_t max_ns;
    pthread_t thread;
} Receiver;

static void record(Receiver *receiver, const unsigned char *payload, size_t length) {
    const unsigned char *t = memmem(payload, length, "\"t\":", 4);
    if (!t) return;
    uint64_t sent = 0;
    for (t += 4; t < payload + length && *t >= '0' && *t <= '9'; t++) sent = sent * 10 + (uint64_t)(*t - '0');
    uint64_t now = now_ns();
    uint64_t latency = now > sent ? now - sent : 0;
    uint64_t bucket = latency / BUCKET_NS;
    receiver->histogram[bucket < BUCKETS ? bucket : BUCKETS - 1]++;
    if (latency > receiver->max_ns) receiver->max_ns = latency;
    receiver->received++;
}

/* Takes every complete server frame from the subscriber's buffer. */
static void take_frames(Receiver *receiver, Subscriber *subscriber) {
    size_t offset = 0;
    while (subscriber->used - offset >= 2) {
        unsigned char *frame = subscriber->buffer + offset;
        size_t header = 2, length = frame[1] & 0x7F;
        if (length == 126) {
            if (subscriber->used - offset < 4) break;
            header = 4;
            length = ((size_t)frame[2] << 8) | frame[3];
        } else if (length == 127) {
            fprintf(stderr, "fanout-c: frame over 64 KiB\n");
            exit(1);
        }
        if (subscriber->used - offset < header + length) break;
        if ((frame[0] & 0x0F) == 1) record(receiver, frame + header, length);
        offset += header + length;
    }
    memmove(subscriber->buffer, subscriber->buffer + offset, subscriber->used - offset);
    subscriber->used -= (uint32_t)offset;
}

static void *receive(void *argument) {
    Receiver *receiver = argument;
    int epoll = epoll_create1(0);
    if (epoll < 0) die("epoll_create1");
    for (int i = 0; i < receiver->count; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = &receiver->subscribers[i]};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, receiver->subscribers[i].fd, &event) != 0) die("epoll_ctl");
    }
    struct epoll_event events[256];
    while (!stop_receiving) {
        int ready = epoll_wait(epoll, events, 256, 100);
        for (int i = 0; i < ready; i++) {
            Subscriber *subscriber = events[i].data.ptr;
            ssize_t n = read(subscriber->fd, subscriber->buffer + subscriber->used, sizeof subscriber->buffer - subscriber->used);
            if (n > 0) {
                subscriber->used += (uint32_t)n;
                take_frames(receiver, subscriber);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "fanout-c: a connection closed\n");
                epoll_ctl(epoll, EPOLL_CTL_DEL, subscriber->fd, NULL);
            }
        }
    }
    close(epoll);
    return NULL;
}

/* POSTs `count` broadcasts at `rate` a second over one keep-alive connection. */
static void publish(int count) {
    int fd = connect_loopback(publish_port ? publish_port : port);
    uint64_t interval = 1000000000ULL / (uint64_t)rate, next = now_ns();
    char request[1024], response[4096];
    for (int i = 0; i < count; i++) {
        while (now_ns() < next) {
            uint64_t wait = next - now_ns();
            struct timespec pause = {.tv_sec = (time_t)(wait / 1000000000ULL), .tv_nsec = (long)(wait % 1000000000ULL)};
            nanosleep(&pause, NULL);
        }
        char body[256];
        int body_length = snprintf(body, sizeof body,
            "{\"topic\":\"%s\",\"event\":\"tick\",\"payload\":{\"t\":%llu}}", topic, (unsigned long long)now_ns());
        int length = snprintf(request, sizeof request,
            "POST /api/broadcast HTTP/1.1\r\nHost: %s:%d\r\nx-api-key: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s", host, port, api_key, body_length, body);
        write_all(fd, request, (size_t)length);
        size_t used = read_until(fd, response, sizeof response, "\r\n\r\n");
        if (strncmp(response, "HTTP/1.1 2", 10) != 0) {
            fprintf(stderr, "fanout-c: broadcast refused: %.60s\n", response);
            exit(1);
        }
        /* Read the rest of the body, so the next response starts clean. */
        size_t headers = (size_t)(strstr(response, "\r\n\r\n") + 4 - response), body_bytes = 0;
        const char *field = strcasestr(response, "content-length:");
        if (field && field < response + headers) body_bytes = (size_t)strtoul(field + 15, NULL, 10);
        while (used < headers + body_bytes) {
            ssize_t n = read(fd, response, sizeof response < headers + body_bytes - used ? sizeof response : headers + body_bytes - used);
            if (n <= 0) die("read of a broadcast response");
            used += (size_t)n;
        }
        next += interval;
    }
    close(fd);
}

/* A process's user and system CPU seconds, from /proc/PID/stat. */
typedef struct { double user, system; } ProcessCPU;

static ProcessCPU process_cpu(int pid) {
    ProcessCPU none = {-1, -1};
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file) return none;
    size_t n = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[n] = 0;
    char *end = strrchr(text, ')');
    if (!end) return none;
    unsigned long long utime = 0, stime = 0;
    /* Fields after the command: state(3) ... utime(14) stime(15). */
    if (sscanf(end + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return none;
    double tick = (double)sysconf(_SC_CLK_TCK);
    return (ProcessCPU){(double)utime / tick, (double)stime / tick};
}

static double self_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static double percentile_ms(uint32_t *histogram, uint64_t total, double p) {
    uint64_t target = (uint64_t)(p / 100.0 * (double)total + 0.5), seen = 0;
    if (target == 0) target = 1;
    for (int i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen >= target) return (double)(i + 1) * BUCKET_NS / 1e6;
    }
    return (double)BUCKETS * BUCKET_NS / 1e6;
}

static const char *usage =
    "usage: fanout-c [--host 127.0.0.1] [--port 4000] [--api-key KEY] [--topic room:bench] [--connections 1000]\n"
    "                [--rate 10] [--duration 10] [--threads 2] [--server-pid PID] [--publish-port P]\n";

int main(int argc, char **argv) {
    if (argc % 2 == 0) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *flag = argv[i], *value = argv[i + 1];
        if (!strcmp(flag, "--host")) host = value;
        else if (!strcmp(flag, "--port")) port = atoi(value);
        else if (!strcmp(flag, "--publish-port")) publish_port = atoi(value);
        else if (!strcmp(flag, "--api-key")) api_key = value;
        else if (!strcmp(flag, "--topic")) topic = value;
        else if (!strcmp(flag, "--connections")) connections = atoi(value);
        else if (!strcmp(flag, "--rate")) rate = atoi(value);
        else if (!strcmp(flag, "--duration")) duration = atoi(value);
        else if (!strcmp(flag, "--threads")) threads = atoi(value);
        else if (!strcmp(flag, "--server-pid")) server_pid = atoi(value);
        else {
            fprintf(stderr, "fanout-c: unknown flag %s\n%s", flag, usage);
            return 2;
        }
    }
    if (strncmp(host, "127.", 4) != 0 || connections < 1 || connections > 100000 || rate < 1 || rate > 10000 ||
        duration < 1 || duration > 120 || threads < 1 || threads > MAX_THREADS || strlen(topic) > 64) {
        fprintf(stderr, "fanout-c: loopback host, 1-100000 connections, rate 1-10000, duration 1-120 s, 1-%d threads\n", MAX_THREADS);
        return 2;
    }
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    Subscriber *subscribers = calloc((size_t)connections, sizeof *subscribers);
    if (!subscribers) die("calloc");
    uint64_t ramp = now_ns();
    for (int i = 0; i < connections; i++) subscribers[i].fd = open_subscriber(i);
    fprintf(stderr, "fanout-c: %d connections joined %s in %.1f s\n", connections, topic, (double)(now_ns() - ramp) / 1e9);

    Receiver receivers[MAX_THREADS];
    int per_thread = (connections + threads - 1) / threads;
    for (int t = 0; t < threads; t++) {
        int first = t * per_thread, count = connections - first < per_thread ? connections - first : per_thread;
        receivers[t] = (Receiver){.subscribers = subscribers + first, .count = count > 0 ? count : 0,
                                  .histogram = calloc(BUCKETS, sizeof(uint32_t))};
        if (!receivers[t].histogram) die("calloc");
        pthread_create(&receivers[t].thread, NULL, receive, &receivers[t]);
    }

    int broadcasts = rate * duration;
    ProcessCPU server_start = process_cpu(server_pid);
    double self_start = self_cpu_seconds();
    uint64_t start = now_ns();
    publish(broadcasts);
    uint64_t expected = (uint64_t)broadcasts * (uint64_t)connections, deadline = now_ns() + 5000000000ULL;
    for (;;) {
        uint64_t received = 0;
        for (int t = 0; t < threads; t++) received += __atomic_load_n(&receivers[t].received, __ATOMIC_RELAXED);
        if (received >= expected || now_ns() > deadline) break;
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    ProcessCPU server_end = process_cpu(server_pid);
    double self_cpu = self_cpu_seconds() - self_start;
    stop_receiving = 1;
    uint64_t received = 0, max_ns = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(receivers[t].thread, NULL);
        received += receivers[t].received;
        if (receivers[t].max_ns > max_ns) max_ns = receivers[t].max_ns;
        if (t > 0)
            for (int i = 0; i < BUCKETS; i++) receivers[0].histogram[i] += receivers[t].histogram[i];
    }
    printf("received %llu of %llu frames in %.2f s (%.0f/s)\n", (unsigned long long)received, (unsigned long long)expected,
           seconds, (double)received / seconds);
    if (received > 0)
        printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
               percentile_ms(receivers[0].histogram, received, 50), percentile_ms(receivers[0].histogram, received, 90),
               percentile_ms(receivers[0].histogram, received, 99), percentile_ms(receivers[0].histogram, received, 99.9),
               (double)max_ns / 1e6);
    printf("generator: %.3f s CPU, %.2f us per frame\n", self_cpu, received ? self_cpu * 1e6 / (double)received : 0);
    if (server_pid && server_start.user >= 0 && server_end.user >= 0) {
        double user = server_end.user - server_start.user, system = server_end.system - server_start.system;
        double per = received ? 1e6 / (double)received : 0;
        printf("server: %.3f s CPU, %.2f us per delivery (user %.2f, system %.2f)\n", user + system, (user + system) * per,
               user * per, system * per);
    }
    for (int i = 0; i < connections; i++) close(subscribers[i].fd);
    return received == expected ? 0 : 1;
}
