// Minimal AF_PACKET binding for ironlb's layer2 responder.
//
// Why this exists: ARP is not an IP protocol, so AF_INET/AF_INET6 raw sockets (raw-socket)
// cannot carry it, and libpcap (cap) would add a libpcap-dev build dependency plus BPF filter
// strings for something the kernel already filters by ethertype. One AF_PACKET SOCK_RAW socket
// bound to (ifindex, ethertype), polled by libuv, is all the responder needs.
//
// JS API (wrapped by src/afpacket.ts, which is the only caller):
//   open(ifindex, ethertype, filter, onFrame(buf, pkttype), onError(err)) -> handle
//     filter 0: every frame of that ethertype; 1: only ICMPv6 Neighbor Solicitations
//   send(handle, buf) -> bytes sent, throws Error with .code on failure
//   addMembership(handle, mac6) / dropMembership(handle, mac6)
//   close(handle)                 idempotent
//   ref(handle, bool)             whether the poll keeps the event loop alive
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

// Bounded so one busy interface cannot starve the event loop; libuv calls us again if more
// frames are pending (level-triggered).
#define MAX_FRAMES_PER_WAKEUP 64
// Larger than any jumbo frame we could be handed; ARP/NDP frames are < 100 bytes.
#define RECV_BUFFER_SIZE 65536

typedef struct {
  uv_poll_t poll;
  int fd;
  int ifindex;
  int closing;        // close() was called: no more callbacks, no more sends
  int poll_closed;    // uv_close callback ran
  int external_gone;  // the JS handle was garbage collected
  napi_env env;
  napi_ref on_frame;
  napi_ref on_error;
  napi_async_context async_ctx;
  unsigned char* buf;
} packet_handle;

#define CHECK(call)                                          \
  do {                                                       \
    if ((call) != napi_ok) {                                 \
      napi_throw_error(env, NULL, "N-API call failed: " #call); \
      return NULL;                                           \
    }                                                        \
  } while (0)

static napi_value throw_errno(napi_env env, const char* op, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  napi_value code, message, error;
  const char* name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == EAGAIN ? "EAGAIN"
                   : err == ENODEV ? "ENODEV" : err == ENXIO ? "ENXIO" : err == ENETDOWN ? "ENETDOWN"
                   : err == EINVAL ? "EINVAL" : err == EMSGSIZE ? "EMSGSIZE" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errno_v;
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_throw(env, error);
  return NULL;
}

static void maybe_free(packet_handle* h) {
  if (h->poll_closed && h->external_gone) {
    free(h->buf);
    free(h);
  }
}

static void on_poll_closed(uv_handle_t* handle) {
  packet_handle* h = (packet_handle*)handle->data;
  close(h->fd);
  h->fd = -1;
  h->poll_closed = 1;
  maybe_free(h);
}

static void do_close(packet_handle* h) {
  if (h->closing) return;
  h->closing = 1;
  uv_poll_stop(&h->poll);
  // Release JS references now so the callbacks (and whatever they close over) can be collected.
  napi_delete_reference(h->env, h->on_frame);
  napi_delete_reference(h->env, h->on_error);
  napi_async_destroy(h->env, h->async_ctx);
  uv_close((uv_handle_t*)&h->poll, on_poll_closed);
}

// Calls a JS callback from libuv context; an exception thrown by the callback is reported
// as an uncaught exception rather than silently swallowed.
static void call_js(packet_handle* h, napi_ref ref, size_t argc, napi_value* argv) {
  napi_env env = h->env;
  napi_value fn, global, result;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  napi_status st = napi_make_callback(env, h->async_ctx, global, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_readable(uv_poll_t* poll, int status, int events) {
  packet_handle* h = (packet_handle*)poll->data;
  if (h->closing) return;
  napi_handle_scope scope;
  napi_open_handle_scope(h->env, &scope);
  if (status < 0) {
    napi_value msg, err;
    napi_create_string_utf8(h->env, uv_strerror(status), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(h->env, NULL, msg, &err);
    call_js(h, h->on_error, 1, &err);
    napi_close_handle_scope(h->env, scope);
    return;
  }
  (void)events;
  for (int i = 0; i < MAX_FRAMES_PER_WAKEUP && !h->closing; i++) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(h->fd, h->buf, RECV_BUFFER_SIZE, 0, (struct sockaddr*)&from, &fromlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        napi_value msg, err;
        napi_create_string_utf8(h->env, strerror(errno), NAPI_AUTO_LENGTH, &msg);
        napi_create_error(h->env, NULL, msg, &err);
        call_js(h, h->on_error, 1, &err);
      }
      break;
    }
    // Our own transmissions loop back to packet sockets; PACKET_IGNORE_OUTGOING drops them on
    // kernels >= 4.20, this check covers older ones.
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    napi_handle_scope inner;
    napi_open_handle_scope(h->env, &inner);
    napi_value argv[2];
    // Copy: the receive buffer is reused for the next frame.
    napi_create_buffer_copy(h->env, (size_t)n, h->buf, NULL, &argv[0]);
    napi_create_uint32(h->env, from.sll_pkttype, &argv[1]);
    call_js(h, h->on_frame, 2, argv);
    napi_close_handle_scope(h->env, inner);
  }
  napi_close_handle_scope(h->env, scope);
}

static void finalize_handle(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  packet_handle* h = (packet_handle*)data;
  h->external_gone = 1;
  if (!h->closing) do_close(h);
  maybe_free(h);
}

// An ETH_P_IPV6 socket would otherwise copy every IPv6 frame the node receives on the
// interface into JS. This fixed classic-BPF program keeps only ICMPv6 (next header 58 with no
// extension headers) of type 135 (Neighbor Solicitation); offsets are from the Ethernet header.
// NS carrying extension headers are not accepted, which matches what real resolvers send.
static struct sock_filter ns_only_code[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),             // ethertype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 5),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 6),         // IPv6 next header
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 40),        // ICMPv6 type
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0x40000),                 // accept (up to 256 KiB)
    BPF_STMT(BPF_RET | BPF_K, 0),                       // drop
};

static packet_handle* get_handle(napi_env env, napi_value v) {
  void* data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "expected a packet socket handle");
    return NULL;
  }
  return (packet_handle*)data;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "open(ifindex, ethertype, filter, onFrame, onError)");
    return NULL;
  }
  double ifindex_d = 0, ethertype_d = 0, filter_d = 0;
  // Doubles, not int32: napi_get_value_int32 would silently truncate 1.5 to ifindex 1.
  // Range checks come first (and reject NaN) so the int casts below are always defined.
  if (napi_get_value_double(env, argv[0], &ifindex_d) != napi_ok ||
      !(ifindex_d >= 1 && ifindex_d <= 0x7fffffff) || ifindex_d != (int)ifindex_d ||
      napi_get_value_double(env, argv[1], &ethertype_d) != napi_ok ||
      !(ethertype_d >= 0 && ethertype_d <= 0xffff) || ethertype_d != (int)ethertype_d ||
      napi_get_value_double(env, argv[2], &filter_d) != napi_ok || (filter_d != 0 && filter_d != 1)) {
    napi_throw_type_error(env, NULL, "ifindex must be a positive integer, ethertype a uint16, filter 0 or 1");
    return NULL;
  }
  int ifindex = (int)ifindex_d;
  uint16_t ethertype = (uint16_t)ethertype_d;
  int filter = (int)filter_d;
  // Protocol 0 at socket() time receives nothing; the ethertype is set by bind() together with
  // the ifindex, so there is no window in which frames from other interfaces are queued.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (filter == 1) {
    // Attached before bind() so no unfiltered frame is ever queued.
    struct sock_fprog prog = {sizeof ns_only_code / sizeof ns_only_code[0], ns_only_code};
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
  unsigned char* buf = malloc(RECV_BUFFER_SIZE);
  if (h == NULL || buf == NULL) {
    free(h);
    free(buf);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  h->fd = fd;
  h->ifindex = ifindex;
  h->env = env;
  h->buf = buf;
  uv_loop_t* loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    close(fd);
    free(buf);
    free(h);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  h->poll.data = h;
  napi_create_reference(env, argv[3], 1, &h->on_frame);
  napi_create_reference(env, argv[4], 1, &h->on_error);
  napi_value resource_name;
  napi_create_string_utf8(env, "ironlb:packet", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &h->async_ctx);
  uv_poll_start(&h->poll, UV_READABLE, on_readable);
  napi_value external;
  CHECK(napi_create_external(env, h, finalize_handle, NULL, &external));
  return external;
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
  if (h->closing) return throw_errno(env, "send", EBADF);
  void* data;
  size_t len;
  bool is_typed;
  napi_is_typedarray(env, argv[1], &is_typed);
  if (!is_typed) {
    napi_throw_type_error(env, NULL, "frame must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &offset));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "frame must be a Uint8Array");
    return NULL;
  }
  ssize_t n;
  do {
    n = send(h->fd, data, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "send(AF_PACKET)", errno);
  napi_value out;
  napi_create_int64(env, n, &out);
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
  if (h->closing) return throw_errno(env, "setsockopt", EBADF);
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
  if (setsockopt(h->fd, SOL_PACKET, op, &mreq, sizeof mreq) < 0) {
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

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "close(handle)");
    return NULL;
  }
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  do_close(h);
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
  packet_handle* h = get_handle(env, argv[0]);
  if (h == NULL) return NULL;
  bool keep;
  CHECK(napi_get_value_bool(env, argv[1], &keep));
  if (!h->closing) {
    if (keep) uv_ref((uv_handle_t*)&h->poll);
    else uv_unref((uv_handle_t*)&h->poll);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addMembership", NULL, js_add_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropMembership", NULL, js_drop_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
