import { describe, expect, it } from 'vitest';
import { FrameDecoder, type DecodedOutput } from '../../src/runtime/kubernetes/frames.js';

const ts = (n: number): string => `2026-01-01T00:00:${String(n).padStart(2, '0')}.000000000Z`;
const frame = (n: number, tag: string, data: Buffer | string): string =>
  `${ts(n)} ${tag} ${n} ${Buffer.from(data).toString('base64')}\n`;

function decode(chunks: string[]): { out: DecodedOutput[]; decoder: FrameDecoder } {
  const out: DecodedOutput[] = [];
  const decoder = new FrameDecoder((o) => out.push(o));
  for (const c of chunks) decoder.push(Buffer.from(c));
  return { out, decoder };
}

describe('runner frames', () => {
  it('keeps arbitrary bytes, partial lines and stream order exact', () => {
    const binary = Buffer.from([0, 10, 13, 255, 254, 10]);
    const log =
      frame(1, 'o', 'no newline') + frame(2, 'e', binary) + frame(3, 'o', ' tail') + `${ts(4)} x 4 3 - 0\n`;
    // Split at every byte boundary as a network could.
    const { out, decoder } = decode(log.split(''));
    expect(out.map((o) => [o.stream, o.data.toString('hex')])).toEqual([
      ['stdout', Buffer.from('no newline').toString('hex')],
      ['stderr', binary.toString('hex')],
      ['stdout', Buffer.from(' tail').toString('hex')],
    ]);
    expect(decoder.exit).toEqual({ exitCode: 3, signal: null, timedOut: false });
    expect(decoder.incomplete).toBe(false);
  });

  it('drops what a re-read repeats and flags a gap', () => {
    const out: DecodedOutput[] = [];
    const decoder = new FrameDecoder((o) => out.push(o));
    decoder.push(Buffer.from(frame(1, 'o', 'a') + frame(2, 'o', 'b').slice(0, 20)));
    decoder.resetConnection();
    decoder.push(Buffer.from(frame(1, 'o', 'a') + frame(2, 'o', 'b') + frame(3, 'e', 'c')));
    expect(Buffer.concat(out.map((o) => o.data)).toString()).toBe('abc');
    decoder.push(Buffer.from(frame(5, 'o', 'e')));
    expect(decoder.incomplete).toBe(true);
  });

  it('keeps lines that are not frames as stderr, once', () => {
    const line = `${ts(1)} exec /crucible/bin/crucible-runner: no such file or directory\n`;
    const { out } = decode([line, line]);
    expect(out).toHaveLength(1);
    expect(out[0]!.stream).toBe('stderr');
  });
});
