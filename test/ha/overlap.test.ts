import { describe, expect, it } from 'vitest';
import { maxOverlap } from './overlap.js';

describe('maxOverlap', () => {
  it('counts intervals open at the same instant', () => {
    expect(maxOverlap([])).toBe(0);
    expect(
      maxOverlap([
        { start: 0, end: 10 },
        { start: 5, end: 15 },
        { start: 6, end: 7 },
      ]),
    ).toBe(3);
  });

  it('does not count an interval that ends as another starts', () => {
    expect(
      maxOverlap([
        { start: 0, end: 5 },
        { start: 5, end: 9 },
      ]),
    ).toBe(1);
  });
});
