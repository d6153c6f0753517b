/**
 * How code and stdin reach the pod without exceeding API object limits.
 *
 * A ConfigMap holds at most 1 MiB and any object at most ~1.5 MiB in etcd, while code may be 512 KiB and stdin
 * 1 MiB. So each file is cut into chunks (at UTF-8 character boundaries, so every chunk is a valid string)
 * and the chunks are packed into as few ConfigMaps as fit under `CONFIGMAP_BUDGET_BYTES`. Each ConfigMap is
 * mounted at `/crucible/payload/<index>`; the runner in the pod concatenates `<file>.<nnn>` keys in order.
 */

export const CONFIGMAP_BUDGET_BYTES = 768 * 1024;
export const PAYLOAD_MOUNT = '/crucible/payload';

export interface PayloadFile {
  readonly name: string;
  readonly content: string;
}

/** One ConfigMap's worth of chunks, `key → value`. */
export type PayloadPart = Readonly<Record<string, string>>;

export function chunkKey(fileName: string, index: number): string {
  return `${fileName}.${String(index).padStart(3, '0')}`;
}

/** Splits `content` into strings of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function splitUtf8(content: string, maxBytes: number): string[] {
  const chunks: string[] = [];
  let current = '';
  let bytes = 0;
  for (const char of content) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes && current) {
      chunks.push(current);
      current = '';
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  chunks.push(current);
  return chunks;
}

/** Packs the files into ConfigMap data maps, each within the budget. Pure. */
export function packPayload(files: readonly PayloadFile[], budget = CONFIGMAP_BUDGET_BYTES): PayloadPart[] {
  const parts: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let used = 0;
  for (const file of files) {
    const chunks =
      Buffer.byteLength(file.content, 'utf8') <= budget ? [file.content] : splitUtf8(file.content, budget);
    chunks.forEach((chunk, index) => {
      const key = chunkKey(file.name, index);
      const size = Buffer.byteLength(chunk, 'utf8') + key.length;
      if (used + size > budget && Object.keys(current).length > 0) {
        parts.push(current);
        current = {};
        used = 0;
      }
      current[key] = chunk;
      used += size;
    });
  }
  parts.push(current);
  return parts;
}
