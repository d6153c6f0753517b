import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Where a program's executable lives on the host and where the sandbox sees it. */
export interface ResolvedProgram {
  readonly hostPath: string;
  readonly sandboxPath: string;
  /** Set when the executable lives outside /usr and must be bind-mounted on its own (Node from node_modules). */
  readonly extraBind: { readonly source: string; readonly dest: string } | null;
}

/**
 * Node is bind-mounted here as a single read-only file. The path must lie outside every host bind mount:
 * bwrap creates a missing bind target, and under the shared /usr it would create it on the host's /usr.
 */
export const SANDBOX_NODE_PATH = '/opt/crucible/bin/node';

const SEARCH_DIRS = ['/usr/bin', '/bin', '/usr/sbin'];
const cache = new Map<string, ResolvedProgram>();

/**
 * Resolves argv[0]. `node` is always the server's own binary (process.execPath, Node 24) so every host runs
 * the same version; other bare names are looked up in the read-only /usr that the sandbox shares. Cached:
 * the launch path must not stat the filesystem on every run.
 */
export function resolveProgram(name: string): ResolvedProgram {
  const cached = cache.get(name);
  if (cached) return cached;
  let resolved: ResolvedProgram;
  if (name === 'node') {
    resolved = {
      hostPath: process.execPath,
      sandboxPath: SANDBOX_NODE_PATH,
      extraBind: { source: process.execPath, dest: SANDBOX_NODE_PATH },
    };
  } else if (name.startsWith('/')) {
    resolved = { hostPath: name, sandboxPath: name, extraBind: null };
  } else {
    if (name.includes('/')) throw new Error(`program must be a bare name or an absolute path: ${name}`);
    const dir = SEARCH_DIRS.find((d) => existsSync(`${d}/${name}`));
    if (!dir) throw new Error(`interpreter not found on this host: ${name}`);
    const path = visibleInSandbox(`${dir}/${name}`);
    resolved = { hostPath: path, sandboxPath: path, extraBind: null };
  }
  cache.set(name, resolved);
  return resolved;
}

/**
 * A path the sandbox can follow. Debian's alternatives (`/usr/bin/java` → `/etc/alternatives/java` → the
 * JDK) lead through /etc, which the sandbox does not show: such a chain is replaced by its final target,
 * which lies under /usr again. Chains that stay in /usr are kept, so argv[0] is what it always was.
 */
function visibleInSandbox(path: string): string {
  let current = path;
  for (let hops = 0; hops < 16 && lstatSync(current).isSymbolicLink(); hops++) {
    const target = resolve(dirname(current), readlinkSync(current));
    if (!target.startsWith('/usr/')) return realpathSync(path);
    current = target;
  }
  return path;
}
