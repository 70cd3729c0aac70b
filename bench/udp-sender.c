/*
 * Paced UDP sender for bench/receiver.mjs: sends `rate` datagrams a second for `seconds` to
 * 127.0.0.1:port, each a copy of a template whose 36-character run placeholder is replaced by a
 * unique UUIDv4-shaped id starting with PREFIX8. Pacing: keep the sent count at rate × elapsed,
 * sending in small bursts and spinning between them (the sender owns its core).
 * Prints one JSON line: {"sent":N,"seconds":S}.
 *
 * Optional IDS (default `seq`): `seq` numbers the runs in their tail (prefix-xxxx-4xxx-8xxx-<n>),
 * `random` gives each run 96 random-looking bits (a keyed mix of n), as UUIDv4 run IDs are.
 * Optional END_TEMPLATE: then every run sends its start and, LAG runs later, its end (the
 * datagrams alternate start of run n / end of run n − LAG; the last LAG ends close the step), so
 * the receiver sees the upserts of both halves, as real traffic has them.
 * PORT may be a comma list (at most 8): datagrams then go round-robin to the ports, as a load
 * balancer in front of several receivers would spread them (bench/postgres.mjs).
 *
 * usage: udp-sender PORT[,PORT…] RATE SECONDS PREFIX8 TEMPLATE [IDS [END_TEMPLATE]]
 *        (the templates contain @RUN@ once)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* splitmix64's finalizer: distinct inputs give distinct, random-looking outputs. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 6 || argc > 8) {
    fprintf(stderr, "usage: %s PORT RATE SECONDS PREFIX8 TEMPLATE [seq|random [END_TEMPLATE]]\n", argv[0]);
    return 2;
  }
  int random_ids = argc > 6 && strcmp(argv[6], "random") == 0;
  const char *end_tpl = argc > 7 ? argv[7] : NULL;
  int ports[8], nports = 0;
  for (char *p = argv[1]; *p && nports < 8;) {
    ports[nports++] = atoi(p);
    char *comma = strchr(p, ',');
    if (!comma) break;
    p = comma + 1;
  }
  double rate = atof(argv[2]), seconds = atof(argv[3]);
  const char *prefix = argv[4], *tpl = argv[5];
  const char *at = strstr(tpl, "@RUN@");
  if (!at || strlen(prefix) != 8) {
    fprintf(stderr, "template needs @RUN@ and prefix 8 hex chars\n");
    return 2;
  }
  size_t head = at - tpl, tail_len = strlen(at + 5);
  char buf[2048];
  if (head + 36 + tail_len >= sizeof buf) return 2;
  memcpy(buf, tpl, head);
  memcpy(buf + head + 36, at + 5, tail_len);
  size_t len = head + 36 + tail_len;
  char ebuf[2048];
  size_t ehead = 0, elen = 0;
  if (end_tpl) {
    const char *eat = strstr(end_tpl, "@RUN@");
    if (!eat) { fprintf(stderr, "END_TEMPLATE needs @RUN@\n"); return 2; }
    size_t etail = strlen(eat + 5);
    ehead = eat - end_tpl;
    if (ehead + 36 + etail >= sizeof ebuf) return 2;
    memcpy(ebuf, end_tpl, ehead);
    memcpy(ebuf + ehead + 36, eat + 5, etail);
    elen = ehead + 36 + etail;
  }

  int fds[8];
  for (int i = 0; i < nports; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(ports[i]);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("connect"); return 1; }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fds[i] = fd;
  }

  long total = (long)(rate * seconds), sent = 0;
  if (end_tpl) total -= total % 2; /* whole runs: a start and an end each */
  long runs = end_tpl ? total / 2 : total, lag = runs / 4 < 1000 ? runs / 4 : 1000;
  uint64_t key = 0x9e3779b97f4a7c15ull ^ (uint64_t)strtoull(prefix, NULL, 16);
  double t0 = now_s();
  char run[37];
  while (sent < total) {
    double el = now_s() - t0;
    long due = (long)(el * rate) + 1;
    if (due > total) due = total;
    if (sent >= due) continue; /* spin: the sender has its own core */
    while (sent < due) {
      /* Which datagram: the start of run n, or the end of run n (LAG runs behind the starts). */
      long n = sent;
      int is_end = 0;
      if (end_tpl) {
        long starts_then_ends = sent - lag;           /* after the first LAG starts they alternate */
        if (sent < lag) n = sent;
        else if (starts_then_ends < 2 * (runs - lag)) {
          is_end = starts_then_ends % 2;
          n = is_end ? starts_then_ends / 2 : lag + starts_then_ends / 2;
        } else { is_end = 1; n = runs - lag + (starts_then_ends - 2 * (runs - lag)); }
      }
      if (random_ids) {
        uint64_t a = mix64(key + (uint64_t)n), b = mix64(a ^ key);
        snprintf(run, sizeof run, "%s-%04x-4%03x-8%03x-%012llx", prefix, (unsigned)(a & 0xffff),
                 (unsigned)((a >> 16) & 0xfff), (unsigned)((a >> 28) & 0xfff), (unsigned long long)(b & 0xffffffffffffull));
      } else {
        snprintf(run, sizeof run, "%s-%04lx-4%03lx-8%03lx-%012lx", prefix, (n >> 24) & 0xffff,
                 (n >> 12) & 0xfff, n & 0xfff, n);
      }
      char *out = is_end ? ebuf : buf;
      memcpy(out + (is_end ? ehead : head), run, 36);
      if (send(fds[sent % nports], out, is_end ? elen : len, 0) < 0) continue; /* ENOBUFS etc.: retry, never count unsent */
      sent++;
    }
  }
  printf("{\"sent\":%ld,\"seconds\":%.3f}\n", sent, now_s() - t0);
  return 0;
}
