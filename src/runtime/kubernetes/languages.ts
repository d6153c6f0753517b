import {
  LANGUAGES,
  findLanguage,
  languageInfo,
  type LanguageCatalogue,
  type LanguageInfo,
  type LanguageSpec,
} from '../../core/index.js';

/**
 * The languages of the Kubernetes backend: each runs in its image from the table (overridable with the
 * runtime's `images`), so the version shown is the image's tag. Compiled languages, extra files and tests
 * run staged in the pod (runner/src/compile.rs); the image must hold the toolchain.
 */
export function kubernetesLanguageCatalogue(
  images: Readonly<Record<string, string>> = {},
): LanguageCatalogue {
  const imageOf = (id: string) => images[id] ?? findLanguage(id)?.image ?? '';
  return {
    grading: true,
    async list(): Promise<LanguageInfo[]> {
      return LANGUAGES.map((spec: LanguageSpec) => languageInfo(spec, `image ${imageOf(spec.id)}`, true));
    },
    missing(): string | null {
      return null;
    },
  };
}
