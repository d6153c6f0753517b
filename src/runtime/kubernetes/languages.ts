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
 * runtime's `images`), so the version shown is the image's tag. The pod runner has no compile stage yet:
 * compiled languages, extra files and tests are refused at submission with a 400 that says so, rather than
 * failing in the pod.
 */
export function kubernetesLanguageCatalogue(
  images: Readonly<Record<string, string>> = {},
): LanguageCatalogue {
  const imageOf = (id: string) => images[id] ?? findLanguage(id)?.image ?? '';
  return {
    grading: false,
    async list(): Promise<LanguageInfo[]> {
      return LANGUAGES.map((spec: LanguageSpec) => ({
        ...languageInfo(spec, `image ${imageOf(spec.id)}`, spec.compile === undefined),
        install: spec.compile ? 'not supported on the Kubernetes backend yet: use the local backend' : null,
      }));
    },
    missing(id: string): string | null {
      const spec = findLanguage(id);
      if (!spec?.compile) return null;
      return `${spec.displayName} is not supported on the Kubernetes backend yet (its pods have no compile stage): run it on the local backend (crucible serve --backend local)`;
    },
  };
}
