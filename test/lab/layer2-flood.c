// ARP / NDP request flooder with reply latency measurement, for the layer2 lab tests and
// `npm run bench -- l2flood`. Compiled at test time (see layer2-lab.ts: buildFlooder) because
// arping and ndisc6 are far too slow to measure a responder that answers 50k requests a second.
//
//   layer2-flood --ifname eth0 --mode arp|ndp --target IP [--target IP ...]
//                --rate N --duration-ms D [--grace-ms G]
//   layer2-flood --ifname eth0 --mode arp|ndp --sniff --duration-ms D
//
// Sends N requests per second for D ms (hard caps: 2,000,000/s and 60 s), each from a unique
// sender address (IPv4 198.18.0.0/15, IPv6 2001:db8::c000:0/96, both lab ranges) so the reply
// names the request it answers: ARP replies carry it as target protocol address, NAs as IPv6
// destination. A second thread receives replies with kernel timestamps (SO_TIMESTAMPNS).
// After the send phase it listens G ms more (default 300) and prints one JSON line:
//   {"sent":..,"answered":..,"duplicates":..,"durationMs":..,"offeredPerS":..,
//    "answeredPerS":..,"p50Us":..,"p99Us":..,"p999Us":..,"maxUs":..}
//
// --sniff runs on the responder's side instead: for D ms it watches the interface (ETH_P_ALL,
// kernel timestamps) for the flooder's requests arriving and the replies leaving, matched by the
// same sender address, and prints {"requests":..,"matched":..,"p50Us":..,"p99Us":..,...}: the
// node's own latency, from a request's arrival at its interface to the reply's departure,
// without the flooder's and the lab's scheduling in it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 64
#define SEQ_SPACE (1u << 17)  // 198.18.0.0/15 holds 131072 sender addresses
#define BATCH 64
#define HIST_MAX_US 1000000   // latencies are bucketed per µs up to 1 s
#define MAX_RATE 2000000
#define MAX_DURATION_MS 60000

static int mode_ndp = 0;
static unsigned char our_mac[6];
static int ntargets = 0;
static unsigned char targets4[MAX_TARGETS][4];
static unsigned char targets6[MAX_TARGETS][16];
// Send time per sequence slot (0 = none outstanding); written by the sender, cleared by the receiver.
static _Atomic int64_t sent_ns[SEQ_SPACE];
static uint32_t hist[HIST_MAX_US + 1];
static atomic_long answered, duplicates;
static long percentile(long total, double q);
static atomic_int stop_rx;

static void die(const char* what) {
  fprintf(stderr, "layer2-flood: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint16_t csum_add(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// Builds request `seq` for target `t` into buf; returns its length.
static size_t build(unsigned char* buf, uint32_t seq, int t) {
  if (!mode_ndp) {
    memset(buf, 0xff, 6);
    memcpy(buf + 6, our_mac, 6);
    buf[12] = 0x08; buf[13] = 0x06;
    unsigned char hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(buf + 14, hdr, 8);
    memcpy(buf + 22, our_mac, 6);
    buf[28] = 198; buf[29] = 18 + ((seq >> 16) & 1); buf[30] = (seq >> 8) & 0xff; buf[31] = seq & 0xff;
    memset(buf + 32, 0, 6);
    memcpy(buf + 38, targets4[t], 4);
    return 42;
  }
  const unsigned char* tgt = targets6[t];
  // Ethernet to the target's solicited-node group.
  buf[0] = 0x33; buf[1] = 0x33; buf[2] = 0xff; buf[3] = tgt[13]; buf[4] = tgt[14]; buf[5] = tgt[15];
  memcpy(buf + 6, our_mac, 6);
  buf[12] = 0x86; buf[13] = 0xdd;
  unsigned char* ip = buf + 14;
  memset(ip, 0, 40);
  ip[0] = 0x60; ip[5] = 32; ip[6] = 58; ip[7] = 255;
  unsigned char src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0};
  src[12] = (seq >> 24) & 0xff; src[13] = (seq >> 16) & 0xff; src[14] = (seq >> 8) & 0xff; src[15] = seq & 0xff;
  memcpy(ip + 8, src, 16);
  unsigned char dst[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0};
  dst[13] = tgt[13]; dst[14] = tgt[14]; dst[15] = tgt[15];
  memcpy(ip + 24, dst, 16);
  unsigned char* m = ip + 40;
  memset(m, 0, 32);
  m[0] = 135;
  memcpy(m + 8, tgt, 16);
  m[24] = 1; m[25] = 1;
  memcpy(m + 26, our_mac, 6);
  uint32_t sum = 0;
  for (int i = 0; i < 16; i += 2) sum += (uint32_t)((src[i] << 8) | src[i + 1]) + (uint32_t)((dst[i] << 8) | dst[i + 1]);
  sum += 32 + 58;
  for (int i = 0; i < 32; i += 2) sum += (uint32_t)((m[i] << 8) | m[i + 1]);
  uint16_t c = csum_add(sum);
  m[2] = c >> 8; m[3] = c & 0xff;
  return 14 + 40 + 32;
}

// The sequence number a reply answers, or -1 if the frame is not a reply to us.
static long reply_seq(const unsigned char* f, size_t n) {
  if (memcmp(f, our_mac, 6) != 0) return -1;
  if (!mode_ndp) {
    if (n < 42 || f[12] != 0x08 || f[13] != 0x06 || f[20] != 0 || f[21] != 2) return -1;
    if (memcmp(f + 32, our_mac, 6) != 0 || f[38] != 198 || (f[39] != 18 && f[39] != 19)) return -1;
    return ((long)(f[39] - 18) << 16) | ((long)f[40] << 8) | f[41];
  }
  if (n < 78 || f[12] != 0x86 || f[13] != 0xdd || f[20] != 58 || f[54] != 136) return -1;
  static const unsigned char prefix[12] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xc0, 0};
  if (memcmp(f + 38, prefix, 12) != 0) return -1;
  return (long)(((uint32_t)f[50] << 24 | (uint32_t)f[51] << 16 | (uint32_t)f[52] << 8 | f[53]) % SEQ_SPACE);
}

// Sniff mode: the sequence number of a flooder request (sender 198.18.0.0/15 or
// 2001:db8::c000:0/96) or of a reply to one, with *is_reply set accordingly; -1 otherwise.
static long sniff_seq(const unsigned char* f, size_t n, int* is_reply) {
  if (!mode_ndp) {
    if (n < 42 || f[12] != 0x08 || f[13] != 0x06 || f[20] != 0) return -1;
    const unsigned char* ip = f[21] == 1 ? f + 28 : f[21] == 2 ? f + 38 : NULL;
    if (ip == NULL || ip[0] != 198 || (ip[1] != 18 && ip[1] != 19)) return -1;
    *is_reply = f[21] == 2;
    return ((long)(ip[1] - 18) << 16) | ((long)ip[2] << 8) | ip[3];
  }
  if (n < 78 || f[12] != 0x86 || f[13] != 0xdd || f[20] != 58 || (f[54] != 135 && f[54] != 136)) return -1;
  static const unsigned char prefix[12] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xc0, 0};
  const unsigned char* ip = f[54] == 135 ? f + 22 : f + 38;  // NS source, NA destination
  if (memcmp(ip, prefix, 12) != 0) return -1;
  *is_reply = f[54] == 136;
  return (long)(((uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15]) % SEQ_SPACE);
}

static int sniff_main(int ifindex, long duration_ms) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) die("socket(AF_PACKET)");
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = htons(ETH_P_ALL);
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) < 0) die("bind sniff");
  int one = 1, big = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct timeval tv = {0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // Readiness for the caller: the socket is open, start the flood now.
  printf("{\"sniffing\":true}\n");
  fflush(stdout);
  long requests = 0, matched = 0;
  int64_t end = now_ns() + duration_ms * 1000000LL;
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  static unsigned char bufs[BATCH][256];
  struct sockaddr_ll from[BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(struct timespec))];
    struct cmsghdr align;
  } ctrl[BATCH];
  while (now_ns() < end) {
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = bufs[i];
      iovs[i].iov_len = sizeof bufs[i];
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      die("recvmmsg");
    }
    for (int i = 0; i < n; i++) {
      int is_reply = 0;
      long seq = sniff_seq(bufs[i], msgs[i].msg_len, &is_reply);
      if (seq < 0) continue;
      int outgoing = from[i].sll_pkttype == PACKET_OUTGOING;
      if (outgoing != is_reply) continue;  // only requests in, replies out
      int64_t ts = 0;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec t;
          memcpy(&t, CMSG_DATA(c), sizeof t);
          ts = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
        }
      }
      if (ts == 0) continue;
      if (!is_reply) {
        requests++;
        atomic_store_explicit(&sent_ns[seq], ts, memory_order_relaxed);
        continue;
      }
      int64_t rx = atomic_exchange_explicit(&sent_ns[seq], 0, memory_order_relaxed);
      if (rx == 0) continue;
      int64_t us = (ts - rx) / 1000;
      if (us < 0) us = 0;
      if (us > HIST_MAX_US) us = HIST_MAX_US;
      hist[us]++;
      matched++;
    }
  }
  printf("{\"requests\":%ld,\"matched\":%ld,\"p50Us\":%ld,\"p99Us\":%ld,\"p999Us\":%ld,\"maxUs\":%ld}\n", requests, matched,
         percentile(matched, 0.5), percentile(matched, 0.99), percentile(matched, 0.999), percentile(matched, 1.0));
  return 0;
}

static void* rx_main(void* arg) {
  int fd = *(int*)arg;
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  static unsigned char bufs[BATCH][2048];
  union {
    char buf[CMSG_SPACE(sizeof(struct timespec))];
    struct cmsghdr align;
  } ctrl[BATCH];
  while (!atomic_load(&stop_rx)) {
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = bufs[i];
      iovs[i].iov_len = sizeof bufs[i];
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      die("recvmmsg");
    }
    int64_t fallback = now_ns();
    for (int i = 0; i < n; i++) {
      long seq = reply_seq(bufs[i], msgs[i].msg_len);
      if (seq < 0) continue;
      int64_t rx = fallback;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          rx = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
      }
      int64_t tx = atomic_exchange_explicit(&sent_ns[seq], 0, memory_order_relaxed);
      if (tx == 0) {
        atomic_fetch_add(&duplicates, 1);
        continue;
      }
      int64_t us = (rx - tx) / 1000;
      if (us < 0) us = 0;
      if (us > HIST_MAX_US) us = HIST_MAX_US;
      hist[us]++;
      atomic_fetch_add(&answered, 1);
    }
  }
  return NULL;
}

static long percentile(long total, double q) {
  if (total == 0) return -1;
  long rank = (long)(q * (double)total + 0.999999);
  if (rank < 1) rank = 1;
  long seen = 0;
  for (long us = 0; us <= HIST_MAX_US; us++) {
    seen += hist[us];
    if (seen >= rank) return us;
  }
  return HIST_MAX_US;
}

int main(int argc, char** argv) {
  const char* ifname = NULL;
  long rate = 1000, duration_ms = 1000, grace_ms = 300;
  int sniff = 0;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--sniff")) {
      sniff = 1;
      continue;
    }
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) break;
    if (!strcmp(a, "--ifname")) ifname = v;
    else if (!strcmp(a, "--mode")) mode_ndp = !strcmp(v, "ndp");
    else if (!strcmp(a, "--rate")) rate = atol(v);
    else if (!strcmp(a, "--duration-ms")) duration_ms = atol(v);
    else if (!strcmp(a, "--grace-ms")) grace_ms = atol(v);
    else if (!strcmp(a, "--target") && ntargets < MAX_TARGETS) {
      if (inet_pton(AF_INET, v, targets4[ntargets]) == 1 || inet_pton(AF_INET6, v, targets6[ntargets]) == 1) ntargets++;
      else {
        fprintf(stderr, "layer2-flood: bad target %s\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "layer2-flood: unknown option %s\n", a);
      return 2;
    }
    i++;
  }
  if (sniff) {
    if (ifname == NULL || duration_ms <= 0 || duration_ms > MAX_DURATION_MS) {
      fprintf(stderr, "usage: layer2-flood --ifname IF --mode arp|ndp --sniff --duration-ms D(<=%d)\n", MAX_DURATION_MS);
      return 2;
    }
    int idx = (int)if_nametoindex(ifname);
    if (idx == 0) die("if_nametoindex");
    return sniff_main(idx, duration_ms);
  }
  if (ifname == NULL || ntargets == 0 || rate <= 0 || rate > MAX_RATE || duration_ms <= 0 || duration_ms > MAX_DURATION_MS ||
      grace_ms < 0 || grace_ms > 10000) {
    fprintf(stderr, "usage: layer2-flood --ifname IF --mode arp|ndp --target IP --rate N(<=%d) --duration-ms D(<=%d)\n",
            MAX_RATE, MAX_DURATION_MS);
    return 2;
  }
  int ifindex = (int)if_nametoindex(ifname);
  if (ifindex == 0) die("if_nametoindex");
  char path[128];
  snprintf(path, sizeof path, "/sys/class/net/%s/address", ifname);
  FILE* fp = fopen(path, "r");
  if (!fp) die(path);
  unsigned int m[6];
  if (fscanf(fp, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) die("read MAC");
  fclose(fp);
  for (int i = 0; i < 6; i++) our_mac[i] = (unsigned char)m[i];

  uint16_t proto = mode_ndp ? ETH_P_IPV6 : ETH_P_ARP;
  int tx = socket(AF_PACKET, SOCK_RAW, 0);
  int rx = socket(AF_PACKET, SOCK_RAW, htons(proto));
  if (tx < 0 || rx < 0) die("socket(AF_PACKET)");
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = 0;  // the send socket receives nothing
  if (bind(tx, (struct sockaddr*)&sll, sizeof sll) < 0) die("bind tx");
  sll.sll_protocol = htons(proto);
  if (bind(rx, (struct sockaddr*)&sll, sizeof sll) < 0) die("bind rx");
  int one = 1, big = 16 << 20;
  setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(tx, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(tx, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct timeval tv = {0, 100000};  // lets the receiver notice stop_rx
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  pthread_t th;
  if (pthread_create(&th, NULL, rx_main, &rx) != 0) die("pthread_create");

  static unsigned char frames[BATCH][128];
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  uint32_t seq = 0;
  long sent = 0, send_errors = 0;
  int64_t start = now_ns();
  int64_t end = start + duration_ms * 1000000LL;
  for (;;) {
    int64_t t = now_ns();
    if (t >= end) break;
    long due = (long)((double)(t - start) * (double)rate / 1e9) - sent;
    if (due <= 0) {
      // Sleep until the next request is due (coarse on a busy machine; the batch catches up).
      int64_t next = start + (int64_t)((double)(sent + 1) * 1e9 / (double)rate);
      int64_t wait = next - t;
      if (wait > 20000) {
        struct timespec ts = {0, wait > 1000000 ? 1000000 : wait};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    int k = due > BATCH ? BATCH : (int)due;
    int64_t stamp = now_ns();
    for (int i = 0; i < k; i++) {
      uint32_t s = (seq + (uint32_t)i) % SEQ_SPACE;
      iovs[i].iov_base = frames[i];
      iovs[i].iov_len = build(frames[i], s, (int)((seq + (uint32_t)i) % (uint32_t)ntargets));
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      atomic_store_explicit(&sent_ns[s], stamp, memory_order_relaxed);
    }
    int n = sendmmsg(tx, msgs, (unsigned)k, 0);
    if (n < 0) {
      if (errno == ENOBUFS || errno == EAGAIN) {
        send_errors++;
        for (int i = 0; i < k; i++) atomic_store_explicit(&sent_ns[(seq + (uint32_t)i) % SEQ_SPACE], 0, memory_order_relaxed);
        continue;
      }
      die("sendmmsg");
    }
    for (int i = n; i < k; i++) atomic_store_explicit(&sent_ns[(seq + (uint32_t)i) % SEQ_SPACE], 0, memory_order_relaxed);
    seq += (uint32_t)n;
    sent += n;
  }
  int64_t send_end = now_ns();
  struct timespec g = {grace_ms / 1000, (grace_ms % 1000) * 1000000L};
  nanosleep(&g, NULL);
  atomic_store(&stop_rx, 1);
  pthread_join(th, NULL);
  double secs = (double)(send_end - start) / 1e9;
  long ans = atomic_load(&answered);
  printf("{\"sent\":%ld,\"answered\":%ld,\"duplicates\":%ld,\"sendErrors\":%ld,\"durationMs\":%.1f,"
         "\"offeredPerS\":%.0f,\"answeredPerS\":%.0f,\"p50Us\":%ld,\"p99Us\":%ld,\"p999Us\":%ld,\"maxUs\":%ld}\n",
         sent, ans, atomic_load(&duplicates), send_errors, secs * 1000, (double)sent / secs, (double)ans / secs,
         percentile(ans, 0.5), percentile(ans, 0.99), percentile(ans, 0.999), percentile(ans, 1.0));
  return 0;
}
