import type { Logger } from './service/index.js';

/** Plain line logger on stderr; the server's own messages, not request logs. */
export function createLogger(prefix = 'crucible'): Logger {
  const line = (level: string, message: string) =>
    process.stderr.write(`${new Date().toISOString()} ${level} ${prefix}: ${message}\n`);
  return {
    info: (message) => line('INFO ', message),
    warn: (message) => line('WARN ', message),
    error: (message) => line('ERROR', message),
  };
}
