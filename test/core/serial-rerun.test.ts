import { describe, expect, it } from 'vitest';
import { SerialRerun } from '../../src/core/index.js';

describe('SerialRerun', () => {
  it('runs one pass at a time; requests during a pass cost exactly one more pass', async () => {
    let passes = 0;
    let inPass = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const rerun = new SerialRerun(
      async () => {
        inPass += 1;
        expect(inPass).toBe(1);
        passes += 1;
        if (passes === 1) {
          started();
          await gate;
        }
        inPass -= 1;
      },
      (error) => {
        throw error;
      },
    );
    rerun.request();
    await firstStarted;
    rerun.request();
    rerun.request();
    rerun.request();
    release();
    await rerun.idle();
    expect(passes).toBe(2);
  });

  it('reports a failed pass and serves the next request', async () => {
    const errors: unknown[] = [];
    let passes = 0;
    const rerun = new SerialRerun(
      async () => {
        passes += 1;
        if (passes === 1) throw new Error('store down');
      },
      (error) => errors.push(error),
    );
    rerun.request();
    await rerun.idle();
    rerun.request();
    await rerun.idle();
    expect(passes).toBe(2);
    expect(errors).toHaveLength(1);
  });

  it('drop forgets requests made during a pass', async () => {
    let passes = 0;
    const rerun = new SerialRerun(
      async () => {
        passes += 1;
        rerun.request();
        rerun.drop();
      },
      () => undefined,
    );
    rerun.request();
    await rerun.idle();
    expect(passes).toBe(1);
  });
});
