import type { LogLine } from './types.js';

/** The bytes of one log line, whether it came as text (`data`) or as `base64`. */
export function decodeLogLine(line: LogLine): Buffer {
  return line.base64 !== undefined
    ? Buffer.from(line.base64, 'base64')
    : Buffer.from(line.data ?? '', 'utf8');
}
