/*
 * Paced UDP sender for bench/receiver.mjs: sends `rate` datagrams a second for `seconds` to
 * 127.0.0.1:port, each a copy of a template whose 36-character run placeholder is replaced by a
 * unique UUIDv4-shaped id (prefix-xxxx-4xxx-8xxx-<sequence>). Pacing: keep the sent count at
 * rate × elapsed, sending in small bursts and spinning between them (the sender owns its core).
 * Prints one JSON line: {"sent":N,"seconds":S}.
 * PORT may be a comma list (at most 8): datagrams then go round-robin to the ports, as a load
 * balancer in front of several receivers would spread them (bench/postgres.mjs).
 *
 * usage: udp-sender PORT[,PORT…] RATE SECONDS PREFIX8 TEMPLATE   (TEMPLATE contains @RUN@ once)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s PORT RATE SECONDS PREFIX8 TEMPLATE\n", argv[0]);
    return 2;
  }
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
  double t0 = now_s();
  char run[37];
  while (sent < total) {
    double el = now_s() - t0;
    long due = (long)(el * rate) + 1;
    if (due > total) due = total;
    if (sent >= due) continue; /* spin: the sender has its own core */
    while (sent < due) {
      snprintf(run, sizeof run, "%s-%04lx-4%03lx-8%03lx-%012lx", prefix, (sent >> 24) & 0xffff,
               (sent >> 12) & 0xfff, sent & 0xfff, sent);
      memcpy(buf + head, run, 36);
      if (send(fds[sent % nports], buf, len, 0) < 0) continue; /* ENOBUFS etc.: retry, never count unsent */
      sent++;
    }
  }
  printf("{\"sent\":%ld,\"seconds\":%.3f}\n", sent, now_s() - t0);
  return 0;
}
