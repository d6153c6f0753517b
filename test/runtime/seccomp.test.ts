import { describe, expect, it } from 'vitest';
import { DENIED_SYSCALLS_X86_64, buildSeccompFilter } from '../../src/runtime/local/seccomp.js';

describe('seccomp filter', () => {
  it('is one 8-byte instruction per denied syscall plus the arch, x32 and return instructions', () => {
    const filter = buildSeccompFilter('x64')!;
    expect(filter.length).toBe(8 * (Object.keys(DENIED_SYSCALLS_X86_64).length + 7));
    // Last instruction: return ERRNO(EPERM); the one before: ALLOW.
    expect(filter.readUInt32LE(filter.length - 4)).toBe(0x00050001);
    expect(filter.readUInt32LE(filter.length - 12)).toBe(0x7fff0000);
  });

  it('is not built for an architecture it was not written for', () => {
    expect(buildSeccompFilter('arm64')).toBeNull();
  });
});
