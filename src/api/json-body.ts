import { isUtf8 } from 'node:buffer';
import secureJson from 'secure-json-parse';
import { CrucibleError } from '../core/index.js';

/** Deeper bodies are rejected before parsing: a submission is at most three levels deep. */
export const MAX_JSON_DEPTH = 16;

/**
 * Parses a JSON request body strictly: valid UTF-8 only (Node would otherwise replace bad bytes silently),
 * bounded nesting, and `__proto__` / `constructor.prototype` keys refused rather than stripped.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) throw new CrucibleError('invalid_json', 'request body is not valid UTF-8', 'body');
  if (nestingDepth(body) > MAX_JSON_DEPTH) {
    throw new CrucibleError('invalid_json', `JSON is nested deeper than ${MAX_JSON_DEPTH} levels`, 'body');
  }
  try {
    return secureJson.parse(body.toString('utf8'), null, {
      protoAction: 'error',
      constructorAction: 'error',
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if (/prototype/i.test(detail)) {
      throw new CrucibleError(
        'invalid_json',
        'JSON keys "__proto__" and "constructor.prototype" are refused',
        'body',
      );
    }
    throw new CrucibleError('invalid_json', `malformed JSON: ${detail}`, 'body');
  }
}

/** Maximum nesting of objects and arrays, ignoring brackets inside strings. One pass, no recursion. */
function nestingDepth(body: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === 0x5c) i++;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) max = Math.max(max, ++depth);
    else if (byte === 0x7d || byte === 0x5d) depth--;
  }
  return max;
}
