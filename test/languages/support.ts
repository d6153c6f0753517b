import { LANGUAGE_IDS } from '../../src/core/index.js';
import { installLanguages } from '../../src/runtime/local/install-languages.js';

/**
 * Installs every language of the table on this host before a suite runs them (the same code as `crucible
 * languages install --all`): `npm test` passes on a fresh machine after `npm install`. Installed languages
 * cost a stat each.
 */
export async function ensureAllLanguages(): Promise<void> {
  await installLanguages([...LANGUAGE_IDS], (message) => process.stderr.write(`${message}\n`));
}

/** apt-get on a fresh machine takes minutes. */
export const INSTALL_TIMEOUT_MS = 15 * 60 * 1000;
