import { constants } from 'node:os';

const NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name] as [number, string]),
);

export function signalName(signal: number): string | null {
  return NAMES.get(signal) ?? null;
}

/**
 * bwrap (and runsc) run the program under an init that reports a death by signal N as exit code 128+N, the
 * shell convention. We map it back so `kill -9 $$` reads as SIGKILL. A program that literally calls
 * `exit(137)` is indistinguishable and reads as SIGKILL too, as it would in any shell.
 */
export function translateWrappedExit(
  exitCode: number | null,
  signal: NodeJS.Signals | null,
): { exitCode: number | null; signal: string | null } {
  if (signal !== null) return { exitCode: null, signal };
  if (exitCode !== null && exitCode > 128 && exitCode <= 128 + 64) {
    const name = signalName(exitCode - 128);
    if (name) return { exitCode: null, signal: name };
  }
  return { exitCode, signal: null };
}
