import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { probeCgroups } from './cgroups.js';
import type { Isolation } from './sandbox-types.js';

export interface HostFacts {
  readonly root: boolean;
  /** Why run cgroups cannot be used, or null when they can. */
  readonly cgroupProblem: string | null;
}

const REQUIRED: Record<Isolation, readonly { readonly path: string; readonly install: string }[]> = {
  bwrap: [
    { path: '/usr/bin/bwrap', install: 'bwrap not found: apt-get install bubblewrap' },
    { path: '/usr/bin/setpriv', install: 'setpriv not found: apt-get install util-linux' },
    { path: '/usr/bin/prlimit', install: 'prlimit not found: apt-get install util-linux' },
  ],
  gvisor: [
    {
      path: '/usr/bin/runsc',
      install: 'runsc not found: install gVisor (https://gvisor.dev/docs/user_guide/install/)',
    },
  ],
  none: [
    { path: '/usr/bin/setpriv', install: 'setpriv not found: apt-get install util-linux' },
    { path: '/usr/bin/prlimit', install: 'prlimit not found: apt-get install util-linux' },
  ],
};

/** Checks once, at startup, what the host offers; throws naming the missing package when it cannot work. */
export async function probeHost(isolation: Isolation): Promise<HostFacts> {
  for (const need of REQUIRED[isolation]) {
    try {
      await access(need.path, constants.X_OK);
    } catch {
      throw new Error(need.install);
    }
  }
  const root = process.getuid?.() === 0;
  // Dropping to uid 65534 (setpriv) and runsc both need root; there is no safe unprivileged variant.
  if (!root) throw new Error(`the ${isolation} sandbox must run as root to drop each run to uid 65534`);
  return { root, cgroupProblem: await probeCgroups() };
}
