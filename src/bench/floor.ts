import { bareBwrapCommand } from '../runtime/local/bwrap.js';
import { timeProcess } from './processes.js';

/** `python3 -c 'print(1)'` on the host, no sandbox. */
export async function plainPythonOnce(): Promise<number> {
  const run = await timeProcess({ command: '/usr/bin/python3', args: ['-c', 'print(1)'] });
  return run.wallMs;
}

/**
 * The floor: `bwrap <the isolation flags of a run> python3 -c 'print(1)'`, spawned directly: the cost of the
 * sandboxed interpreter itself, without anything Crucible adds.
 */
export async function bareBwrapOnce(): Promise<number> {
  const bare = bareBwrapCommand(['python3', '-c', 'print(1)']);
  const run = await timeProcess({ command: bare.command, args: bare.args, inputs: bare.inputs });
  if (run.stdout !== '1\n') throw new Error(`bare bwrap printed ${JSON.stringify(run.stdout)}`);
  return run.wallMs;
}
