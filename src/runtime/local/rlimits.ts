import type { Limits } from '../../core/index.js';

/**
 * prlimit prefix used when cgroups are unavailable: RLIMIT_AS stands in for the memory limit (it counts
 * virtual memory, so runtimes that reserve large address spaces, like Node, may need more), and RLIMIT_NPROC
 * for the process limit (it counts all processes of uid 65534 on the host, so concurrent runs share it).
 */
export function prlimitPrefix(limits: Limits, withMemory: boolean): string[] {
  const prefix = ['/usr/bin/prlimit', `--nproc=${limits.maxProcesses}`, '--core=0'];
  if (withMemory) prefix.push(`--as=${limits.memoryMb * 1024 * 1024}`);
  prefix.push('--');
  return prefix;
}

/** Drops to the unprivileged host user 65534 with no groups and no capabilities, before the sandbox starts. */
export const SETPRIV_NOBODY = [
  '/usr/bin/setpriv',
  '--reuid=65534',
  '--regid=65534',
  '--clear-groups',
  '--inh-caps=-all',
  '--bounding-set=-all',
  '--no-new-privs',
] as const;
