import { describe, expect, it } from 'vitest';
import { ExecCapture } from '../../src/service/sandboxes-exec.js';
import type { ExecExit, SandboxStore } from '../../src/store/store.js';

const EXIT: ExecExit = {
  exitCode: 0,
  signal: null,
  timedOut: false,
  oomKilled: false,
  truncated: false,
  durationMs: 1,
  cpuMs: 0,
  peakMemoryBytes: 0,
};

/** A store whose exit write is held until released, to see who waits for it. */
function heldStore() {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const stored: string[] = [];
  const store = {
    appendExecLogs: async (chunks: readonly { seq: number }[]) => {
      stored.push(...chunks.map((c) => `chunk ${c.seq}`));
    },
    finishExec: async () => {
      await held;
      stored.push('exit');
    },
  } as unknown as SandboxStore;
  return { store, stored, release };
}

describe('ExecCapture', () => {
  it('answers followers with the exit before it is stored; done waits for the store', async () => {
    const { store, stored, release } = heldStore();
    const capture = new ExecCapture('e1', 's1', store);
    capture.push('stdout', Buffer.from('hi'));
    const finishing = capture.finish({ exit: EXIT, status: 'finished' }, 't');
    const events = [];
    for await (const event of capture.follow(0)) events.push(event);
    expect(events).toEqual([
      { seq: 1, stream: 'stdout', data: Buffer.from('hi') },
      { exit: EXIT, status: 'finished' },
    ]);
    expect(stored).toEqual(['chunk 1']);
    let done = false;
    void capture.done.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    release();
    await finishing;
    expect(await capture.done).toEqual({ exit: EXIT, status: 'finished' });
    expect(stored).toEqual(['chunk 1', 'exit']);
  });
});
