import type { Limits } from '../../src/core/index.js';
import { DEFAULT_LIMITS } from '../../src/core/index.js';
import type { Sandbox, SandboxExit } from '../../src/runtime/local/index.js';

export interface Collected {
  readonly exit: SandboxExit;
  readonly stdout: string;
  readonly stderr: string;
}

const SOURCE: Record<string, { argv: string[]; path: string }> = {
  python: { argv: ['python3', '-u', '/code/main.py'], path: '/code/main.py' },
  javascript: { argv: ['node', '/code/main.js'], path: '/code/main.js' },
  bash: { argv: ['bash', '/code/main.sh'], path: '/code/main.sh' },
};

/** Runs `code` to completion and collects its output. */
export async function run(
  sandbox: Sandbox,
  language: keyof typeof SOURCE,
  code: string,
  options: { stdin?: string; limits?: Partial<Limits> } = {},
): Promise<Collected> {
  const source = SOURCE[language]!;
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const handle = await sandbox.launch(
    {
      argv: source.argv,
      files: [{ path: source.path, content: code }],
      stdin: options.stdin ?? '',
      limits: { ...DEFAULT_LIMITS, timeoutSeconds: 10, ...options.limits },
    },
    (stream, data) => out[stream].push(data),
  );
  const exit = await handle.exited;
  return { exit, stdout: Buffer.concat(out.stdout).toString(), stderr: Buffer.concat(out.stderr).toString() };
}
