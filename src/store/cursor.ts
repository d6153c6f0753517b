import { CrucibleError } from '../core/index.js';

/**
 * List cursors are the `row_order` of the last item served, base64url-encoded so clients treat them as opaque
 * (and so a later adapter may put something else inside without an API change).
 */
export function encodeCursor(rowOrder: number): string {
  return Buffer.from(String(rowOrder), 'utf8').toString('base64url');
}

/** @throws CrucibleError `invalid_request` on anything this adapter did not produce. */
export function decodeCursor(cursor: string): number {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const rowOrder = /^[1-9][0-9]{0,15}$/.test(decoded) ? Number(decoded) : NaN;
  if (!Number.isSafeInteger(rowOrder)) {
    throw new CrucibleError(
      'invalid_request',
      'cursor is not valid; pass the nextCursor of a previous page',
      'cursor',
    );
  }
  return rowOrder;
}
