/**
 * A `Retry-After` header as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent
 * or unreadable. Pure, and imported on its own (not through `core/index`) by the SDK's fast path.
 */
export function retryAfterMs(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : null;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}
