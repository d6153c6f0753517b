/**
 * The one table of supported languages. Adding a language is adding an entry here (and, for Kubernetes, an
 * image in the config). `interpreter` is looked up on the host by the local runtime; `args` receives the path
 * of the source file inside the sandbox.
 */
export interface LanguageSpec {
  readonly id: string;
  readonly displayName: string;
  readonly fileName: string;
  readonly extensions: readonly string[];
  readonly interpreter: string;
  readonly args: (sourcePath: string) => readonly string[];
  /** Default container image for the Kubernetes runtime. */
  readonly image: string;
}

export const LANGUAGES = [
  {
    id: 'python',
    displayName: 'Python 3',
    fileName: 'main.py',
    extensions: ['.py'],
    interpreter: 'python3',
    // -u: unbuffered, so output reaches live log followers as it is written.
    args: (sourcePath) => ['-u', sourcePath],
    image: 'python:3.12-slim',
  },
  {
    id: 'javascript',
    displayName: 'JavaScript (Node.js)',
    fileName: 'main.js',
    extensions: ['.js', '.mjs', '.cjs'],
    interpreter: 'node',
    args: (sourcePath) => [sourcePath],
    image: 'node:24-slim',
  },
  {
    id: 'bash',
    displayName: 'Bash',
    fileName: 'main.sh',
    extensions: ['.sh', '.bash'],
    interpreter: 'bash',
    args: (sourcePath) => [sourcePath],
    image: 'bash:5',
  },
] as const satisfies readonly LanguageSpec[];

export type LanguageId = (typeof LANGUAGES)[number]['id'];

export const LANGUAGE_IDS = LANGUAGES.map((l) => l.id) as [LanguageId, ...LanguageId[]];

export function findLanguage(id: string): LanguageSpec | undefined {
  return LANGUAGES.find((l) => l.id === id);
}

export function languageForFile(fileName: string): LanguageSpec | undefined {
  const lower = fileName.toLowerCase();
  return LANGUAGES.find((l) => l.extensions.some((ext) => lower.endsWith(ext)));
}
