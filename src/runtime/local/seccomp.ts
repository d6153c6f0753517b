/**
 * A seccomp filter for bwrap (`--seccomp FD`): classic BPF that refuses, with EPERM, the host-kernel
 * syscalls an evaluation never needs and that have been the usual way out of unprivileged sandboxes
 * (io_uring, keyrings, eBPF, perf, userfaultfd, ptrace, namespaces, mounts, modules, clocks). Everything
 * else is allowed: programs keep working, and the rest of the attack surface is the kernel's own
 * unprivileged surface. gVisor goes further by not exposing the host kernel at all.
 *
 * Built by hand because it is a few dozen instructions and libseccomp is a native dependency; the layout is
 * `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }`, little-endian.
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const RET_KILL_PROCESS = 0x80000000;

/** x86_64 syscall numbers refused with EPERM. */
export const DENIED_SYSCALLS_X86_64: Readonly<Record<string, number>> = {
  ptrace: 101,
  syslog: 103,
  pivot_root: 155,
  adjtimex: 159,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  fanotify_init: 300,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};

function instruction(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b.writeUInt8(jt, 2);
  b.writeUInt8(jf, 3);
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}

/** The compiled filter, or null on an architecture it was not written for (bwrap then runs without one). */
export function buildSeccompFilter(arch: string = process.arch): Buffer | null {
  if (arch !== 'x64') return null;
  const denied = Object.values(DENIED_SYSCALLS_X86_64);
  const program = [
    // A foreign ABI (i386 through int 0x80) would use other numbers: kill rather than misjudge.
    instruction(LD_W_ABS, 0, 0, 4),
    instruction(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
    instruction(RET_K, 0, 0, RET_KILL_PROCESS),
    instruction(LD_W_ABS, 0, 0, 0),
    // The x32 ABI reaches the same kernel code with the 0x40000000 bit set: refuse it all.
    instruction(JGE_K, denied.length + 1, 0, X32_SYSCALL_BIT),
    // One test per denied syscall: on a match jump to the EPERM return, placed after the ALLOW.
    ...denied.map((nr, i) => instruction(JEQ_K, denied.length - i, 0, nr)),
    instruction(RET_K, 0, 0, RET_ALLOW),
    instruction(RET_K, 0, 0, RET_ERRNO | EPERM),
  ];
  return Buffer.concat(program);
}

export const SECCOMP_FILTER = buildSeccompFilter();
