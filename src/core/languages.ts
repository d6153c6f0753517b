/**
 * The one table of supported languages. Adding a language is adding an entry here: how it runs, how it
 * compiles, the Debian packages that provide it (`crucible languages install ID`, scripts/setup.mjs for the
 * default set), the host files that prove it is installed, and the Kubernetes image. Pure data, no I/O.
 *
 * Inside a sandbox the sources live read-only under `/code` (the entry file is `fileName`), and a compiled
 * language writes its build into `/build` (writable while compiling, read-only while running).
 */

/** Limits of the compile stage: compilers need more processes, memory and time than most programs. */
export interface CompileLimits {
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly maxProcesses: number;
  readonly tmpSizeMb: number;
  /** Size of the `/build` tmpfs the compiler writes into (the binary and class files). */
  readonly buildSizeMb: number;
}

export interface CompileStep {
  /** The compiler's argv; `sources` are the sandbox paths of every source file, the entry file first. */
  readonly argv: (sources: readonly string[]) => readonly string[];
  readonly limits: CompileLimits;
  /** Which of the files of a submission are sources (the others, e.g. headers or data, are only mounted). */
  readonly sourceExtensions: readonly string[];
}

export interface LanguageSpec {
  readonly id: string;
  readonly displayName: string;
  /** The entry file's name under /code. */
  readonly fileName: string;
  readonly extensions: readonly string[];
  /** argv[0] of the run stage: a bare name looked up in /usr/bin, or an absolute sandbox path (`/build/main`). */
  readonly interpreter: string;
  /** The rest of the run stage's argv; receives the entry file's sandbox path. */
  readonly args: (sourcePath: string) => readonly string[];
  /** Present for compiled languages: run once, before the program, in its own sandbox. */
  readonly compile?: CompileStep;
  /** Extra environment of both stages (on top of the sandbox's PATH, HOME and LANG). */
  readonly env?: Readonly<Record<string, string>>;
  /** Host directories outside /usr the toolchain needs, shown read-only (the JDK's config lives in /etc). */
  readonly hostDirs?: readonly string[];
  /** Debian packages that provide it (`apt-get install`); empty when Crucible ships it (Node). */
  readonly packages: readonly string[];
  /** Host paths that must all exist for the language to count as installed. */
  readonly requires: readonly string[];
  /** Prints the version (first line of stdout or stderr is kept); `node` means the server's own Node. */
  readonly versionCommand: readonly string[];
  /** Installed by `npm install` (scripts/setup.mjs); the others by `crucible languages install`. */
  readonly installedByDefault: boolean;
  /** Default container image for the Kubernetes runtime (it must provide the toolchain). */
  readonly image: string;
}

const BUILD = '/build';
/** gcc, g++, rustc and go run several processes (cc1, as, ld, collect2) and Go's many threads. */
const NATIVE_COMPILE: CompileLimits = {
  timeoutSeconds: 30,
  memoryMb: 1024,
  maxProcesses: 128,
  tmpSizeMb: 256,
  buildSizeMb: 128,
};

export const LANGUAGES = [
  {
    id: 'python',
    displayName: 'Python 3 (with NumPy)',
    fileName: 'main.py',
    extensions: ['.py'],
    interpreter: 'python3',
    // -u: unbuffered, so output reaches live log followers as it is written.
    args: (sourcePath) => ['-u', sourcePath],
    // NumPy finds BLAS and LAPACK through Debian's alternatives (symlinks in /etc/alternatives).
    hostDirs: ['/etc/alternatives'],
    packages: ['python3', 'python3-numpy'],
    requires: ['/usr/bin/python3', '/usr/lib/python3/dist-packages/numpy/__init__.py'],
    versionCommand: ['python3', '--version'],
    installedByDefault: true,
    image: 'python:3.12-slim',
  },
  {
    id: 'javascript',
    displayName: 'JavaScript (Node.js)',
    fileName: 'main.js',
    extensions: ['.js', '.mjs', '.cjs'],
    interpreter: 'node',
    args: (sourcePath) => [sourcePath],
    packages: [],
    requires: [],
    versionCommand: ['node', '--version'],
    installedByDefault: true,
    image: 'node:24-slim',
  },
  {
    id: 'typescript',
    displayName: 'TypeScript (Node.js type stripping)',
    fileName: 'main.ts',
    extensions: ['.ts', '.mts'],
    interpreter: 'node',
    // Node 24 strips types itself: no compiler, so TypeScript starts as fast as JavaScript.
    args: (sourcePath) => ['--no-warnings', sourcePath],
    packages: [],
    requires: [],
    versionCommand: ['node', '--version'],
    installedByDefault: true,
    image: 'node:24-slim',
  },
  {
    id: 'bash',
    displayName: 'Bash',
    fileName: 'main.sh',
    extensions: ['.sh', '.bash'],
    interpreter: 'bash',
    args: (sourcePath) => [sourcePath],
    packages: ['bash'],
    requires: ['/usr/bin/bash'],
    versionCommand: ['bash', '--version'],
    installedByDefault: true,
    image: 'bash:5',
  },
  {
    id: 'c',
    displayName: 'C (GCC)',
    fileName: 'main.c',
    extensions: ['.c'],
    interpreter: `${BUILD}/main`,
    args: () => [],
    compile: {
      argv: (sources) => ['gcc', '-O2', '-std=gnu17', '-pipe', '-o', `${BUILD}/main`, ...sources, '-lm'],
      limits: NATIVE_COMPILE,
      sourceExtensions: ['.c'],
    },
    packages: ['gcc', 'libc6-dev'],
    requires: ['/usr/bin/gcc', '/usr/include/stdio.h'],
    versionCommand: ['gcc', '--version'],
    installedByDefault: false,
    image: 'gcc:12',
  },
  {
    id: 'cpp',
    displayName: 'C++ (G++)',
    fileName: 'main.cpp',
    extensions: ['.cpp', '.cc', '.cxx'],
    interpreter: `${BUILD}/main`,
    args: () => [],
    compile: {
      argv: (sources) => ['g++', '-O2', '-std=gnu++17', '-pipe', '-o', `${BUILD}/main`, ...sources],
      limits: NATIVE_COMPILE,
      sourceExtensions: ['.cpp', '.cc', '.cxx'],
    },
    packages: ['g++'],
    requires: ['/usr/bin/g++'],
    versionCommand: ['g++', '--version'],
    installedByDefault: false,
    image: 'gcc:12',
  },
  {
    id: 'go',
    displayName: 'Go',
    fileName: 'main.go',
    extensions: ['.go'],
    interpreter: `${BUILD}/main`,
    args: () => [],
    compile: {
      argv: (sources) => ['go', 'build', '-o', `${BUILD}/main`, ...sources],
      // The build cache starts empty in every sandbox: Go compiles its runtime's dependencies each time.
      limits: { ...NATIVE_COMPILE, timeoutSeconds: 60, maxProcesses: 256 },
      sourceExtensions: ['.go'],
    },
    env: { GOCACHE: '/tmp/go-cache', GOPATH: '/tmp/go', GO111MODULE: 'off', CGO_ENABLED: '0' },
    packages: ['golang-go'],
    requires: ['/usr/bin/go'],
    versionCommand: ['go', 'version'],
    installedByDefault: false,
    image: 'golang:1.19',
  },
  {
    id: 'rust',
    displayName: 'Rust',
    fileName: 'main.rs',
    extensions: ['.rs'],
    interpreter: `${BUILD}/main`,
    args: () => [],
    compile: {
      // Only the entry file: rustc finds `mod x;` files next to it. The linker is named directly because
      // /usr/bin/cc points into /etc/alternatives, which the sandbox does not show.
      argv: (sources) => [
        'rustc',
        '-O',
        '-C',
        'linker=/usr/bin/gcc',
        '-o',
        `${BUILD}/main`,
        sources[0] ?? '',
      ],
      limits: { ...NATIVE_COMPILE, timeoutSeconds: 60 },
      sourceExtensions: ['.rs'],
    },
    packages: ['rustc', 'gcc'],
    requires: ['/usr/bin/rustc', '/usr/bin/gcc'],
    versionCommand: ['rustc', '--version'],
    installedByDefault: false,
    image: 'rust:1.63-slim',
  },
  {
    id: 'java',
    displayName: 'Java (OpenJDK)',
    fileName: 'Main.java',
    extensions: ['.java'],
    interpreter: 'java',
    // Serial GC and C1 only: a short program starts faster and uses fewer threads (the pids limit counts them).
    args: () => ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss8m', '-cp', BUILD, 'Main'],
    compile: {
      argv: (sources) => [
        'javac',
        '-J-XX:+UseSerialGC',
        '-J-XX:TieredStopAtLevel=1',
        '-d',
        BUILD,
        ...sources,
      ],
      limits: { ...NATIVE_COMPILE, memoryMb: 1536 },
      sourceExtensions: ['.java'],
    },
    hostDirs: ['/etc/java-17-openjdk'],
    packages: ['default-jdk-headless'],
    requires: ['/usr/bin/javac', '/usr/bin/java'],
    versionCommand: ['java', '-version'],
    installedByDefault: false,
    image: 'eclipse-temurin:17-jdk',
  },
  {
    id: 'ruby',
    displayName: 'Ruby',
    fileName: 'main.rb',
    extensions: ['.rb'],
    interpreter: 'ruby',
    args: (sourcePath) => [sourcePath],
    packages: ['ruby'],
    requires: ['/usr/bin/ruby'],
    versionCommand: ['ruby', '--version'],
    installedByDefault: false,
    image: 'ruby:3.1-slim',
  },
  {
    id: 'php',
    displayName: 'PHP',
    fileName: 'main.php',
    extensions: ['.php'],
    interpreter: 'php',
    args: (sourcePath) => [sourcePath],
    packages: ['php-cli'],
    requires: ['/usr/bin/php'],
    versionCommand: ['php', '--version'],
    installedByDefault: false,
    image: 'php:8.2-cli',
  },
  {
    id: 'lua',
    displayName: 'Lua 5.4',
    fileName: 'main.lua',
    extensions: ['.lua'],
    interpreter: 'lua5.4',
    args: (sourcePath) => [sourcePath],
    packages: ['lua5.4'],
    requires: ['/usr/bin/lua5.4'],
    versionCommand: ['lua5.4', '-v'],
    installedByDefault: false,
    image: 'nickblah/lua:5.4',
  },
] as const satisfies readonly LanguageSpec[];

export type LanguageId = (typeof LANGUAGES)[number]['id'];

export const LANGUAGE_IDS = LANGUAGES.map((l) => l.id) as [LanguageId, ...LanguageId[]];

/** A server's overrides of the table's compile limits, per language id (`--compile-limits`). */
export type CompileLimitOverrides = Readonly<Record<string, Partial<CompileLimits>>>;

/** The language with the server's compile limits over the table's (unchanged without overrides for it). */
export function withCompileLimits(
  language: LanguageSpec,
  overrides: CompileLimitOverrides | undefined,
): LanguageSpec {
  const own = overrides?.[language.id];
  if (!language.compile || !own) return language;
  return { ...language, compile: { ...language.compile, limits: { ...language.compile.limits, ...own } } };
}

/**
 * The compiler's argv for the sources at `paths` (sandbox or pod paths, the entry file first): the entry
 * file and every other file with a source extension; headers and data files are only present.
 */
export function compileArgv(step: CompileStep, paths: readonly string[]): readonly string[] {
  return step.argv(
    paths.filter((path, i) => i === 0 || step.sourceExtensions.some((ext) => path.endsWith(ext))),
  );
}

export function findLanguage(id: string): LanguageSpec | undefined {
  return LANGUAGES.find((l) => l.id === id);
}

export function languageForFile(fileName: string): LanguageSpec | undefined {
  const lower = fileName.toLowerCase();
  return LANGUAGES.find((l) => l.extensions.some((ext) => lower.endsWith(ext)));
}

/** The command that installs languages on a host, named in every "not installed" answer. */
export function installCommand(ids: readonly string[]): string {
  return `crucible languages install ${ids.join(' ')}`;
}

/** Every Debian package the given languages need, each once, in table order. */
export function packagesOf(languages: readonly LanguageSpec[]): string[] {
  return [...new Set(languages.flatMap((l) => l.packages))];
}
