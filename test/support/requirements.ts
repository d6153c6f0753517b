import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';

export type Need = 'bwrap' | 'gvisor';

function onPath(binary: string): boolean {
  return (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((dir) => {
    try {
      accessSync(path.join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Why the real sandbox cannot run on this machine, or null when it can. The local runtime writes cgroup v1
 * limits and drops to uid 65534 with setpriv, which needs root; bwrap (and runsc for gVisor) must be installed.
 */
export function missingFor(need: Need): string | null {
  if (process.getuid?.() !== 0) return 'needs root (cgroup v1 limits, setpriv to uid 65534)';
  if (!existsSync('/sys/fs/cgroup/memory') || !existsSync('/sys/fs/cgroup/pids')) {
    return 'needs cgroup v1 memory and pids controllers under /sys/fs/cgroup';
  }
  for (const binary of ['bwrap', 'setpriv', ...(need === 'gvisor' ? ['runsc'] : [])]) {
    if (!onPath(binary)) return `needs ${binary} (npm install sets it up with apt-get)`;
  }
  return null;
}

/**
 * `describe` for tests that need the real sandbox: skipped with the reason in the title where it cannot run,
 * but a failure under CI, which runs as root on a machine `npm install` set up and must run them all.
 */
export function describeSandboxed(title: string, body: () => void, need: Need = 'bwrap'): void {
  const missing = missingFor(need);
  if (missing && process.env['CI']) throw new Error(`${title}: ${missing}, and CI must run it`);
  if (missing) describe.skip(`${title} (skipped: ${missing})`, body);
  else describe(title, body);
}
