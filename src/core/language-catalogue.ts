import { installCommand, type LanguageSpec } from './languages.js';

/** One language as `GET /v1/languages` shows it. */
export interface LanguageInfo {
  readonly id: string;
  readonly displayName: string;
  /** As found on the host (probed once) or configured per image; null when not installed. */
  readonly version: string | null;
  readonly compiled: boolean;
  readonly extensions: readonly string[];
  readonly fileName: string;
  readonly installed: boolean;
  /** The command that installs it here; null when it is installed. */
  readonly install: string | null;
}

/** Which languages a runtime can run, and their versions. */
export interface LanguageCatalogue {
  /** Every language of the table, installed or not. */
  list(): Promise<LanguageInfo[]>;
  /** Null when the language can run here, else what to do about it (the install command). */
  missing(id: string): string | null;
  /** False when the runtime cannot run `files` and `tests` yet (the Kubernetes backend); absent: it can. */
  readonly grading?: boolean;
}

export function languageInfo(spec: LanguageSpec, version: string | null, installed: boolean): LanguageInfo {
  return {
    id: spec.id,
    displayName: spec.displayName,
    version: installed ? version : null,
    compiled: spec.compile !== undefined,
    extensions: spec.extensions,
    fileName: spec.fileName,
    installed,
    install: installed ? null : installCommand([spec.id]),
  };
}

/** The first non-empty line of what a version command printed, e.g. `Python 3.11.2`. */
export function versionLine(stdout: string, stderr: string): string | null {
  const line = `${stdout}\n${stderr}`.split('\n').find((l) => l.trim() !== '');
  return line?.trim() ?? null;
}
