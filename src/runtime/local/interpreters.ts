import { existsSync } from 'node:fs';

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
    resolved = { hostPath: `${dir}/${name}`, sandboxPath: `${dir}/${name}`, extraBind: null };
  }
  cache.set(name, resolved);
  return resolved;
}
