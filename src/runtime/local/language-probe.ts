import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  LANGUAGES,
  findLanguage,
  installCommand,
  languageInfo,
  versionLine,
  type LanguageCatalogue,
  type LanguageInfo,
  type LanguageSpec,
} from '../../core/index.js';

const run = promisify(execFile);

/** True when every host path the language needs exists (cheap: a stat per path). */
export function isInstalled(spec: LanguageSpec): boolean {
  return spec.requires.every((path) => existsSync(path));
}

async function probeVersion(spec: LanguageSpec): Promise<string | null> {
  const [name, ...args] = spec.versionCommand;
  if (name === undefined) return null;
  // `node` is the server's own Node 24, which is what the sandbox runs.
  const command = name === 'node' ? process.execPath : name;
  try {
    const { stdout, stderr } = await run(command, args, { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } });
    return versionLine(stdout, stderr);
  } catch {
    return null;
  }
}

/**
 * The languages this host can run. Versions are probed once per language, on the first listing (the
 * server lists once at start-up); a language installed later (`crucible languages install`) is found by
 * the next submission or listing without a restart, since "installed" is a stat of its `requires`.
 */
export function hostLanguageCatalogue(): LanguageCatalogue {
  const versions = new Map<string, Promise<string | null>>();
  const versionOf = (spec: LanguageSpec): Promise<string | null> => {
    let version = versions.get(spec.id);
    if (!version) {
      version = probeVersion(spec);
      versions.set(spec.id, version);
    }
    return version;
  };
  return {
    async list(): Promise<LanguageInfo[]> {
      return Promise.all(
        LANGUAGES.map(async (spec) => {
          const installed = isInstalled(spec);
          // A language probed while it was missing is probed again once it is there.
          if (installed && (await versions.get(spec.id)) === null) versions.delete(spec.id);
          return languageInfo(spec, installed ? await versionOf(spec) : null, installed);
        }),
      );
    },
    missing(id: string): string | null {
      const spec = findLanguage(id);
      if (!spec) return null;
      if (isInstalled(spec)) return null;
      return `${spec.displayName} is not installed on this host: run \`${installCommand([id])}\` (as root, it uses apt-get)`;
    },
  };
}
