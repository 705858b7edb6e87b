// The native layer: syscalls only, no logic (design.md "A small native layer, syscalls only").
// Node has no ioctl, no fd readiness for arbitrary fds and no way to read(2) into an offset of a
// WebAssembly.Memory, so this file exposes exactly those calls. Every decision (names, offload
// sets, batching policy, frame formats) is made in TypeScript (src/tap/).
//
// Conventions for every export:
// - fds and flags are plain numbers; a buffer is an ArrayBuffer, a TypedArray (including one over
//   a SharedArrayBuffer, e.g. a shared WebAssembly.Memory) or a DataView, and offsets are byte
//   offsets into that view. Every offset+length is checked against the view here, in C, before
//   any syscall touches memory, so a host bug gives a RangeError instead of a stray write.
// - A failed syscall throws an Error with code = the errno name (EAGAIN, EBADF, ENODEV...),
//   errno = its number and syscall = the call that failed. Reads/writes that would block
//   return 0 instead of throwing (nonblocking fds are the normal case).
// - Argument mistakes throw TypeError/RangeError with a NETBACK_NATIVE_* code.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <node_api.h>
#include <uv.h>

#define CODE_BAD_ARGUMENT "NETBACK_NATIVE_BAD_ARGUMENT"
#define CODE_BOUNDS "NETBACK_NATIVE_BOUNDS"

// ---------------------------------------------------------------------------------------------
// errors

static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(err);
  if (name != NULL) return name;
#endif
  switch (err) {
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EIO: return "EIO";
    case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT";
    default: return "EUNKNOWN";
  }
}

// Throws Error(message) with code/errno/syscall set; always returns NULL for `return throw_errno(...)`.
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, errno_name(err), strerror(err));
  napi_value msg, error, value;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, msg, &error) != napi_ok) return NULL;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "code", value);
  napi_create_int32(env, err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_throw(env, error);
  return NULL;
}

// Throws only if nothing is pending yet (a failed napi_* call may already have thrown).
static napi_value throw_type(napi_env env, const char *message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, CODE_BAD_ARGUMENT, message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, CODE_BOUNDS, message);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// arguments

#define MAX_ARGS 6

#define GET_ARGS(n)                                                                   \
  size_t argc = (n);                                                                  \
  napi_value argv[MAX_ARGS];                                                          \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;  \
  if (argc < (n)) return throw_type(env, "too few arguments")

// A non-negative integer no larger than `max`; NaN, fractions and negatives are rejected instead
// of being coerced (napi_get_value_uint32 would turn -1 into 4294967295).
static bool get_index(napi_env env, napi_value value, double max, size_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a number", what);
    throw_type(env, message);
    return false;
  }
  if (!(d >= 0) || d != floor(d) || d > max) {
    char message[96];
    snprintf(message, sizeof message, "%s must be an integer in [0, %.0f]", what, max);
    napi_throw_range_error(env, CODE_BAD_ARGUMENT, message);
    return false;
  }
  *out = (size_t)d;
  return true;
}

static bool get_fd(napi_env env, napi_value value, int *fd) {
  size_t v;
  if (!get_index(env, value, 2147483647.0, &v, "fd")) return false;
  *fd = (int)v;
  return true;
}

// The bytes of an ArrayBuffer, TypedArray or DataView. For a TypedArray over a
// SharedArrayBuffer, napi_get_typedarray_info is the call that yields the data pointer.
static bool get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is;
  void *base = NULL;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t elements, byte_offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, value, &type, &elements, &base, &ab, &byte_offset) != napi_ok) goto bad;
    size_t element_size = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: element_size = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: element_size = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element_size = 8; break;
      default: element_size = 1;
    }
    *data = base;
    *length = elements * element_size;
    return true;
  }
  if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    napi_value ab;
    size_t byte_offset;
    if (napi_get_dataview_info(env, value, length, &base, &ab, &byte_offset) != napi_ok) goto bad;
    *data = base;
    return true;
  }
  if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, value, &base, length) != napi_ok) goto bad;
    *data = base;
    return true;
  }
bad:
  throw_type(env, "buffer must be an ArrayBuffer, a TypedArray or a DataView (wrap a SharedArrayBuffer in a Uint8Array)");
  return false;
}

// offset + length within [0, size], without overflow.
static bool in_bounds(size_t size, size_t offset, size_t length) {
  return offset <= size && length <= size - offset;
}

static bool get_window(napi_env env, napi_value buf, napi_value off, napi_value len, uint8_t **p, size_t *n) {
  uint8_t *data;
  size_t size, offset, length;
  if (!get_bytes(env, buf, &data, &size)) return false;
  if (!get_index(env, off, 9007199254740991.0, &offset, "offset")) return false;
  if (!get_index(env, len, 9007199254740991.0, &length, "length")) return false;
  if (!in_bounds(size, offset, length)) {
    char message[128];
    snprintf(message, sizeof message, "offset %zu + length %zu exceeds the buffer (%zu bytes)", offset, length, size);
    throw_range(env, message);
    return false;
  }
  *p = data + offset;
  *n = length;
  return true;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static bool get_ifname(napi_env env, napi_value value, char name[IFNAMSIZ]) {
  size_t len;
  char buf[IFNAMSIZ + 1];
  if (napi_get_value_string_utf8(env, value, buf, sizeof buf, &len) != napi_ok) {
    throw_type(env, "interface name must be a string");
    return false;
  }
  if (len >= IFNAMSIZ) {
    napi_throw_range_error(env, CODE_BAD_ARGUMENT, "interface name must be shorter than IFNAMSIZ (16) bytes");
    return false;
  }
  memset(name, 0, IFNAMSIZ);
  memcpy(name, buf, len);
  return true;
}

// ---------------------------------------------------------------------------------------------
// TAP: open and configure

// tapOpen(name, flags) → { fd, name }. flags are IFF_* for TUNSETIFF (the caller passes
// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR). The fd is O_CLOEXEC so children (ip, hotplug scripts) do not
// inherit it and keep a non-persistent device alive.
static napi_value tap_open(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ];
  size_t flags;
  if (!get_ifname(env, argv[0], name)) return NULL;
  if (!get_index(env, argv[1], 65535.0, &flags, "flags")) return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  ifr.ifr_flags = (short)flags;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl TUNSETIFF");
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, out, "fd", v);
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "name", v);
  return out;
}

// An ioctl on the TAP fd whose argument is an int/unsigned passed by pointer or by value.
static napi_value tap_ioctl_int(napi_env env, napi_callback_info info, unsigned long request,
                                const char *syscall, bool by_pointer, double max) {
  GET_ARGS(2);
  int fd;
  size_t value;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], max, &value, "value")) return NULL;
  int v = (int)value;
  int rc = by_pointer ? ioctl(fd, request, &v) : ioctl(fd, request, (unsigned long)value);
  if (rc < 0) return throw_errno(env, errno, syscall);
  return make_undefined(env);
}

// tapSetVnetHdrSize(fd, bytes): TUNSETVNETHDRSZ takes an int by pointer.
static napi_value tap_set_vnet_hdr_size(napi_env env, napi_callback_info info) {
  return tap_ioctl_int(env, info, TUNSETVNETHDRSZ, "ioctl TUNSETVNETHDRSZ", true, 65535.0);
}

// tapSetOffload(fd, TUN_F_* bits): TUNSETOFFLOAD takes the bits by value.
static napi_value tap_set_offload(napi_env env, napi_callback_info info) {
  return tap_ioctl_int(env, info, TUNSETOFFLOAD, "ioctl TUNSETOFFLOAD", false, 4294967295.0);
}

// tapSetPersist(fd, 0|1): TUNSETPERSIST takes the flag by value.
static napi_value tap_set_persist(napi_env env, napi_callback_info info) {
  return tap_ioctl_int(env, info, TUNSETPERSIST, "ioctl TUNSETPERSIST", false, 1.0);
}

// tapSetCarrier(fd, 0|1): TUNSETCARRIER (Linux >= 5.0) takes an int by pointer; the vif's carrier
// goes off while the guest's RX is stalled, as netback's netif_carrier_off does.
#ifndef TUNSETCARRIER
#define TUNSETCARRIER _IOW('T', 226, int)
#endif
static napi_value tap_set_carrier(napi_env env, napi_callback_info info) {
  return tap_ioctl_int(env, info, TUNSETCARRIER, "ioctl TUNSETCARRIER", true, 1.0);
}

// tapSetQueue(fd, IFF_ATTACH_QUEUE | IFF_DETACH_QUEUE): TUNSETQUEUE takes a struct ifreq. A
// detached queue of an IFF_MULTI_QUEUE TAP gets no frames but still holds the device (and its
// device ioctls: persist, carrier), so one thread can own the device while others own its queues.
static napi_value tap_set_queue(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int fd;
  size_t flags;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 65535.0, &flags, "flags")) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (short)flags;
  if (ioctl(fd, TUNSETQUEUE, &ifr) < 0) return throw_errno(env, errno, "ioctl TUNSETQUEUE");
  return make_undefined(env);
}

// SIOC* interface ioctls need some socket of the current network namespace.
static int control_socket(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s;
}

static napi_value if_ioctl(napi_env env, const char name[IFNAMSIZ], unsigned long request, struct ifreq *ifr,
                           const char *syscall) {
  int s = control_socket();
  if (s < 0) return throw_errno(env, errno, "socket");
  memcpy(ifr->ifr_name, name, IFNAMSIZ);
  int rc = ioctl(s, request, ifr);
  int err = errno;
  close(s);
  if (rc < 0) return throw_errno(env, err, syscall);
  return make_undefined(env);
}

// ifSetMtu(name, mtu)
static napi_value if_set_mtu(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ];
  size_t mtu;
  if (!get_ifname(env, argv[0], name)) return NULL;
  if (!get_index(env, argv[1], 2147483647.0, &mtu, "mtu")) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_mtu = (int)mtu;
  return if_ioctl(env, name, SIOCSIFMTU, &ifr, "ioctl SIOCSIFMTU");
}

// ifGetMtu(name) → mtu
static napi_value if_get_mtu(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  char name[IFNAMSIZ];
  if (!get_ifname(env, argv[0], name)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (if_ioctl(env, name, SIOCGIFMTU, &ifr, "ioctl SIOCGIFMTU") == NULL) return NULL;
  return make_int(env, ifr.ifr_mtu);
}

// ifGetFlags(name) → IFF_* flags (IFF_UP = 1, IFF_RUNNING = 0x40...)
static napi_value if_get_flags(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  char name[IFNAMSIZ];
  if (!get_ifname(env, argv[0], name)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (if_ioctl(env, name, SIOCGIFFLAGS, &ifr, "ioctl SIOCGIFFLAGS") == NULL) return NULL;
  return make_int(env, (uint16_t)ifr.ifr_flags);
}

// ifSetUp(name, up): read-modify-write of IFF_UP with SIOCGIFFLAGS/SIOCSIFFLAGS.
static napi_value if_set_up(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ];
  bool up;
  if (!get_ifname(env, argv[0], name)) return NULL;
  if (napi_get_value_bool(env, argv[1], &up) != napi_ok) return throw_type(env, "up must be a boolean");
  int s = control_socket();
  if (s < 0) return throw_errno(env, errno, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(s);
    return throw_errno(env, err, "ioctl SIOCGIFFLAGS");
  }
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  int err = errno;
  close(s);
  if (rc < 0) return throw_errno(env, err, "ioctl SIOCSIFFLAGS");
  return make_undefined(env);
}

// setNonblock(fd, on)
static napi_value set_nonblock(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int fd;
  bool on;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "on must be a boolean");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl F_GETFL");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return throw_errno(env, errno, "fcntl F_SETFL");
  return make_undefined(env);
}

// closeFd(fd)
static napi_value close_fd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return make_undefined(env);
}

// ---------------------------------------------------------------------------------------------
// frames

static bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

// readFrame(fd, buffer, offset, capacity) → bytes read, 0 if nothing is ready;
// writeFrame(fd, buffer, offset, length) → bytes written, 0 if the write would block.
// One frame per call: a TAP reads and writes whole frames.
static napi_value frame_io(napi_env env, napi_callback_info info, bool writing) {
  GET_ARGS(4);
  int fd;
  uint8_t *p;
  size_t n;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_window(env, argv[1], argv[2], argv[3], &p, &n)) return NULL;
  ssize_t rc;
  do rc = writing ? write(fd, p, n) : read(fd, p, n); while (rc < 0 && errno == EINTR);
  if (rc < 0) return would_block(errno) ? make_int(env, 0) : throw_errno(env, errno, writing ? "write" : "read");
  return make_int(env, rc);
}

static napi_value read_frame(napi_env env, napi_callback_info info) {
  return frame_io(env, info, false);
}

static napi_value write_frame(napi_env env, napi_callback_info info) {
  return frame_io(env, info, true);
}

// ---------------------------------------------------------------------------------------------
// TAP batches through io_uring: one system call for a batch of reads or writes
//
// tun has no batched read or write for user space: a frame is a read(2) or a write(2). On a KVM
// guest with the usual mitigations a system call's entry and exit alone cost ~0.5 µs (a getppid
// loop), as much as half of the kernel's own work on a 64-byte frame. So readFrames/writeFrames
// hand the whole batch to an io_uring (one per Node environment, i.e. per thread, made on first
// use; raw io_uring_setup/enter, no liburing) and wait for it in the same io_uring_enter. Every
// request carries RWF_NOWAIT: it runs inline in that call, on this thread (so its CPU time is the
// caller's, nothing is punted to an io-wq worker), and an empty TAP queue completes as -EAGAIN
// instead of parking a read in the ring, so no request outlives the call and the buffers (Wasm
// memory) are only touched during it. The requests are not linked (a link chain issues each
// request from task work: most of the gain is lost), so a batch of writes tries every frame.
// Where io_uring cannot be had (seccomp, the io_uring_disabled sysctl, kernel < 5.6) or the TAP
// refuses RWF_NOWAIT (-EOPNOTSUPP: Linux 6.1's tun has no FMODE_NOWAIT), the batches fall back
// to one system call per frame, for good. Measured on the tap_e2e set-up (AMD EPYC KVM guest,
// Linux 6.18): 64-byte frames, a write 3.2 µs → 2.0 µs, a read 1.85 µs → 1.37 µs per frame.
// see: io_uring(7), io_uring_enter(2); drivers/net/tun.c tun_chr_read_iter/tun_chr_write_iter

#define URING_ENTRIES 256

typedef struct {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *sq_map, *cq_map;
  size_t sq_len, cq_len;
} uring_t;

typedef enum { BATCH_UNTRIED, BATCH_URING, BATCH_SYSCALLS } batch_mode_t;

typedef struct {
  batch_mode_t mode;
  uring_t ring;
} batch_state_t;

static void uring_close(uring_t *r) {
  if (r->sqes != NULL && r->sqes != MAP_FAILED) munmap(r->sqes, URING_ENTRIES * sizeof(struct io_uring_sqe));
  if (r->cq_map != NULL && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_len);
  if (r->sq_map != NULL && r->sq_map != MAP_FAILED) munmap(r->sq_map, r->sq_len);
  if (r->fd >= 0) close(r->fd);
  memset(r, 0, sizeof *r);
  r->fd = -1;
}

static bool uring_open(uring_t *r) {
  memset(r, 0, sizeof *r);
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  r->fd = (int)syscall(__NR_io_uring_setup, URING_ENTRIES, &params);
  if (r->fd < 0) return false;
  fcntl(r->fd, F_SETFD, FD_CLOEXEC);
  r->sq_len = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  r->cq_len = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  bool single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && r->cq_len > r->sq_len) r->sq_len = r->cq_len;
  r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (r->sq_map == MAP_FAILED) { uring_close(r); return false; }
  r->cq_map = single ? r->sq_map : mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  if (r->cq_map == MAP_FAILED) { uring_close(r); return false; }
  r->sqes = mmap(NULL, URING_ENTRIES * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) { uring_close(r); return false; }
  char *sq = r->sq_map, *cq = r->cq_map;
  r->sq_tail = (unsigned *)(sq + params.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + params.sq_off.array);
  r->cq_head = (unsigned *)(cq + params.cq_off.head);
  r->cq_tail = (unsigned *)(cq + params.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
  return true;
}

static void batch_state_free(napi_env env, void *data, void *hint) {
  batch_state_t *state = data;
  if (state->mode == BATCH_URING) uring_close(&state->ring);
  free(state);
}

static batch_state_t *batch_state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return data;
  batch_state_t *state = calloc(1, sizeof *state);
  if (state == NULL) return NULL;
  state->ring.fd = -1;
  if (napi_set_instance_data(env, state, batch_state_free, NULL) != napi_ok) { free(state); return NULL; }
  return state;
}

// The ring to use, or NULL: one system call per frame.
static uring_t *batch_ring(napi_env env) {
  batch_state_t *state = batch_state(env);
  if (state == NULL) return NULL;
  if (state->mode == BATCH_UNTRIED) state->mode = uring_open(&state->ring) ? BATCH_URING : BATCH_SYSCALLS;
  return state->mode == BATCH_URING ? &state->ring : NULL;
}

// io_uring is off for this environment from here on (the TAP refused RWF_NOWAIT, or the ring failed).
static void batch_give_up(napi_env env) {
  batch_state_t *state = batch_state(env);
  if (state == NULL) return;
  if (state->mode == BATCH_URING) uring_close(&state->ring);
  state->mode = BATCH_SYSCALLS;
}

// Queues one read or write of [p, p+n) on fd; user_data is the frame's index in the batch.
static void uring_prep(uring_t *r, unsigned *tail, uint8_t opcode, int fd, uint8_t *p, size_t n, size_t index) {
  unsigned at = *tail & *r->sq_mask;
  struct io_uring_sqe *sqe = &r->sqes[at];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = opcode;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)p;
  sqe->len = (uint32_t)n;
  sqe->off = (uint64_t)-1; // the file's position: a TAP is a stream
  sqe->rw_flags = RWF_NOWAIT;
  sqe->user_data = index;
  r->sq_array[at] = at;
  (*tail)++;
}

// Submits the `count` requests queued up to `tail` and reaps all their completions; results[i]
// gets request i's result (bytes, or -errno). Returns 0, or an errno when the ring itself failed
// (the caller then gives the ring up).
static int uring_run(uring_t *r, unsigned tail, unsigned count, int32_t *results) {
  atomic_store_explicit((_Atomic unsigned *)r->sq_tail, tail, memory_order_release);
  unsigned submitted = 0, done = 0;
  while (done < count) {
    int rc = (int)syscall(__NR_io_uring_enter, r->fd, count - submitted, count - done, IORING_ENTER_GETEVENTS, NULL, 0);
    if (rc < 0) {
      if (errno == EINTR) continue;
      if (errno != EBUSY && errno != EAGAIN) return errno;
    } else {
      submitted += (unsigned)rc;
    }
    unsigned head = *r->cq_head;
    unsigned ctail = atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire);
    for (; head != ctail; head++) {
      struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
      if (cqe->user_data < count) results[cqe->user_data] = cqe->res;
      done++;
    }
    atomic_store_explicit((_Atomic unsigned *)r->cq_head, head, memory_order_release);
  }
  return 0;
}

// A batch through the ring. false: every request was refused with -EOPNOTSUPP (the file does not
// take RWF_NOWAIT), nothing was read or written: redo it one system call per frame; io_uring is
// then off. A ring that fails mid-batch is given up too, its unfinished requests failed with its errno.
static bool uring_batch(napi_env env, uring_t *r, uint8_t opcode, int fd, uint8_t *const *ptrs, const size_t *lens,
                        size_t count, int32_t *results) {
  unsigned tail = *r->sq_tail;
  for (size_t i = 0; i < count; i++) {
    results[i] = INT32_MIN;
    uring_prep(r, &tail, opcode, fd, ptrs[i], lens[i], i);
  }
  int err = uring_run(r, tail, (unsigned)count, results);
  size_t refused = 0;
  for (size_t i = 0; i < count; i++) {
    if (results[i] == INT32_MIN) results[i] = -(err != 0 ? err : EIO);
    refused += results[i] == -EOPNOTSUPP;
  }
  if (err != 0 || refused > 0) batch_give_up(env);
  return refused < count;
}

// tapBatchMode(mode?) → 'io_uring' or 'syscalls': what readFrames/writeFrames use on this thread.
// 'syscalls' switches io_uring off (a before/after in one run, tests of the fallback); 'io_uring'
// tries it again.
static napi_value tap_batch_mode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc > 0 && napi_typeof(env, argv[0], &type) != napi_ok) return NULL;
  if (type == napi_string) {
    char mode[16];
    size_t n;
    if (napi_get_value_string_utf8(env, argv[0], mode, sizeof mode, &n) != napi_ok) return NULL;
    batch_state_t *state = batch_state(env);
    if (strcmp(mode, "syscalls") == 0) {
      batch_give_up(env);
    } else if (strcmp(mode, "io_uring") == 0) {
      if (state != NULL && state->mode == BATCH_SYSCALLS) state->mode = BATCH_UNTRIED;
    } else {
      return throw_type(env, "mode must be 'io_uring' or 'syscalls'");
    }
  } else if (type != napi_undefined) {
    return throw_type(env, "mode must be 'io_uring' or 'syscalls'");
  }
  napi_value v;
  napi_create_string_utf8(env, batch_ring(env) != NULL ? "io_uring" : "syscalls", NAPI_AUTO_LENGTH, &v);
  return v;
}

// Attaches how far a batch got to the pending error, so the caller knows which frames made it.
static napi_value throw_errno_after(napi_env env, int err, const char *syscall, size_t done) {
  throw_errno(env, err, syscall);
  napi_value error, v;
  if (napi_get_and_clear_last_exception(env, &error) != napi_ok) return NULL;
  napi_create_int64(env, (int64_t)done, &v);
  napi_set_named_property(env, error, "done", v);
  napi_throw(env, error);
  return NULL;
}

// readFrames(fd, buffer, offset, slotSize, maxFrames, lengths: Uint32Array) → frames read.
// Frame i lands at offset + i*slotSize (up to slotSize bytes) and its length in lengths[i]. Stops
// at the first EAGAIN (through io_uring: maxFrames reads are issued, those that find the queue
// empty complete with EAGAIN, so ask for about as many as are expected). An error after some
// frames were read returns the count (the error will recur on the next call); an error on the
// first frame throws.
static napi_value read_frames(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  int fd;
  uint8_t *data, *lens_raw;
  size_t size, offset, slot, max, lens_size;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], &data, &size)) return NULL;
  if (!get_index(env, argv[2], 9007199254740991.0, &offset, "offset")) return NULL;
  if (!get_index(env, argv[3], 4294967295.0, &slot, "slotSize")) return NULL;
  if (!get_index(env, argv[4], 65536.0, &max, "maxFrames")) return NULL;
  bool is;
  napi_typedarray_type type;
  size_t elements, byte_offset;
  napi_value ab;
  void *lens_base;
  if (napi_is_typedarray(env, argv[5], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[5], &type, &elements, &lens_base, &ab, &byte_offset) != napi_ok ||
      type != napi_uint32_array) {
    return throw_type(env, "lengths must be a Uint32Array");
  }
  lens_raw = lens_base;
  lens_size = elements;
  if (max > lens_size) return throw_range(env, "maxFrames exceeds lengths.length");
  if (max > 0 && (slot == 0 || !in_bounds(size, offset, 0) || slot > (size - offset) / max)) {
    char message[160];
    snprintf(message, sizeof message, "%zu slots of %zu bytes at offset %zu exceed the buffer (%zu bytes)", max, slot, offset, size);
    return throw_range(env, message);
  }
  uint32_t *lens = (uint32_t *)lens_raw;
  uring_t *ring = max > 1 && max <= URING_ENTRIES ? batch_ring(env) : NULL;
  if (ring != NULL) {
    uint8_t *ptrs[URING_ENTRIES];
    size_t sizes[URING_ENTRIES];
    int32_t results[URING_ENTRIES];
    for (size_t k = 0; k < max; k++) {
      ptrs[k] = data + offset + k * slot;
      sizes[k] = slot;
    }
    if (uring_batch(env, ring, IORING_OP_READ, fd, ptrs, sizes, max, results)) {
      // The reads run in order, so frames land in order; one that arrived after an earlier read
      // found the queue empty moves down, so the frames read are slots 0..n-1 as documented.
      size_t n = 0;
      int first_error = 0;
      for (size_t k = 0; k < max; k++) {
        if (results[k] < 0) {
          if (first_error == 0 && !would_block(-results[k])) first_error = -results[k];
          continue;
        }
        if (k != n) memmove(ptrs[n], ptrs[k], (size_t)results[k]);
        lens[n++] = (uint32_t)results[k];
      }
      if (n == 0 && first_error != 0) return throw_errno(env, first_error, "read");
      return make_int(env, (int64_t)n);
    }
  }
  size_t i = 0;
  for (; i < max; i++) {
    ssize_t rc;
    do rc = read(fd, data + offset + i * slot, slot); while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      if (would_block(errno) || i > 0) break;
      return throw_errno(env, errno, "read");
    }
    lens[i] = (uint32_t)rc;
  }
  return make_int(env, (int64_t)i);
}

// writeFrames(fd, buffer, descriptors: Uint32Array [offset, length]*, count) → frames written.
// All descriptors are bounds-checked before the first write. Every frame is tried, through the
// io_uring batch where there is one: a frame the kernel refuses (EINVAL: a bad virtio_net_hdr) is
// dropped and the others still go; a full queue (EAGAIN, only with a bounded sndbuf) drops the
// frame (one system call per frame: it and the rest). Throws (with `done` = 0) only when not one
// frame went out and an error other than EAGAIN said why.
static napi_value write_frames(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  int fd;
  uint8_t *data;
  size_t size, count;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], &data, &size)) return NULL;
  bool is;
  napi_typedarray_type type;
  size_t elements, byte_offset;
  napi_value ab;
  void *desc_base;
  if (napi_is_typedarray(env, argv[2], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[2], &type, &elements, &desc_base, &ab, &byte_offset) != napi_ok ||
      type != napi_uint32_array) {
    return throw_type(env, "descriptors must be a Uint32Array of (offset, length) pairs");
  }
  if (!get_index(env, argv[3], 65536.0, &count, "count")) return NULL;
  if (count > elements / 2) return throw_range(env, "count exceeds descriptors.length / 2");
  const uint32_t *desc = desc_base;
  for (size_t i = 0; i < count; i++) {
    if (!in_bounds(size, desc[2 * i], desc[2 * i + 1])) {
      char message[160];
      snprintf(message, sizeof message, "frame %zu: offset %u + length %u exceeds the buffer (%zu bytes)", i, desc[2 * i], desc[2 * i + 1], size);
      return throw_range(env, message);
    }
  }
  size_t written = 0;
  int first_error = 0;
  uring_t *ring = count > 1 ? batch_ring(env) : NULL;
  for (size_t first = 0; first < count;) {
    size_t n = count - first < URING_ENTRIES ? count - first : URING_ENTRIES;
    uint8_t *ptrs[URING_ENTRIES];
    size_t sizes[URING_ENTRIES];
    int32_t results[URING_ENTRIES];
    for (size_t k = 0; k < n; k++) {
      ptrs[k] = data + desc[2 * (first + k)];
      sizes[k] = desc[2 * (first + k) + 1];
    }
    if (ring != NULL && uring_batch(env, ring, IORING_OP_WRITE, fd, ptrs, sizes, n, results)) {
      for (size_t k = 0; k < n; k++) {
        if (results[k] >= 0) written++;
        else if (first_error == 0 && !would_block(-results[k])) first_error = -results[k];
      }
      first += n;
      continue;
    }
    ring = NULL;
    for (size_t k = 0; k < n; k++) {
      ssize_t rc;
      do rc = write(fd, ptrs[k], sizes[k]); while (rc < 0 && errno == EINTR);
      if (rc >= 0) written++;
      else if (would_block(errno)) return make_int(env, (int64_t)written); // the queue is full: the rest are dropped
      else if (first_error == 0) first_error = errno;
    }
    first += n;
  }
  if (written == 0 && first_error != 0) return throw_errno_after(env, first_error, "write", 0);
  return make_int(env, (int64_t)written);
}

// ---------------------------------------------------------------------------------------------
// readiness: uv_poll on the Node event loop, no thread per fd

// Owned twice: by the libuv handle (until its close callback) and by the JS external (until its
// finalizer), so neither a late pollStop nor a late libuv callback touches freed memory.
typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  bool closing;
  int owners;
  // Keeps environment teardown (worker exit) waiting until libuv has closed the handle: the
  // close callback is code in this addon, which Node unloads with the last environment using it.
  napi_async_cleanup_hook_handle teardown;
} poll_t;

static void poll_unown(poll_t *p) {
  if (--p->owners == 0) free(p);
}

static void poll_closed(uv_handle_t *handle) {
  poll_t *p = handle->data;
  if (p->teardown != NULL) napi_remove_async_cleanup_hook(p->teardown);
  p->teardown = NULL;
  poll_unown(p);
}

// Stops the poll and, unless the environment is being torn down (which frees them itself),
// releases its JS references; the memory goes when libuv has closed the handle.
static void poll_release(poll_t *p, bool env_teardown) {
  if (p->closing) return;
  p->closing = true;
  uv_poll_stop(&p->handle);
  if (!env_teardown) {
    if (p->callback != NULL) napi_delete_reference(p->env, p->callback);
    if (p->context != NULL) napi_async_destroy(p->env, p->context);
  }
  p->callback = NULL;
  p->context = NULL;
  uv_close((uv_handle_t *)&p->handle, poll_closed);
}

// The environment is going away (process exit, worker termination): close the poll if still on;
// teardown goes on once poll_closed has removed this hook.
static void poll_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  poll_release((poll_t *)arg, true);
}

static void poll_fired(uv_poll_t *handle, int status, int events) {
  poll_t *p = handle->data;
  if (p->closing) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2], result;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != NULL) {
    // napi_make_callback wants an object receiver and runs microtasks afterwards.
    napi_get_global(env, &recv);
    napi_create_int32(env, status, &argv[0]);
    napi_create_int32(env, events, &argv[1]);
    napi_make_callback(env, p->context, recv, cb, 2, argv, &result);
    // No JS frame is below a libuv callback: a throw goes to process 'uncaughtException'.
    bool pending = false;
    napi_value error;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &error) == napi_ok) {
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void poll_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  poll_unown(data);
}

// pollStart(fd, events, callback(status, events)) → handle. events: 1 readable, 2 writable
// (UV_READABLE/UV_WRITABLE). Level-triggered: the callback fires again on the next loop turn
// while the condition holds, so it must drain to EAGAIN or stop the poll.
static napi_value poll_start(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int fd;
  size_t events;
  napi_valuetype t;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 3.0, &events, "events")) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return throw_type(env, "callback must be a function");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "no event loop");
  poll_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, ENOMEM, "calloc");
  p->env = env;
  p->owners = 1;
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  p->handle.data = p;
  napi_value resource_name;
  napi_create_string_utf8(env, "netback.poll", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &p->context);
  napi_create_reference(env, argv[2], 1, &p->callback);
  napi_add_async_cleanup_hook(env, poll_env_cleanup, p, &p->teardown);
  rc = uv_poll_start(&p->handle, (int)events, poll_fired);
  if (rc < 0) {
    poll_release(p, false);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  napi_value external;
  p->owners = 2;
  if (napi_create_external(env, p, poll_finalize, NULL, &external) != napi_ok) {
    p->owners = 1;
    poll_release(p, false);
    return NULL;
  }
  return external;
}

// pollStop(handle): idempotent; after it the callback never fires again.
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  napi_valuetype t;
  void *data;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external) return throw_type(env, "not a poll handle");
  if (napi_get_value_external(env, argv[0], &data) != napi_ok) return NULL;
  poll_t *p = data;
  poll_release(p, false);
  return make_undefined(env);
}

// pollEvents(handle, events): 0 stops watching and keeps the handle (uv_poll_stop), other events
// start it again (uv_poll_start) with the same callback. A reader that holds its fd back while
// its consumer is full stops and starts many times a second: a new handle each time (pollStop,
// pollStart) costs an ioctl(FIONBIO) and an epoll_ctl ADD and DEL (libuv checks the fd is
// pollable) on top of the registration itself. Throws on a stopped (pollStop) handle.
static napi_value poll_events(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  napi_valuetype t;
  void *data;
  size_t events;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external) return throw_type(env, "not a poll handle");
  if (napi_get_value_external(env, argv[0], &data) != napi_ok) return NULL;
  if (!get_index(env, argv[1], 3.0, &events, "events")) return NULL;
  poll_t *p = data;
  if (p->closing) return throw_errno(env, EBADF, "uv_poll_start");
  int rc = events == 0 ? uv_poll_stop(&p->handle) : uv_poll_start(&p->handle, (int)events, poll_fired);
  if (rc < 0) return throw_errno(env, -rc, events == 0 ? "uv_poll_stop" : "uv_poll_start");
  return make_undefined(env);
}


// ---------------------------------------------------------------------------------------------
// Xen: /dev/xen/gntdev and /dev/xen/evtchn
//
// The structs and ioctl numbers are written out here (netif-protocol.md §3.2-3.3, cross-checked
// against linux include/uapi/xen/{gntdev,evtchn}.h) instead of including <xen/gntdev.h>: Debian's
// copy needs grant_ref_t/domid_t typedefs first and lacks GNTCOPY_*.
//
// Ring pages are mapped INSIDE the Wasm memory (design.md "Ring pages live inside Wasm memory"):
// mmap(MAP_SHARED|MAP_FIXED) of the gntdev range at base + address, where base is the memory's
// ArrayBuffer data pointer. Why this and not a copy per batch: the ring kernels read indices with
// atomics and write responses in place, and Xen's ring.h ordering (publish the producer index
// after the slots, re-check the event index after a full barrier) only holds if the frontend sees
// the same bytes as the kernels; a copy-in/copy-out per batch would have to re-implement those
// barriers around every copy and would race with the frontend writing req_event meanwhile. The
// mapping is sound because V8 reserves a Wasm memory's whole address range up front (guard
// regions on 64-bit), so the base never moves on memory.grow and the mapping stays in place; the
// TypeScript side checks that the base is unchanged before every use all the same. On unmap,
// anonymous zero pages go back over the range (MAP_FIXED|MAP_ANONYMOUS): a hole inside Wasm memory
// would crash the process on the next access instead of trapping.

#include <sys/mman.h>

#define XEN_PAGE 4096u

struct nb_gntdev_grant_ref { uint32_t domid; uint32_t ref; };
struct nb_gntdev_map_grant_ref { uint32_t count; uint32_t pad; uint64_t index; struct nb_gntdev_grant_ref refs[1]; };
struct nb_gntdev_unmap_grant_ref { uint64_t index; uint32_t count; uint32_t pad; };
struct nb_gntdev_set_max_grants { uint32_t count; };
struct nb_gntdev_grant_copy_segment {
  union { void *virt; struct { uint32_t ref; uint16_t offset; uint16_t domid; } foreign; } source, dest;
  uint16_t len;
  uint16_t flags;
  int16_t status;
};
struct nb_gntdev_grant_copy { uint32_t count; struct nb_gntdev_grant_copy_segment *segments; };
_Static_assert(sizeof(struct nb_gntdev_map_grant_ref) == 24, "gntdev map header 16 + one ref");
_Static_assert(sizeof(struct nb_gntdev_grant_copy_segment) == 24, "gntdev_grant_copy_segment is 24 bytes");
_Static_assert(sizeof(struct nb_gntdev_grant_copy) == 16, "ioctl_gntdev_grant_copy is 16 bytes");

#define NB_IOCTL_GNTDEV_MAP_GRANT_REF 0x00184700ul
#define NB_IOCTL_GNTDEV_UNMAP_GRANT_REF 0x00104701ul
#define NB_IOCTL_GNTDEV_SET_MAX_GRANTS 0x00044703ul
#define NB_IOCTL_GNTDEV_GRANT_COPY 0x00104708ul
#define NB_GNTCOPY_SOURCE_GREF 1
#define NB_GNTCOPY_DEST_GREF 2
#define NB_GNTST_GENERAL_ERROR (-1)
#define NB_GNTST_BAD_COPY_ARG (-10)

struct nb_evtchn_bind_interdomain { uint32_t remote_domain; uint32_t remote_port; };
struct nb_evtchn_port { uint32_t port; };
#define NB_IOCTL_EVTCHN_BIND_INTERDOMAIN 0x00084501ul
#define NB_IOCTL_EVTCHN_UNBIND 0x00044503ul
#define NB_IOCTL_EVTCHN_NOTIFY 0x00044504ul
#define NB_IOCTL_EVTCHN_RESET 0x00004505ul

// The 16-byte grant-copy op the kernels write (assembly/netif/defs.ts GNTOP_*); src/xen/real/
// grant-table.ts checks the module's exported constants against these before the first copy.
#define GNTOP_SIZE 16u
#define GNTOP_GREF 0u
#define GNTOP_GUEST_OFF 4u
#define GNTOP_LEN 6u
#define GNTOP_LOCAL 8u
#define GNTOP_STATUS 12u
#define GNTOP_FLAGS 14u
#define GNTOP_F_TO_GUEST 0x1u

static napi_value open_device(napi_env env, napi_callback_info info, const char *path, int extra) {
  (void)info;
  int fd = open(path, O_RDWR | O_CLOEXEC | extra);
  if (fd < 0) {
    char what[64];
    snprintf(what, sizeof what, "open %s", path);
    return throw_errno(env, errno, what);
  }
  return make_int(env, fd);
}

// gntdevOpen() → fd
static napi_value gntdev_open(napi_env env, napi_callback_info info) {
  return open_device(env, info, "/dev/xen/gntdev", 0);
}

// gntdevSetMaxGrants(fd, count): older kernels need it before mapping; newer ones answer ENOTTY.
static napi_value gntdev_set_max_grants(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int fd;
  size_t count;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 4294967295.0, &count, "count")) return NULL;
  struct nb_gntdev_set_max_grants arg = { .count = (uint32_t)count };
  if (ioctl(fd, NB_IOCTL_GNTDEV_SET_MAX_GRANTS, &arg) < 0) return throw_errno(env, errno, "ioctl IOCTL_GNTDEV_SET_MAX_GRANTS");
  return make_undefined(env);
}

// The page at memory[address, address+4096): page-aligned in the process, inside the buffer.
static bool get_page(napi_env env, napi_value memory, napi_value address, uint8_t **page) {
  uint8_t *data;
  size_t size, addr;
  if (!get_bytes(env, memory, &data, &size)) return false;
  if (!get_index(env, address, 9007199254740991.0, &addr, "address")) return false;
  if (!in_bounds(size, addr, XEN_PAGE) || ((uintptr_t)(data + addr) % XEN_PAGE) != 0) {
    char message[128];
    snprintf(message, sizeof message, "address %zu is not a whole page-aligned page inside the memory (%zu bytes)", addr, size);
    throw_range(env, message);
    return false;
  }
  *page = data + addr;
  return true;
}

// Puts private zero pages back where a grant was mapped.
static int restore_anonymous(uint8_t *page) {
  void *p = mmap(page, XEN_PAGE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? -1 : 0;
}

static void unmap_index(int fd, uint64_t index) {
  struct nb_gntdev_unmap_grant_ref u = { .index = index, .count = 1 };
  (void)ioctl(fd, NB_IOCTL_GNTDEV_UNMAP_GRANT_REF, &u);
}

// gntdevMapPage(fd, domid, gref, memory, address, writable) → index (the gntdev offset, for unmap).
// MAP_GRANT_REF, then mmap MAP_SHARED|MAP_FIXED at memory + address. On failure nothing stays
// mapped or reserved and the page holds zeros.
static napi_value gntdev_map_page(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  int fd;
  size_t domid, gref;
  bool writable;
  uint8_t *page;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 65535.0, &domid, "domid")) return NULL;
  if (!get_index(env, argv[2], 4294967295.0, &gref, "gref")) return NULL;
  if (!get_page(env, argv[3], argv[4], &page)) return NULL;
  if (napi_get_value_bool(env, argv[5], &writable) != napi_ok) return throw_type(env, "writable must be a boolean");
  struct nb_gntdev_map_grant_ref m;
  memset(&m, 0, sizeof m);
  m.count = 1;
  m.refs[0].domid = (uint32_t)domid;
  m.refs[0].ref = (uint32_t)gref;
  int rc;
  do rc = ioctl(fd, NB_IOCTL_GNTDEV_MAP_GRANT_REF, &m); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "ioctl IOCTL_GNTDEV_MAP_GRANT_REF");
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  // the map hypercall behind gntdev's mmap gives up with EINTR when a signal arrives (a profiler's
  // SIGPROF, SIGHUP, SIGCHLD): try again rather than fail the vif's connect
  void *p;
  do p = mmap(page, XEN_PAGE, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)m.index); while (p == MAP_FAILED && errno == EINTR);
  if (p == MAP_FAILED || p != (void *)page) {
    int err = p == MAP_FAILED ? errno : EFAULT;
    restore_anonymous(page);
    unmap_index(fd, m.index);
    return throw_errno(env, err, "mmap gntdev");
  }
  return make_int(env, (int64_t)m.index);
}

// gntdevUnmapPage(fd, index, memory, address): anonymous pages back over the range (which drops
// the gntdev mapping), then UNMAP_GRANT_REF releases the grant.
static napi_value gntdev_unmap_page(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  int fd;
  size_t index;
  uint8_t *page;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 9007199254740991.0, &index, "index")) return NULL;
  if (!get_page(env, argv[2], argv[3], &page)) return NULL;
  if (restore_anonymous(page) < 0) return throw_errno(env, errno, "mmap anonymous");
  struct nb_gntdev_unmap_grant_ref u = { .index = index, .count = 1 };
  int rc;
  do rc = ioctl(fd, NB_IOCTL_GNTDEV_UNMAP_GRANT_REF, &u); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "ioctl IOCTL_GNTDEV_UNMAP_GRANT_REF");
  return make_undefined(env);
}

static __thread struct nb_gntdev_grant_copy_segment *copy_segments;
static __thread uint32_t *copy_index; // op number of each submitted segment
static __thread size_t copy_capacity;

// gntdevGrantCopy(fd, memory, opsAddress, count, domid) → segments submitted.
// Reads `count` GNTOP entries at memory + opsAddress, turns each into a gntdev segment whose local
// side is memory + op.local, runs one IOCTL_GNTDEV_GRANT_COPY and writes every op's GNTST_* status
// back. Ops the hypervisor would reject as a whole-call EINVAL (foreign side crossing its page,
// length 0 or > 4096) or whose local side lies outside the memory get GNTST_bad_copy_arg here and
// are not submitted. If the ioctl itself fails, every op gets GNTST_general_error and it throws.
static napi_value gntdev_grant_copy(napi_env env, napi_callback_info info) {
  GET_ARGS(5);
  int fd;
  uint8_t *mem;
  size_t size, ops, count, domid;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_bytes(env, argv[1], &mem, &size)) return NULL;
  if (!get_index(env, argv[2], 4294967295.0, &ops, "opsAddress")) return NULL;
  if (!get_index(env, argv[3], 65536.0, &count, "count")) return NULL;
  if (!get_index(env, argv[4], 65535.0, &domid, "domid")) return NULL;
  if (!in_bounds(size, ops, count * GNTOP_SIZE)) return throw_range(env, "the op array exceeds the memory");
  if (count > copy_capacity) {
    struct nb_gntdev_grant_copy_segment *s = realloc(copy_segments, count * sizeof *s);
    if (s == NULL) return throw_errno(env, ENOMEM, "realloc");
    copy_segments = s;
    uint32_t *ix = realloc(copy_index, count * sizeof *ix);
    if (ix == NULL) return throw_errno(env, ENOMEM, "realloc");
    copy_index = ix;
    copy_capacity = count;
  }
  size_t n = 0;
  for (size_t i = 0; i < count; i++) {
    uint8_t *op = mem + ops + i * GNTOP_SIZE;
    uint32_t gref, local;
    uint16_t guest_off, len, flags;
    memcpy(&gref, op + GNTOP_GREF, 4);
    memcpy(&guest_off, op + GNTOP_GUEST_OFF, 2);
    memcpy(&len, op + GNTOP_LEN, 2);
    memcpy(&local, op + GNTOP_LOCAL, 4);
    memcpy(&flags, op + GNTOP_FLAGS, 2);
    if (len == 0 || len > XEN_PAGE || (uint32_t)guest_off + len > XEN_PAGE || !in_bounds(size, local, len)) {
      int16_t st = NB_GNTST_BAD_COPY_ARG;
      memcpy(op + GNTOP_STATUS, &st, 2);
      continue;
    }
    struct nb_gntdev_grant_copy_segment *seg = &copy_segments[n];
    memset(seg, 0, sizeof *seg);
    if (flags & GNTOP_F_TO_GUEST) {
      seg->source.virt = mem + local;
      seg->dest.foreign.ref = gref;
      seg->dest.foreign.offset = guest_off;
      seg->dest.foreign.domid = (uint16_t)domid;
      seg->flags = NB_GNTCOPY_DEST_GREF;
    } else {
      seg->source.foreign.ref = gref;
      seg->source.foreign.offset = guest_off;
      seg->source.foreign.domid = (uint16_t)domid;
      seg->dest.virt = mem + local;
      seg->flags = NB_GNTCOPY_SOURCE_GREF;
    }
    seg->len = len;
    copy_index[n++] = (uint32_t)i;
  }
  if (n == 0) return make_int(env, 0);
  struct nb_gntdev_grant_copy c = { .count = (uint32_t)n, .segments = copy_segments };
  int rc;
  do rc = ioctl(fd, NB_IOCTL_GNTDEV_GRANT_COPY, &c); while (rc < 0 && errno == EINTR);
  int err = errno;
  for (size_t k = 0; k < n; k++) {
    int16_t st = rc < 0 ? NB_GNTST_GENERAL_ERROR : copy_segments[k].status;
    memcpy(mem + ops + (size_t)copy_index[k] * GNTOP_SIZE + GNTOP_STATUS, &st, 2);
  }
  if (rc < 0) return throw_errno(env, err, "ioctl IOCTL_GNTDEV_GRANT_COPY");
  return make_int(env, (int64_t)n);
}

// evtchnOpen() → fd, nonblocking: readiness comes from pollStart.
static napi_value evtchn_open(napi_env env, napi_callback_info info) {
  return open_device(env, info, "/dev/xen/evtchn", O_NONBLOCK);
}

static napi_value evtchn_port_ioctl(napi_env env, napi_callback_info info, unsigned long request, const char *syscall) {
  GET_ARGS(2);
  int fd;
  size_t port;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 4294967295.0, &port, "port")) return NULL;
  struct nb_evtchn_port arg = { .port = (uint32_t)port };
  int rc;
  do rc = ioctl(fd, request, &arg); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, syscall);
  return make_undefined(env);
}

// evtchnBindInterdomain(fd, remoteDomid, remotePort) → local port
static napi_value evtchn_bind_interdomain(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int fd;
  size_t domid, port;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 65535.0, &domid, "remoteDomid")) return NULL;
  if (!get_index(env, argv[2], 4294967295.0, &port, "remotePort")) return NULL;
  struct nb_evtchn_bind_interdomain b = { .remote_domain = (uint32_t)domid, .remote_port = (uint32_t)port };
  int rc;
  do rc = ioctl(fd, NB_IOCTL_EVTCHN_BIND_INTERDOMAIN, &b); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "ioctl IOCTL_EVTCHN_BIND_INTERDOMAIN");
  return make_int(env, rc);
}

// evtchnUnbind(fd, port)
static napi_value evtchn_unbind(napi_env env, napi_callback_info info) {
  return evtchn_port_ioctl(env, info, NB_IOCTL_EVTCHN_UNBIND, "ioctl IOCTL_EVTCHN_UNBIND");
}

// evtchnNotify(fd, port)
static napi_value evtchn_notify(napi_env env, napi_callback_info info) {
  return evtchn_port_ioctl(env, info, NB_IOCTL_EVTCHN_NOTIFY, "ioctl IOCTL_EVTCHN_NOTIFY");
}

// evtchnReset(fd): clears the pending buffer after an overflow (read failing with EFBIG).
static napi_value evtchn_reset(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (ioctl(fd, NB_IOCTL_EVTCHN_RESET, 0) < 0) return throw_errno(env, errno, "ioctl IOCTL_EVTCHN_RESET");
  return make_undefined(env);
}

// evtchnReadPending(fd, ports: Uint32Array) → how many fired ports were read (0: none pending).
static napi_value evtchn_read_pending(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int fd;
  bool is;
  napi_typedarray_type type;
  size_t elements, byte_offset;
  napi_value ab;
  void *base;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &elements, &base, &ab, &byte_offset) != napi_ok ||
      type != napi_uint32_array) {
    return throw_type(env, "ports must be a Uint32Array");
  }
  if (elements == 0) return make_int(env, 0);
  ssize_t rc;
  do rc = read(fd, base, elements * 4); while (rc < 0 && errno == EINTR);
  if (rc < 0) return would_block(errno) ? make_int(env, 0) : throw_errno(env, errno, "read /dev/xen/evtchn");
  return make_int(env, rc / 4);
}

// evtchnUnmask(fd, port): the late EOI, writing the port number back.
static napi_value evtchn_unmask(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int fd;
  size_t port;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 4294967295.0, &port, "port")) return NULL;
  uint32_t p = (uint32_t)port;
  ssize_t rc;
  do rc = write(fd, &p, sizeof p); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "write /dev/xen/evtchn");
  return make_undefined(env);
}

// monotonicCoarseMs() → CLOCK_MONOTONIC_COARSE in milliseconds: the tick-resolution clock (as
// Linux netback's jiffies) the data path reads per frame. The vDSO serves it from memory on every
// clocksource; CLOCK_MONOTONIC and gettimeofday (performance.now, Date.now) fall back to a system
// call where the clocksource has no vDSO mode, as in a Xen PV dom0 (a trap through Xen each).
static napi_value monotonic_coarse_ms(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0) return throw_errno(env, errno, "clock_gettime");
  napi_value v;
  napi_create_double(env, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, &v);
  return v;
}

// bufferAddress(buffer) → the process address of its first byte (diagnostics, and the check that
// a Wasm memory's base did not move under a mapping).
static napi_value buffer_address(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint8_t *data;
  size_t size;
  if (!get_bytes(env, argv[0], &data, &size)) return NULL;
  return make_int(env, (int64_t)(uintptr_t)data);
}

// ---------------------------------------------------------------------------------------------
// Simulated Xen across threads: a guest's memory that a backend can map, as gntdev maps a frame

// memfdBackPages(pages) → fd. `pages` is a whole-page, page-aligned window of a SharedArrayBuffer
// (the simulated guests' RAM): a memfd of that size is mapped MAP_SHARED|MAP_FIXED over it, so the
// same frames can also be mapped into a Wasm memory (mapFdPage), as gntdev maps a granted frame.
// Call it before the window holds data: the memfd starts zeroed. The fd is O_CLOEXEC.
static napi_value memfd_back_pages(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint8_t *data;
  size_t size;
  if (!get_bytes(env, argv[0], &data, &size)) return NULL;
  if (size == 0 || size % XEN_PAGE != 0 || ((uintptr_t)data % XEN_PAGE) != 0) {
    return throw_range(env, "pages must be a non-empty, page-aligned window of whole pages");
  }
  int fd = memfd_create("wasm-netback-sim-guest", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "memfd_create");
  if (ftruncate(fd, (off_t)size) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ftruncate");
  }
  void *p = mmap(data, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "mmap memfd");
  }
  return make_int(env, fd);
}

// mapFdPage(fd, offset, memory, address, writable): the page at `offset` of the memfd, mapped
// MAP_SHARED|MAP_FIXED at memory + address (the simulated gntdev map). restorePage undoes it.
static napi_value map_fd_page(napi_env env, napi_callback_info info) {
  GET_ARGS(5);
  int fd;
  size_t offset;
  bool writable;
  uint8_t *page;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if (!get_index(env, argv[1], 9007199254740991.0, &offset, "offset")) return NULL;
  if (offset % XEN_PAGE != 0) return throw_range(env, "offset must be page-aligned");
  if (!get_page(env, argv[2], argv[3], &page)) return NULL;
  if (napi_get_value_bool(env, argv[4], &writable) != napi_ok) return throw_type(env, "writable must be a boolean");
  void *p = mmap(page, XEN_PAGE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
  if (p == MAP_FAILED) {
    int err = errno;
    restore_anonymous(page);
    return throw_errno(env, err, "mmap memfd page");
  }
  return make_undefined(env);
}

// restorePage(memory, address): private zero pages back over a page mapFdPage mapped.
static napi_value restore_page(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  uint8_t *page;
  if (!get_page(env, argv[0], argv[1], &page)) return NULL;
  if (restore_anonymous(page) < 0) return throw_errno(env, errno, "mmap anonymous");
  return make_undefined(env);
}

// ---------------------------------------------------------------------------------------------
// systemd: the readiness protocol

#define SD_NOTIFY_MAX_MESSAGE 4096

// sdNotify(path, message) → bytes sent. One datagram to systemd's notification socket (the
// NOTIFY_SOCKET variable), sent by this process so that systemd, which checks the sender's
// credentials, attributes it to the main PID (NotifyAccess=main); a systemd-notify child may be
// gone before systemd looks it up. A path starting with '@' names the abstract namespace.
// see: sd_notify(3), unix(7)
static napi_value sd_notify(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  struct sockaddr_un addr;
  char path[sizeof addr.sun_path + 1];
  char message[SD_NOTIFY_MAX_MESSAGE];
  size_t path_len, message_len;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_len) != napi_ok) return throw_type(env, "path must be a string");
  if (path_len == 0 || path_len > sizeof addr.sun_path) return throw_range(env, "path must be 1 to 108 bytes");
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len);
  // a filesystem path needs its NUL inside sun_path; an abstract name uses all of it after the NUL
  bool abstract = path[0] == '@';
  if (!abstract && path_len >= sizeof addr.sun_path) return throw_range(env, "a filesystem socket path must be at most 107 bytes");
  if (abstract && path_len < 2) return throw_range(env, "an abstract socket name needs a name after '@'");
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &message_len) != napi_ok) return throw_type(env, "message must be a string");
  if (message_len == 0 || message_len >= sizeof message) return throw_range(env, "message must be 1 to 4095 bytes");
  napi_get_value_string_utf8(env, argv[1], message, sizeof message, &message_len);

  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  socklen_t addr_len;
  if (abstract) {
    // sun_path[0] stays NUL; the name is exactly the bytes after it, no terminator
    memcpy(addr.sun_path + 1, path + 1, path_len - 1);
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  } else {
    memcpy(addr.sun_path, path, path_len);
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket AF_UNIX");
  ssize_t rc;
  do rc = sendto(fd, message, message_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len); while (rc < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (rc < 0) return throw_errno(env, err, "sendto NOTIFY_SOCKET");
  return make_int(env, rc);
}

// ---------------------------------------------------------------------------------------------
// module

static napi_value define_constants(napi_env env, napi_value exports) {
  static const struct { const char *name; int64_t value; } constants[] = {
    { "IFF_TAP", IFF_TAP }, { "IFF_NO_PI", IFF_NO_PI }, { "IFF_VNET_HDR", IFF_VNET_HDR },
    { "IFF_TUN_EXCL", IFF_TUN_EXCL }, { "IFF_MULTI_QUEUE", IFF_MULTI_QUEUE },
    { "IFF_ATTACH_QUEUE", IFF_ATTACH_QUEUE }, { "IFF_DETACH_QUEUE", IFF_DETACH_QUEUE },
    { "TUN_F_CSUM", TUN_F_CSUM }, { "TUN_F_TSO4", TUN_F_TSO4 }, { "TUN_F_TSO6", TUN_F_TSO6 },
    { "TUN_F_TSO_ECN", TUN_F_TSO_ECN }, { "IFF_UP", IFF_UP }, { "IFF_RUNNING", IFF_RUNNING },
    { "UV_READABLE", UV_READABLE }, { "UV_WRITABLE", UV_WRITABLE }, { "IFNAMSIZ", IFNAMSIZ },
  };
  napi_value obj, v;
  napi_create_object(env, &obj);
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    napi_create_int64(env, constants[i].value, &v);
    napi_set_named_property(env, obj, constants[i].name, v);
  }
  napi_set_named_property(env, exports, "constants", obj);
  return exports;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "tapOpen", NULL, tap_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapSetVnetHdrSize", NULL, tap_set_vnet_hdr_size, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapSetOffload", NULL, tap_set_offload, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapSetPersist", NULL, tap_set_persist, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapSetCarrier", NULL, tap_set_carrier, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapSetQueue", NULL, tap_set_queue, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ifSetMtu", NULL, if_set_mtu, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ifGetMtu", NULL, if_get_mtu, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ifGetFlags", NULL, if_get_flags, NULL, NULL, NULL, napi_enumerable, NULL },
    { "ifSetUp", NULL, if_set_up, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setNonblock", NULL, set_nonblock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readFrame", NULL, read_frame, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeFrame", NULL, write_frame, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readFrames", NULL, read_frames, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeFrames", NULL, write_frames, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapBatchMode", NULL, tap_batch_mode, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollStart", NULL, poll_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollStop", NULL, poll_stop, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollEvents", NULL, poll_events, NULL, NULL, NULL, napi_enumerable, NULL },
    { "gntdevOpen", NULL, gntdev_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "gntdevSetMaxGrants", NULL, gntdev_set_max_grants, NULL, NULL, NULL, napi_enumerable, NULL },
    { "gntdevMapPage", NULL, gntdev_map_page, NULL, NULL, NULL, napi_enumerable, NULL },
    { "gntdevUnmapPage", NULL, gntdev_unmap_page, NULL, NULL, NULL, napi_enumerable, NULL },
    { "gntdevGrantCopy", NULL, gntdev_grant_copy, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnOpen", NULL, evtchn_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnBindInterdomain", NULL, evtchn_bind_interdomain, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnUnbind", NULL, evtchn_unbind, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnNotify", NULL, evtchn_notify, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnReset", NULL, evtchn_reset, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnReadPending", NULL, evtchn_read_pending, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evtchnUnmask", NULL, evtchn_unmask, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bufferAddress", NULL, buffer_address, NULL, NULL, NULL, napi_enumerable, NULL },
    { "memfdBackPages", NULL, memfd_back_pages, NULL, NULL, NULL, napi_enumerable, NULL },
    { "mapFdPage", NULL, map_fd_page, NULL, NULL, NULL, napi_enumerable, NULL },
    { "restorePage", NULL, restore_page, NULL, NULL, NULL, napi_enumerable, NULL },
    { "monotonicCoarseMs", NULL, monotonic_coarse_ms, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sdNotify", NULL, sd_notify, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return define_constants(env, exports);
}
