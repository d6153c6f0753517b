import { Command } from 'commander';
import { vi } from 'vitest';
import { registerKubeCommands } from '../../src/cli/commands/kube.js';

/** Runs `crucible kube <args>` in this process, as the CLI runs it, and answers what it printed. */
export async function kubeCli(args: readonly string[]): Promise<string> {
  const chunks: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    const program = new Command().exitOverride();
    registerKubeCommands(program);
    await program.parseAsync(['kube', ...args], { from: 'user' });
  } finally {
    write.mockRestore();
  }
  return chunks.join('');
}
