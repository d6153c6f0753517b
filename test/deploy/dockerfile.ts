/**
 * Just enough of the Dockerfile syntax to check the images without a Docker engine: instructions joined
 * across `\` continuations, comments dropped, global `ARG` defaults substituted into `FROM`, one stage per
 * `FROM`.
 */

export interface Instruction {
  /** Upper-case: `COPY`, `RUN`, … */
  readonly keyword: string;
  readonly args: string;
}

export interface Stage {
  /** The image after substituting global ARG defaults. */
  readonly image: string;
  readonly name: string | null;
  readonly instructions: Instruction[];
}

export interface Dockerfile {
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: Stage[];
}

function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push((pending + line).trim());
    pending = '';
  }
  if (pending) lines.push(pending.trim());
  return lines.filter((l) => l !== '');
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const substituted = args.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs.get(name) ?? '');
      const [image = '', as, name] = substituted.replace(/--platform=\S+\s+/, '').split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name = '', value = ''] = args.split('=', 2);
      globalArgs.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

export function instructionsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** The exec form of ENTRYPOINT/CMD as an array; null for the shell form. */
export function execForm(args: string): string[] | null {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? parsed : null;
  } catch {
    return null;
  }
}

/** The sources of a `COPY` that read the build context (not `--from` another stage). */
export function contextSources(copyArgs: string): string[] {
  const words = copyArgs.split(/\s+/);
  if (words.some((w) => w.startsWith('--from='))) return [];
  const paths = words.filter((w) => !w.startsWith('--'));
  return paths.slice(0, -1);
}

/** Whether a `.dockerignore` that starts with `*` re-includes `source` with a `!` pattern. */
export function reincluded(dockerignore: string, source: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const clean = source.replace(/^\.\//, '').replace(/\/$/, '');
  return patterns.some((p) => p.startsWith('!') && p.slice(1).replace(/\/$/, '') === clean);
}
