import type { LanguageInfo } from '../../client/index.js';
import { table } from '../../format/table.js';
import { UsageError, type CommandSpec } from '../parser.js';
import { clientOf } from './client-of.js';

/** One row per language: id, version (or how to install it), compiled, extensions. */
export function languagesTable(items: readonly LanguageInfo[]): string {
  const rows = items.map((l) => [
    l.id,
    l.installed ? (l.version ?? '(version unknown)') : `not installed: ${l.install ?? ''}`,
    l.compiled ? 'compiled' : 'interpreted',
    l.extensions.join(' '),
  ]);
  return table([['LANGUAGE', 'VERSION', 'KIND', 'EXTENSIONS'], ...rows]);
}

/**
 * `crucible languages`: the server's languages (`GET /v1/languages`, through the SDK);
 * `crucible languages install ID…|--all`: installs them on this host with apt-get, as `npm install` does.
 */
export const languagesCommand: CommandSpec = {
  name: 'languages',
  description:
    'the languages the server runs, with versions; `languages install ID…|--all` installs them here',
  args: [
    { name: 'install', description: 'install the languages named next on this host', optional: true },
    { name: 'id…', description: 'language ids (see `crucible languages`)', optional: true, variadic: true },
  ],
  options: [
    { flags: '--all', description: 'with install: every language of the table' },
    { flags: '--json', description: 'print the answer as JSON' },
  ],
  helpAfter:
    '\nInstalling needs root (or sudo) and apt-get; the server finds a language installed later without a\n' +
    'restart. Examples:\n  crucible languages\n  crucible languages install c cpp rust\n  crucible languages install --all\n',
  run: async (args, flags) => {
    const [action, ...ids] = args;
    if (action === undefined) {
      const { items } = await clientOf(flags).languages();
      process.stdout.write(
        flags.json ? `${JSON.stringify({ items }, null, 2)}\n` : `${languagesTable(items)}\n`,
      );
      return;
    }
    if (action !== 'install') throw new UsageError(`error: unknown action '${action}' (install)`);
    if (ids.length === 0 && !flags.all)
      throw new UsageError('error: name the languages to install, or --all');
    const { installLanguages } = await import('../../runtime/local/install-languages.js');
    const report = await installLanguages(flags.all ? 'all' : ids, (message) =>
      process.stderr.write(`crucible: ${message}\n`),
    );
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const done =
      report.installed.length > 0 ? `installed ${report.installed.join(', ')}` : 'nothing to install';
    const present = report.present.length > 0 ? `; already installed: ${report.present.join(', ')}` : '';
    process.stdout.write(`${done}${present}\n`);
  },
};
