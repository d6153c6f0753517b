import { describe, expect, it } from 'vitest';
import { CrucibleError, CrucibleUnreachableError } from '../../src/client/index.js';
import type * as Errors from '../../src/client/errors.js';

describe('SDK errors', () => {
  it('instanceof holds across copies of the module (the bundled CLI next to the package’s files)', async () => {
    const secondCopy = '../../src/client/errors.js?second-copy';
    const copy = (await import(/* @vite-ignore */ secondCopy)) as typeof Errors;
    expect(copy.CrucibleError).not.toBe(CrucibleError);
    const apiError = new copy.CrucibleError(404, 'not_found', 'no such evaluation', null);
    const unreachable = new copy.CrucibleUnreachableError('http://x', 'ECONNREFUSED', new Error('refused'));
    expect(apiError).toBeInstanceOf(CrucibleError);
    expect(apiError).toBeInstanceOf(Error);
    expect(apiError).not.toBeInstanceOf(CrucibleUnreachableError);
    expect(unreachable).toBeInstanceOf(CrucibleUnreachableError);
    expect(unreachable).not.toBeInstanceOf(CrucibleError);
    expect(new Error('plain')).not.toBeInstanceOf(CrucibleError);
    expect(null).not.toBeInstanceOf(CrucibleError);
  });
});
