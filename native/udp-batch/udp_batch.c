/*
 * Batch UDP reader for the receiver (src/receiver/batch-reader.ts): reads up to `slots` datagrams
 * per recvmmsg(2) call into one Buffer shared with JavaScript and calls back once per batch.
 *
 * Why: Node's dgram socket costs ~6–8 µs of one core per datagram (one recvmsg, one Buffer, one
 * rinfo object with a formatted address string and one JS callback with its microtask checkpoint
 * each). The receiver's budget at 60k datagrams/s is 16.7 µs for everything, storage included.
 *
 * bind() makes the socket (IP literal, port, receive buffer, optional SO_REUSEPORT) and open()
 * takes ownership of its descriptor: closing the reader closes the socket.
 *
 * Per datagram i the reader writes three numbers to meta[3i..3i+2]:
 *   - the bytes received (at most slot_bytes);
 *   - flags: FLAG_TRUNCATED when the datagram was longer than its slot (it is oversized and its
 *     bytes are incomplete), FLAG_NON_ASCII when a byte >= 0x80 was received;
 *   - the source's network as a number, never its address: IPv4 /24 as the top 24 bits
 *     (0 … 2^24 − 1), IPv6 /48 as 2^48 + its top 48 bits; v4-mapped IPv6 as IPv4. The rate
 *     limiter keys on it; src/receiver/network-key.ts computes the same from an address string.
 * The datagram's bytes are at data[i * slot_bytes …].
 *
 * The callback gets (n): n > 0 datagrams are ready; n < 0 is −errno of a failed read (logged by
 * the caller; the socket stays open). It runs as a proper async callback (napi_make_callback), so
 * promises and nextTicks queued by it run right after it, as after any I/O callback.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define META 3
#define FLAG_TRUNCATED 1
#define FLAG_NON_ASCII 2
/* Batches read per readable event before yielding to the event loop (timers, the store's replies). */
#define MAX_ROUNDS 8

typedef struct reader {
  uv_poll_t poll;
  uv_timer_t timer;
  uint64_t coalesce_ms;
  /* Handles still to be released by libuv after close (the poll and the timer). */
  int open_handles;
  napi_env env;
  napi_ref callback;
  napi_ref buffer_ref;
  napi_ref meta_ref;
  napi_async_context async;
  int fd;
  int slots;
  size_t slot_bytes;
  unsigned char *data;
  double *meta;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_storage *addrs;
  napi_async_cleanup_hook_handle cleanup;
  /* close() was called (or the environment is going away): no more reads or callbacks. */
  int closing;
  /* libuv has released the poll handle: the descriptor and the references are gone. */
  int closed;
  /* JS no longer holds the handle. The struct is freed once both this and `closed` are set. */
  int external_gone;
} reader;

#define CHECK(env, call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error((env), "BEACON_ERR_NATIVE", "udp-batch: " #call);   \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static double network_key(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    return (double)(ntohl(a->sin_addr.s_addr) >> 8);
  }
  if (ss->ss_family == AF_INET6) {
    const unsigned char *b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0) return (double)(((unsigned)b[12] << 16) | ((unsigned)b[13] << 8) | b[14]);
    double top = 0;
    for (int i = 0; i < 6; i++) top = top * 256 + b[i];
    return 281474976710656.0 /* 2^48 */ + top;
  }
  return -1;
}

static int non_ascii(const unsigned char *p, size_t n) {
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return (acc & 0x80) != 0;
}

static void reset_headers(reader *r, int n) {
  for (int i = 0; i < n; i++) {
    r->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    r->msgs[i].msg_hdr.msg_flags = 0;
    r->msgs[i].msg_len = 0;
  }
}

/* Calls back into JS; false if the reader was closed meanwhile (by the callback itself). */
static int deliver(reader *r, int n) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, r->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, n, &arg);
  napi_status s = napi_make_callback(env, r->async, recv, cb, 1, &arg, &result);
  if (s == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  return !r->closing;
}

/* Reads until the socket is empty (or MAX_ROUNDS full batches); returns the datagrams read. */
static long drain(reader *r) {
  long total = 0;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int n = recvmmsg(r->fd, r->msgs, (unsigned)r->slots, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) deliver(r, -errno);
      return total;
    }
    if (n == 0) return total;
    for (int i = 0; i < n; i++) {
      const struct msghdr *h = &r->msgs[i].msg_hdr;
      size_t len = r->msgs[i].msg_len;
      double *m = r->meta + (size_t)i * META;
      m[0] = (double)len;
      m[1] = (double)(((h->msg_flags & MSG_TRUNC) ? FLAG_TRUNCATED : 0) |
                      (non_ascii(r->data + (size_t)i * r->slot_bytes, len) ? FLAG_NON_ASCII : 0));
      m[2] = network_key(&r->addrs[i]);
    }
    total += n;
    if (!deliver(r, n)) return total;
    reset_headers(r, n);
    if (n < r->slots) return total;
  }
  return total;
}

static void on_readable(uv_poll_t *handle, int status, int events);

/*
 * Coalescing: a wake-up per datagram costs more than reading it (epoll, the syscall, the JS
 * callback), so once traffic flows the reader stops waiting for readability and instead empties
 * the socket every `coalesce_ms` from a timer, in batches; the kernel's receive buffer holds what
 * arrives in between. The first tick that finds nothing goes back to waiting, so an idle daemon
 * sleeps.
 */
static void on_tick(uv_timer_t *timer) {
  reader *r = (reader *)timer->data;
  if (r->closing) return;
  if (drain(r) > 0 || r->closing) return;
  uv_timer_stop(&r->timer);
  int rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc != 0) deliver(r, rc);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader *r = (reader *)handle->data;
  (void)events;
  if (r->closing) return;
  if (status < 0) {
    deliver(r, status);
    return;
  }
  drain(r);
  if (r->closing || r->coalesce_ms == 0) return;
  uv_poll_stop(&r->poll);
  uv_timer_start(&r->timer, on_tick, r->coalesce_ms, r->coalesce_ms);
}

static void on_closed(uv_handle_t *handle) {
  reader *r = (reader *)handle->data;
  if (--r->open_handles > 0) return;
  if (r->fd >= 0) close(r->fd);
  napi_delete_reference(r->env, r->callback);
  napi_delete_reference(r->env, r->buffer_ref);
  napi_delete_reference(r->env, r->meta_ref);
  napi_async_destroy(r->env, r->async);
  free(r->msgs);
  free(r->iov);
  free(r->addrs);
  napi_remove_async_cleanup_hook(r->cleanup);
  r->closed = 1;
  if (r->external_gone) free(r);
}

static void close_reader(reader *r) {
  if (r->closing) return;
  r->closing = 1;
  uv_poll_stop(&r->poll);
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->poll, on_closed);
  uv_close((uv_handle_t *)&r->timer, on_closed);
}

/* The environment is being torn down (e.g. a worker thread exits) with the reader still open. */
static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  close_reader((reader *)arg);
}

static void on_external_gone(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader *r = (reader *)data;
  r->external_gone = 1;
  if (r->closed) free(r);
}

/*
 * open(fd, buffer, meta, slotBytes, coalesceMs, callback) → handle. Once it returns, the reader
 * owns the socket (close(handle) closes it); if it throws, the caller still does.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) {
    napi_throw_type_error(env, "BEACON_ERR_NATIVE", "udp-batch: open(fd, buffer, meta, slotBytes, coalesceMs, callback)");
    return NULL;
  }
  int32_t fd, slot_bytes, coalesce_ms;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_int32(env, argv[3], &slot_bytes));
  CHECK(env, napi_get_value_int32(env, argv[4], &coalesce_ms));
  void *data;
  size_t data_len;
  CHECK(env, napi_get_buffer_info(env, argv[1], &data, &data_len));
  napi_typedarray_type type;
  size_t meta_len;
  void *meta;
  CHECK(env, napi_get_typedarray_info(env, argv[2], &type, &meta_len, &meta, NULL, NULL));
  napi_valuetype cb_type;
  CHECK(env, napi_typeof(env, argv[5], &cb_type));
  if (fd < 0 || slot_bytes <= 0 || coalesce_ms < 0 || type != napi_float64_array || cb_type != napi_function ||
      data_len % (size_t)slot_bytes != 0 || data_len / (size_t)slot_bytes == 0 ||
      meta_len != (data_len / (size_t)slot_bytes) * META) {
    napi_throw_type_error(env, "BEACON_ERR_NATIVE", "udp-batch: buffer, meta and slotBytes do not agree");
    return NULL;
  }
  int slots = (int)(data_len / (size_t)slot_bytes);
  reader *r = calloc(1, sizeof *r);
  if (r) {
    r->msgs = calloc((size_t)slots, sizeof *r->msgs);
    r->iov = calloc((size_t)slots, sizeof *r->iov);
    r->addrs = calloc((size_t)slots, sizeof *r->addrs);
  }
  if (!r || !r->msgs || !r->iov || !r->addrs) {
    if (r) {
      free(r->msgs);
      free(r->iov);
      free(r->addrs);
      free(r);
    }
    napi_throw_error(env, "BEACON_ERR_NATIVE", "udp-batch: out of memory");
    return NULL;
  }
  r->env = env;
  r->fd = fd;
  r->slots = slots;
  r->slot_bytes = (size_t)slot_bytes;
  r->coalesce_ms = (uint64_t)coalesce_ms;
  r->data = data;
  r->meta = meta;
  for (int i = 0; i < slots; i++) {
    r->iov[i].iov_base = r->data + (size_t)i * r->slot_bytes;
    r->iov[i].iov_len = r->slot_bytes;
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->addrs[i];
  }
  reset_headers(r, slots);
  napi_value resource_name;
  CHECK(env, napi_create_string_utf8(env, "BeaconUdpBatchReader", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(env, napi_async_init(env, NULL, resource_name, &r->async));
  CHECK(env, napi_create_reference(env, argv[5], 1, &r->callback));
  CHECK(env, napi_create_reference(env, argv[1], 1, &r->buffer_ref));
  CHECK(env, napi_create_reference(env, argv[2], 1, &r->meta_ref));
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  r->poll.data = r;
  r->timer.data = r;
  CHECK(env, napi_add_async_cleanup_hook(env, on_env_cleanup, r, &r->cleanup));
  uv_timer_init(loop, &r->timer); /* cannot fail */
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc != 0) {
    /* Only the timer is registered with libuv: release it, and with it everything else. */
    r->open_handles = 1;
    r->closing = 1;
    r->fd = -1; /* open() threw: the caller still owns the socket */
    r->external_gone = 1;
    uv_close((uv_handle_t *)&r->timer, on_closed);
    napi_throw_error(env, "BEACON_ERR_NATIVE", uv_strerror(rc));
    return NULL;
  }
  r->open_handles = 2;
  napi_value handle;
  CHECK(env, napi_create_external(env, r, on_external_gone, NULL, &handle));
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    r->fd = -1;
    close_reader(r);
    napi_throw_error(env, "BEACON_ERR_NATIVE", uv_strerror(rc));
    return NULL;
  }
  return handle;
}

/* close(handle): stops reading; the dup is closed on the next loop turn. Idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (argc != 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "BEACON_ERR_NATIVE", "udp-batch: close(handle)");
    return NULL;
  }
  close_reader((reader *)p);
  return NULL;
}

static napi_value errno_result(napi_env env, int err, int fd) {
  if (fd >= 0) close(fd);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, out, "errno", v);
  return out;
}

/*
 * bind(host, port, recvBufferBytes, reusePort) → {fd, port, recvBufferBytes} or {errno}.
 * host is an IPv4 or IPv6 literal (the caller resolves names); an IPv6 socket is dual-stack, as
 * Node's udp6 is. The buffer granted is what the kernel reports (Linux doubles what it grants).
 */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[INET6_ADDRSTRLEN + 1];
  size_t host_len;
  int32_t port, want;
  bool reuse;
  if (argc != 4 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_get_value_int32(env, argv[2], &want) != napi_ok ||
      napi_get_value_bool(env, argv[3], &reuse) != napi_ok || port < 0 || port > 65535) {
    napi_throw_type_error(env, "BEACON_ERR_NATIVE", "udp-batch: bind(host, port, recvBufferBytes, reusePort)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t ss_len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    ss_len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    ss_len = sizeof *a6;
  } else {
    return errno_result(env, EINVAL, -1);
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_result(env, errno, -1);
  int zero = 0, one = 1;
  if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) return errno_result(env, errno, fd);
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return errno_result(env, errno, fd);
  if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0) return errno_result(env, errno, fd);
  /* A refused size is not fatal: the caller reports what was granted. */
  if (want > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  int granted = 0;
  socklen_t glen = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &glen);
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return errno_result(env, errno, fd);
  int bound_port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port : ((struct sockaddr_in *)&local)->sin_port);
  napi_value out, v;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_int32(env, fd, &v));
  CHECK(env, napi_set_named_property(env, out, "fd", v));
  CHECK(env, napi_create_int32(env, bound_port, &v));
  CHECK(env, napi_set_named_property(env, out, "port", v));
  CHECK(env, napi_create_int32(env, granted, &v));
  CHECK(env, napi_set_named_property(env, out, "recvBufferBytes", v));
  return out;
}

/* closeFd(fd): for a bound socket that never reached open(). */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "BEACON_ERR_NATIVE", "udp-batch: closeFd(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
