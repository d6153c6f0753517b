import {
  CrucibleError,
  LANGUAGES,
  fileNameProblem,
  languageInfo,
  type LanguageCatalogue,
  type LanguageInfo,
  type LanguageSpec,
  type Submission,
} from '../core/index.js';

/**
 * What the schema cannot check alone: the language is installed where it would run (400
 * `language_not_installed` naming `crucible languages install ID`), and no extra file takes the entry
 * file's name (that depends on the language).
 */
export function checkRunnable(
  submission: Submission,
  language: LanguageSpec,
  catalogue: LanguageCatalogue | undefined,
): void {
  const missing = catalogue?.missing(language.id) ?? null;
  if (missing !== null) throw new CrucibleError('language_not_installed', missing, 'language');
  if (catalogue?.grading === false) {
    const field = submission.tests?.length ? 'tests' : submission.files?.length ? 'files' : null;
    if (field) {
      throw new CrucibleError(
        'invalid_request',
        `${field}: this server's backend runs one file without tests`,
        field,
      );
    }
  }
  (submission.files ?? []).forEach((file, i) => {
    const problem = fileNameProblem(file.name, language.fileName);
    if (problem) {
      throw new CrucibleError('invalid_request', `files.${i}.name: ${problem}`, `files.${i}.name`);
    }
  });
}

/** `GET /v1/languages`: the runtime's catalogue, or the table with versions unknown. */
export async function listLanguages(catalogue: LanguageCatalogue | undefined): Promise<LanguageInfo[]> {
  if (catalogue) return catalogue.list();
  return LANGUAGES.map((spec) => languageInfo(spec, null, true));
}
