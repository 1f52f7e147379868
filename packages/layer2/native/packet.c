// Minimal AF_PACKET and rtnetlink binding for ironlb's layer2 responder.
//
// Why this exists: ARP is not an IP protocol, so AF_INET/AF_INET6 raw sockets (raw-socket)
// cannot carry it, and libpcap (cap) would add a libpcap-dev build dependency plus BPF filter
// strings for something a fixed classic-BPF program does. One AF_PACKET SOCK_RAW socket bound to
// (ifindex, ethertype), polled by libuv, is all the responder needs; one NETLINK_ROUTE socket
// tells it when a link goes down or comes back.
//
// JS API (wrapped by src/afpacket.ts and src/linkwatch.ts, the only callers):
//   open(ifindex, ethertype, filter, onBatch(data, meta, count), onError(err), rcvbuf)
//     filter 0: every frame of that ethertype
//            1: Ethernet/IPv4 ARP requests and replies only
//            2: ICMPv6 Neighbor Solicitations and Advertisements only
//     onBatch gets up to BATCH frames per call: `data` holds them back to back, `meta` is a
//     Uint32Array of [offset, length, info] per frame (info: pkttype | VLAN << 8 | TRUNC << 9 |
//     vlan tci << 16). Kernel drop counters are read by stats(), not per batch: one syscall
//     less per wakeup, which is most of what a lone request costs.
//     rcvbuf: SO_RCVBUF in bytes (SO_RCVBUFFORCE first, so root is not capped by rmem_max).
//   send(handle, buf) -> bytes sent, throws Error with .code on failure
//   sendBatch(handle, buf, meta, count) -> frames sent (sendmmsg; meta = [offset, length] pairs)
//   addMembership(handle, mac6) / dropMembership(handle, mac6)
//   stats(handle) -> { packets, drops, rcvbuf } cumulative since open
//   close(handle)                 idempotent (also closes link monitors)
//   ref(handle, bool)             whether the poll keeps the event loop alive
//   linkMonitor(onEvents(events, overflow), onError(err)) -> handle
//     events: [{ ifindex, flags, name, deleted }] from RTM_NEWLINK/RTM_DELLINK (first a dump of
//     every link); overflow true when the kernel dropped notifications (ENOBUFS): rescan.
// recvmmsg/sendmmsg and struct mmsghdr are GNU extensions in glibc's headers.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef TP_STATUS_VLAN_VALID
#define TP_STATUS_VLAN_VALID (1 << 4)
#endif

// Frames per recvmmsg call and per JS callback. One callback per batch amortises the N-API
// crossing; 64 keeps one batch's copy small (ARP/NDP frames are < 100 bytes).
#define BATCH 64
// recvmmsg calls per libuv wakeup: bounded so one busy interface cannot starve the event loop;
// libuv calls us again if more frames are pending (level-triggered).
#define BATCHES_PER_WAKEUP 4
// Receive slot per frame. Larger frames are flagged truncated (MSG_TRUNC) and dropped in JS;
// no ARP or NDP message we answer comes near this.
#define SLOT_SIZE 2048
#define INFO_VLAN (1u << 8)
#define INFO_TRUNC (1u << 9)
#define NETLINK_BUFFER 65536

enum handle_type { TYPE_PACKET = 0x70616b74, TYPE_LINKMON = 0x6c6e6b6d };

// State shared by packet sockets and link monitors: a uv_poll on one fd plus JS callbacks.
typedef struct {
  uv_poll_t poll;
  int type;
  int fd;
  int closing;        // close() was called: no more callbacks, no more sends
  int poll_closed;    // uv_close callback ran
  int external_gone;  // the JS handle was garbage collected
  napi_env env;
  napi_ref on_data;
  napi_ref on_error;
  napi_async_context async_ctx;
} base_handle;

typedef struct {
  base_handle base;
  int ifindex;
  double drops;    // cumulative tp_drops (the kernel resets its counter on every read)
  double packets;  // cumulative tp_packets
  int rcvbuf;      // SO_RCVBUF as granted (the kernel doubles the requested value)
  unsigned char* slots;  // BATCH * SLOT_SIZE
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  struct sockaddr_ll addrs[BATCH];
  // Control buffer per frame for the PACKET_AUXDATA cmsg (VLAN tag, original length).
  union {
    char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    struct cmsghdr align;
  } ctrl[BATCH];
} packet_handle;

typedef struct {
  base_handle base;
  unsigned char* buf;  // NETLINK_BUFFER bytes
} linkmon_handle;

#define CHECK(call)                                             \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      napi_throw_error(env, NULL, "N-API call failed: " #call); \
      return NULL;                                              \
    }                                                           \
  } while (0)

static const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case ENETDOWN: return "ENETDOWN";
    case EINVAL: return "EINVAL";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: return "EIO";
  }
}

// An Error with .code (symbolic) and .errno (number), as Node's own errors carry.
static napi_value make_errno_error(napi_env env, const char* op, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  napi_value code, message, error, errno_v;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  return error;
}

static napi_value throw_errno(napi_env env, const char* op, int err) {
  napi_throw(env, make_errno_error(env, op, err));
  return NULL;
}

static void free_handle(base_handle* b) {
  if (b->type == TYPE_PACKET) {
    free(((packet_handle*)b)->slots);
  } else {
    free(((linkmon_handle*)b)->buf);
  }
  free(b);
}

static void maybe_free(base_handle* b) {
  if (b->poll_closed && b->external_gone) free_handle(b);
}

static void on_poll_closed(uv_handle_t* handle) {
  base_handle* b = (base_handle*)handle->data;
  close(b->fd);
  b->fd = -1;
  b->poll_closed = 1;
  maybe_free(b);
}

static void do_close(base_handle* b) {
  if (b->closing) return;
  b->closing = 1;
  uv_poll_stop(&b->poll);
  // Release JS references now so the callbacks (and whatever they close over) can be collected.
  napi_delete_reference(b->env, b->on_data);
  napi_delete_reference(b->env, b->on_error);
  napi_async_destroy(b->env, b->async_ctx);
  uv_close((uv_handle_t*)&b->poll, on_poll_closed);
}

// Calls a JS callback from libuv context; an exception thrown by the callback is reported
// as an uncaught exception rather than silently swallowed.
static void call_js(base_handle* b, napi_ref ref, size_t argc, napi_value* argv) {
  napi_env env = b->env;
  napi_value fn, global, result;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  napi_status st = napi_make_callback(env, b->async_ctx, global, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

// Runs from libuv callbacks, outside any JS frame: needs its own handle scope.
static void report_errno(base_handle* b, const char* op, int err) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(b->env, &scope) != napi_ok) return;
  napi_value e = make_errno_error(b->env, op, err);
  call_js(b, b->on_error, 1, &e);
  napi_close_handle_scope(b->env, scope);
}

static void finalize_handle(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  base_handle* b = (base_handle*)data;
  b->external_gone = 1;
  if (!b->closing) do_close(b);
  maybe_free(b);
}

// libuv stops a poll handle for good when the fd reports POLLERR (it calls back with
// UV_EBADF). An AF_PACKET socket reports POLLERR when its interface goes down (the kernel sets
// sk_err = ENETDOWN) and works again once the link is up, so: read and clear the pending error
// with SO_ERROR, tell JS the real cause (as "<what>: <strerror>"), and re-arm. Returns 0 when
// the poll was re-armed.
static int recover_from_pollerr(base_handle* b, uv_poll_cb cb, const char* what) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) err = EBADF;  // POLLERR without a socket error: nothing to clear, do not spin
  int rearmed = err != EBADF && uv_poll_start(&b->poll, UV_READABLE, cb) == 0;
  report_errno(b, what, err);
  return rearmed ? 0 : -1;
}

static void read_packet_stats(packet_handle* h) {
  struct tpacket_stats st;
  socklen_t len = sizeof st;
  if (getsockopt(h->base.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    h->drops += st.tp_drops;
    h->packets += st.tp_packets;
  }
}

// Receives up to BATCH frames with one recvmmsg and hands them to JS in one call.
// Returns the number of frames read (0 when the queue is empty), or -1 after reporting an error.
static int receive_batch(packet_handle* h) {
  base_handle* b = &h->base;
  for (int i = 0; i < BATCH; i++) {
    h->iovs[i].iov_base = h->slots + (size_t)i * SLOT_SIZE;
    h->iovs[i].iov_len = SLOT_SIZE;
    memset(&h->msgs[i].msg_hdr, 0, sizeof h->msgs[i].msg_hdr);
    h->msgs[i].msg_hdr.msg_name = &h->addrs[i];
    h->msgs[i].msg_hdr.msg_namelen = sizeof h->addrs[i];
    h->msgs[i].msg_hdr.msg_iov = &h->iovs[i];
    h->msgs[i].msg_hdr.msg_iovlen = 1;
    h->msgs[i].msg_hdr.msg_control = h->ctrl[i].buf;
    h->msgs[i].msg_hdr.msg_controllen = sizeof h->ctrl[i].buf;
    h->msgs[i].msg_len = 0;
  }
  int n;
  do {
    n = recvmmsg(b->fd, h->msgs, BATCH, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    // ENETDOWN and the like arrive here when the error raced ahead of POLLERR; the socket
    // stays usable (the kernel re-registers it when the link is up again).
    report_errno(b, "recvmmsg", errno);
    return -1;
  }
  if (n == 0) return 0;
  size_t total = 0;
  int kept = 0;
  for (int i = 0; i < n; i++) {
    // Our own transmissions loop back to packet sockets; PACKET_IGNORE_OUTGOING drops them on
    // kernels >= 4.20, this check covers older ones.
    if (h->addrs[i].sll_pkttype == PACKET_OUTGOING) continue;
    size_t len = h->msgs[i].msg_len > SLOT_SIZE ? SLOT_SIZE : h->msgs[i].msg_len;
    total += len;
    kept++;
  }
  if (kept == 0) return n;
  napi_env env = b->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  void* data_ptr = NULL;
  void* meta_ptr = NULL;
  napi_value argv[3], meta_ab;
  if (napi_create_buffer(env, total > 0 ? total : 1, &data_ptr, &argv[0]) != napi_ok ||
      napi_create_arraybuffer(env, (size_t)kept * 3 * sizeof(uint32_t), &meta_ptr, &meta_ab) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, (size_t)kept * 3, meta_ab, 0, &argv[1]) != napi_ok) {
    napi_close_handle_scope(env, scope);
    report_errno(b, "receive buffer", ENOMEM);
    return -1;
  }
  uint32_t* meta = meta_ptr;
  unsigned char* out = data_ptr;
  size_t off = 0;
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (h->addrs[i].sll_pkttype == PACKET_OUTGOING) continue;
    size_t len = h->msgs[i].msg_len > SLOT_SIZE ? SLOT_SIZE : h->msgs[i].msg_len;
    // Copy: the slots are reused by the next recvmmsg.
    memcpy(out + off, h->slots + (size_t)i * SLOT_SIZE, len);
    uint32_t info = h->addrs[i].sll_pkttype & 0xff;
    if (h->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) info |= INFO_TRUNC;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h->msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&h->msgs[i].msg_hdr, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      struct tpacket_auxdata aux;
      memcpy(&aux, CMSG_DATA(c), sizeof aux);
      // A tag with VLAN id 0 only carries a priority: the frame belongs to the untagged LAN.
      if ((aux.tp_status & TP_STATUS_VLAN_VALID) && (aux.tp_vlan_tci & 0x0fff) != 0) {
        info |= INFO_VLAN | ((uint32_t)aux.tp_vlan_tci << 16);
      }
      if (aux.tp_len > len) info |= INFO_TRUNC;
    }
    meta[3 * k] = (uint32_t)off;
    meta[3 * k + 1] = (uint32_t)len;
    meta[3 * k + 2] = info;
    off += len;
    k++;
  }
  napi_create_uint32(env, (uint32_t)kept, &argv[2]);
  call_js(b, b->on_data, 3, argv);
  napi_close_handle_scope(env, scope);
  return n;
}

static void on_packet_readable(uv_poll_t* poll, int status, int events) {
  (void)events;
  packet_handle* h = (packet_handle*)poll->data;
  if (h->base.closing) return;
  if (status < 0) {
    recover_from_pollerr(&h->base, on_packet_readable, "packet socket");
    return;
  }
  for (int i = 0; i < BATCHES_PER_WAKEUP && !h->base.closing; i++) {
    int n = receive_batch(h);
    if (n < BATCH) break;
  }
}

// Classic BPF programs, offsets from the Ethernet header. The socket is bound to one ethertype,
// the first test repeats it so the program is correct on its own.
//
// ARP: Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4) requests and replies. Requests are
// what we answer, replies and announcements are what conflict detection watches; RARP, InARP
// and ARP for other protocols (e.g. ptype 0x86dd) never reach user space.
static struct sock_filter arp_code[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),             // 0: ethertype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 0, 10),  // 1
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 14),             // 2: htype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 8),        // 3
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 16),             // 4: ptype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 6),   // 5
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 18),             // 6: hlen, plen
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0604, 0, 4),   // 7
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),             // 8: opcode
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0),        // 9: request
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),        // 10: reply
    BPF_STMT(BPF_RET | BPF_K, 0xffff),                  // 11: accept
    BPF_STMT(BPF_RET | BPF_K, 0),                       // 12: drop
};

// NDP: ICMPv6 (next header 58 with no extension headers) of type 135 (Neighbor Solicitation)
// or 136 (Neighbor Advertisement), so the rest of the node's IPv6 traffic never crosses into
// JS. NDP carrying extension headers is not accepted, which matches what real stacks send.
static struct sock_filter ndp_code[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),             // 0: ethertype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 6),   // 1
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 6),         // 2: IPv6 next header
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 4),       // 3
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 40),        // 4: ICMPv6 type
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 1, 0),      // 5: NS
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 136, 0, 1),      // 6: NA
    BPF_STMT(BPF_RET | BPF_K, 0xffff),                  // 7: accept
    BPF_STMT(BPF_RET | BPF_K, 0),                       // 8: drop
};

static base_handle* get_base(napi_env env, napi_value v, int type) {
  void* data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || data == NULL ||
      (type != 0 && ((base_handle*)data)->type != type)) {
    napi_throw_type_error(env, NULL, type == TYPE_LINKMON ? "expected a link monitor handle" : "expected a packet socket handle");
    return NULL;
  }
  return (base_handle*)data;
}

static packet_handle* get_handle(napi_env env, napi_value v) {
  return (packet_handle*)get_base(env, v, TYPE_PACKET);
}

// Registers the poll and the JS side of a freshly opened handle; on failure closes the fd,
// frees the handle and throws.
static napi_value start_handle(napi_env env, base_handle* b, napi_value on_data, napi_value on_error, uv_poll_cb cb,
                               const char* name) {
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(b->fd);
    free_handle(b);
    napi_throw_error(env, NULL, "no event loop");
    return NULL;
  }
  int rc = uv_poll_init(loop, &b->poll, b->fd);
  if (rc < 0) {
    close(b->fd);
    free_handle(b);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  b->poll.data = b;
  b->env = env;
  napi_create_reference(env, on_data, 1, &b->on_data);
  napi_create_reference(env, on_error, 1, &b->on_error);
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &b->async_ctx);
  uv_poll_start(&b->poll, UV_READABLE, cb);
  napi_value external;
  CHECK(napi_create_external(env, b, finalize_handle, NULL, &external));
  return external;
}

static int is_function(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_function;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || !is_function(env, argv[3]) || !is_function(env, argv[4])) {
    napi_throw_type_error(env, NULL, "open(ifindex, ethertype, filter, onBatch, onError, rcvbuf)");
    return NULL;
  }
  double ifindex_d = 0, ethertype_d = 0, filter_d = 0, rcvbuf_d = 0;
  // Doubles, not int32: napi_get_value_int32 would silently truncate 1.5 to ifindex 1.
  // Range checks come first (and reject NaN) so the int casts below are always defined.
  if (napi_get_value_double(env, argv[0], &ifindex_d) != napi_ok ||
      !(ifindex_d >= 1 && ifindex_d <= 0x7fffffff) || ifindex_d != (int)ifindex_d ||
      napi_get_value_double(env, argv[1], &ethertype_d) != napi_ok ||
      !(ethertype_d >= 0 && ethertype_d <= 0xffff) || ethertype_d != (int)ethertype_d ||
      napi_get_value_double(env, argv[2], &filter_d) != napi_ok ||
      (filter_d != 0 && filter_d != 1 && filter_d != 2) ||
      napi_get_value_double(env, argv[5], &rcvbuf_d) != napi_ok ||
      !(rcvbuf_d >= 0 && rcvbuf_d <= 0x3fffffff) || rcvbuf_d != (int)rcvbuf_d) {
    napi_throw_type_error(env, NULL,
                          "ifindex must be a positive integer, ethertype a uint16, filter 0, 1 or 2, rcvbuf bytes >= 0");
    return NULL;
  }
  int ifindex = (int)ifindex_d;
  uint16_t ethertype = (uint16_t)ethertype_d;
  int filter = (int)filter_d;
  int rcvbuf = (int)rcvbuf_d;
  // Protocol 0 at socket() time receives nothing; the ethertype is set by bind() together with
  // the ifindex, so there is no window in which frames from other interfaces are queued.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  (void)setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);
  if (rcvbuf > 0) {
    // FORCE needs CAP_NET_ADMIN; without it the plain option still works up to rmem_max.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
  }
  if (filter != 0) {
    // Attached before bind() so no unfiltered frame is ever queued.
    struct sock_fprog prog = filter == 1 ? (struct sock_fprog){sizeof arp_code / sizeof arp_code[0], arp_code}
                                         : (struct sock_fprog){sizeof ndp_code / sizeof ndp_code[0], ndp_code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "SO_ATTACH_FILTER", err);
    }
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ethertype);
  addr.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", err);
  }
  packet_handle* h = calloc(1, sizeof *h);
  unsigned char* slots = malloc((size_t)BATCH * SLOT_SIZE);
  if (h == NULL || slots == NULL) {
    free(h);
    free(slots);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  h->base.type = TYPE_PACKET;
  h->base.fd = fd;
  h->ifindex = ifindex;
  h->slots = slots;
  int granted = 0;
  socklen_t glen = sizeof granted;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &glen) == 0) h->rcvbuf = granted;
  return start_handle(env, &h->base, argv[3], argv[4], on_packet_readable, "ironlb:packet");
}

// Reads a Uint8Array argument; throws a TypeError naming `what` otherwise.
static int get_bytes(napi_env env, napi_value v, const char* what, void** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (!is_typed || napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", what);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  return 0;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "send(handle, frame)");
    return NULL;
  }
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  if (h->base.closing) return throw_errno(env, "send", EBADF);
  void* data;
  size_t len;
  if (get_bytes(env, argv[1], "frame", &data, &len) < 0) return NULL;
  ssize_t n;
  do {
    n = send(h->base.fd, data, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "send(AF_PACKET)", errno);
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

// sendBatch(handle, buf, meta, count): sends `count` frames of `buf` described by
// meta = [offset, length, ...] with sendmmsg. Returns how many were sent; throws only when
// the first frame fails (later failures show up as a short count, as sendmmsg reports them).
static napi_value js_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "sendBatch(handle, buf, meta, count)");
    return NULL;
  }
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  if (h->base.closing) return throw_errno(env, "sendBatch", EBADF);
  void* data;
  size_t len;
  if (get_bytes(env, argv[1], "buf", &data, &len) < 0) return NULL;
  bool is_typed = false;
  napi_is_typedarray(env, argv[2], &is_typed);
  napi_typedarray_type type;
  napi_value ab;
  size_t mcount, moff;
  void* mdata;
  if (!is_typed || napi_get_typedarray_info(env, argv[2], &type, &mcount, &mdata, &ab, &moff) != napi_ok ||
      type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "meta must be a Uint32Array");
    return NULL;
  }
  uint32_t count;
  CHECK(napi_get_value_uint32(env, argv[3], &count));
  if (count > BATCH || (size_t)count * 2 > mcount) {
    napi_throw_range_error(env, NULL, "sendBatch: count exceeds the batch size or the meta array");
    return NULL;
  }
  const uint32_t* meta = mdata;
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  for (uint32_t i = 0; i < count; i++) {
    uint32_t off = meta[2 * i], flen = meta[2 * i + 1];
    if ((size_t)off + flen > len) {
      napi_throw_range_error(env, NULL, "sendBatch: frame outside the buffer");
      return NULL;
    }
    iovs[i].iov_base = (unsigned char*)data + off;
    iovs[i].iov_len = flen;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  while (sent < count) {
    int n = sendmmsg(h->base.fd, msgs + sent, count - sent, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (sent == 0) return throw_errno(env, "sendmmsg(AF_PACKET)", errno);
      break;
    }
    if (n == 0) break;
    sent += (uint32_t)n;
  }
  napi_value out;
  napi_create_uint32(env, sent, &out);
  return out;
}

static napi_value membership(napi_env env, napi_callback_info info, int op) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "membership(handle, mac)");
    return NULL;
  }
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  if (h->base.closing) return throw_errno(env, "setsockopt", EBADF);
  void* data;
  size_t len;
  bool is_buffer;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer) {
    napi_throw_type_error(env, NULL, "mac must be a 6-byte Buffer");
    return NULL;
  }
  CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
  if (len != 6) {
    napi_throw_type_error(env, NULL, "mac must be a 6-byte Buffer");
    return NULL;
  }
  struct packet_mreq mreq;
  memset(&mreq, 0, sizeof mreq);
  mreq.mr_ifindex = h->ifindex;
  mreq.mr_type = PACKET_MR_MULTICAST;
  mreq.mr_alen = 6;
  memcpy(mreq.mr_address, data, 6);
  if (setsockopt(h->base.fd, SOL_PACKET, op, &mreq, sizeof mreq) < 0) {
    return throw_errno(env, op == PACKET_ADD_MEMBERSHIP ? "PACKET_ADD_MEMBERSHIP" : "PACKET_DROP_MEMBERSHIP",
                       errno);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value js_add_membership(napi_env env, napi_callback_info info) {
  return membership(env, info, PACKET_ADD_MEMBERSHIP);
}

static napi_value js_drop_membership(napi_env env, napi_callback_info info) {
  return membership(env, info, PACKET_DROP_MEMBERSHIP);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "stats(handle)");
    return NULL;
  }
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  if (!h->base.closing) read_packet_stats(h);
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  napi_create_double(env, h->packets, &v);
  napi_set_named_property(env, out, "packets", v);
  napi_create_double(env, h->drops, &v);
  napi_set_named_property(env, out, "drops", v);
  napi_create_int32(env, h->rcvbuf, &v);
  napi_set_named_property(env, out, "rcvbuf", v);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "close(handle)");
    return NULL;
  }
  base_handle* b = get_base(env, argv[0], 0);
  if (b == NULL) return NULL;
  do_close(b);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "ref(handle, bool)");
    return NULL;
  }
  base_handle* b = get_base(env, argv[0], 0);
  if (b == NULL) return NULL;
  bool keep;
  CHECK(napi_get_value_bool(env, argv[1], &keep));
  if (!b->closing) {
    if (keep) uv_ref((uv_handle_t*)&b->poll);
    else uv_unref((uv_handle_t*)&b->poll);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

// ---- link monitor (rtnetlink RTMGRP_LINK) ----

// Appends one {ifindex, flags, name, deleted} object for an RTM_NEWLINK/RTM_DELLINK message.
static void push_link_event(napi_env env, napi_value arr, uint32_t* idx, struct nlmsghdr* nh) {
  if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return;
  struct ifinfomsg* ifi = NLMSG_DATA(nh);
  char name[IF_NAMESIZE + 1] = {0};
  int attrlen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof *ifi);
  for (struct rtattr* a = IFLA_RTA(ifi); RTA_OK(a, attrlen); a = RTA_NEXT(a, attrlen)) {
    if (a->rta_type == IFLA_IFNAME) {
      size_t n = RTA_PAYLOAD(a);
      if (n > IF_NAMESIZE) n = IF_NAMESIZE;
      memcpy(name, RTA_DATA(a), n);
      name[IF_NAMESIZE] = 0;
    }
  }
  napi_value ev, v;
  if (napi_create_object(env, &ev) != napi_ok) return;
  napi_create_int32(env, ifi->ifi_index, &v);
  napi_set_named_property(env, ev, "ifindex", v);
  napi_create_uint32(env, ifi->ifi_flags, &v);
  napi_set_named_property(env, ev, "flags", v);
  napi_create_string_utf8(env, name, strnlen(name, IF_NAMESIZE), &v);
  napi_set_named_property(env, ev, "name", v);
  napi_get_boolean(env, nh->nlmsg_type == RTM_DELLINK, &v);
  napi_set_named_property(env, ev, "deleted", v);
  napi_set_element(env, arr, (*idx)++, ev);
}

static void on_linkmon_readable(uv_poll_t* poll, int status, int events) {
  (void)events;
  linkmon_handle* m = (linkmon_handle*)poll->data;
  base_handle* b = &m->base;
  if (b->closing) return;
  if (status < 0) {
    // POLLERR on a netlink socket is an overflow (ENOBUFS): the kernel dropped notifications.
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == ENOBUFS) {
      uv_poll_start(&b->poll, UV_READABLE, on_linkmon_readable);
      napi_handle_scope scope;
      napi_open_handle_scope(b->env, &scope);
      napi_value argv[2];
      napi_create_array(b->env, &argv[0]);
      napi_get_boolean(b->env, true, &argv[1]);
      call_js(b, b->on_data, 2, argv);
      napi_close_handle_scope(b->env, scope);
      return;
    }
    recover_from_pollerr(b, on_linkmon_readable, "netlink socket");
    return;
  }
  napi_env env = b->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  napi_create_array(env, &argv[0]);
  uint32_t idx = 0;
  bool overflow = false;
  // Bounded per wakeup like the packet path; a dump of many links spans several wakeups.
  for (int i = 0; i < 16 && !b->closing; i++) {
    ssize_t n = recv(b->fd, m->buf, NETLINK_BUFFER, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        overflow = true;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) report_errno(b, "netlink recv", errno);
      break;
    }
    int len = (int)n;
    for (struct nlmsghdr* nh = (struct nlmsghdr*)m->buf; NLMSG_OK(nh, (unsigned)len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) push_link_event(env, argv[0], &idx, nh);
    }
  }
  if ((idx > 0 || overflow) && !b->closing) {
    napi_get_boolean(env, overflow, &argv[1]);
    call_js(b, b->on_data, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_link_monitor(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !is_function(env, argv[0]) || !is_function(env, argv[1])) {
    napi_throw_type_error(env, NULL, "linkMonitor(onEvents, onError)");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
  // Room for bursts of link churn (a node creating many pod veths at once).
  int rcvbuf = 1 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  // Ask for a dump of every link so the caller learns the current state, not only changes.
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "netlink RTM_GETLINK", err);
  }
  linkmon_handle* m = calloc(1, sizeof *m);
  unsigned char* buf = malloc(NETLINK_BUFFER);
  if (m == NULL || buf == NULL) {
    free(m);
    free(buf);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  m->base.type = TYPE_LINKMON;
  m->base.fd = fd;
  m->buf = buf;
  return start_handle(env, &m->base, argv[0], argv[1], on_linkmon_readable, "ironlb:linkmon");
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, js_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addMembership", NULL, js_add_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropMembership", NULL, js_drop_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkMonitor", NULL, js_link_monitor, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
