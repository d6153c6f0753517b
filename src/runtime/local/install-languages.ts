import { LANGUAGES, findLanguage, packagesOf, type LanguageSpec } from '../../core/index.js';
import { isInstalled } from './language-probe.js';

interface AptInstaller {
  installDebianPackages(
    packages: readonly string[],
    options: { log: (message: string) => void; quiet?: boolean },
  ): boolean;
}

/**
 * scripts/apt-install.mjs, the set-up's own installer: three directories above this file both in src/ (tsx,
 * tests) and in dist/ (the CLI), so one function installs packages on `npm install` and here.
 */
async function aptInstaller(): Promise<AptInstaller> {
  const url = new URL('../../../scripts/apt-install.mjs', import.meta.url);
  return (await import(url.href)) as AptInstaller;
}

export interface InstallReport {
  /** Languages that were missing and are installed now. */
  readonly installed: string[];
  /** Languages that were installed already (nothing done). */
  readonly present: string[];
  /** Debian packages given to apt-get (empty when nothing was missing). */
  readonly packages: string[];
}

/**
 * Installs what the given languages need on this host with apt-get (`crucible languages install`, and tests
 * before they run a language). Languages already installed cost a stat each. Throws naming the unknown id,
 * or when apt-get could not install them.
 */
export async function installLanguages(
  ids: readonly string[] | 'all',
  log: (message: string) => void,
): Promise<InstallReport> {
  const specs: LanguageSpec[] =
    ids === 'all'
      ? [...LANGUAGES]
      : ids.map((id) => {
          const spec = findLanguage(id);
          if (!spec) {
            const known = LANGUAGES.map((l) => l.id).join(', ');
            throw new Error(`unknown language "${id}"; languages: ${known}`);
          }
          return spec;
        });
  const missing = specs.filter((s) => !isInstalled(s));
  const present = specs.filter((s) => isInstalled(s)).map((s) => s.id);
  const packages = packagesOf(missing);
  if (missing.length === 0) return { installed: [], present, packages: [] };
  const apt = await aptInstaller();
  if (!apt.installDebianPackages(packages, { log })) {
    throw new Error(`cannot install ${packages.join(' ')} here: run apt-get as root`);
  }
  const still = missing.filter((s) => !isInstalled(s)).map((s) => s.id);
  if (still.length > 0) throw new Error(`apt-get finished but ${still.join(', ')} is still missing`);
  return { installed: missing.map((s) => s.id), present, packages };
}
