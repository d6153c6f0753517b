import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Crucible, type LanguageInfo } from '../client/index.js';
import { findLanguage, type LanguageSpec } from '../core/index.js';
import { table } from '../format/table.js';

const run = promisify(execFile);

/** Hello world per language (the same programs as test/languages/programs.ts). */
const HELLO: Readonly<Record<string, string>> = {
  python: 'print("hello")',
  javascript: 'console.log("hello")',
  typescript: 'const greeting: string = "hello";\nconsole.log(greeting);',
  bash: 'echo hello',
  c: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
  cpp: '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
  rust: 'fn main() { println!("hello"); }\n',
  java: 'public class Main { public static void main(String[] args) { System.out.println("hello"); } }\n',
  ruby: 'puts "hello"',
  php: '<?php echo "hello\\n";',
  lua: 'print("hello")',
};

export interface LanguageBenchRow {
  readonly id: string;
  readonly compiled: boolean;
  /** Median submit→terminal over HTTP (compile and run in the sandbox), ms. */
  readonly crucibleMs: number;
  /** Median of the same compiler and binary (or interpreter) run directly on the host, ms. */
  readonly bareMs: number;
  /** Median compile stage as Crucible measured it (result), ms; null for interpreted languages. */
  readonly compileMs: number | null;
  /** The host's 1-minute load average when the language's runs ended (the machine may be shared). */
  readonly load1m: number;
}

export interface LanguagesBenchOptions {
  readonly baseUrl: string;
  readonly iterations?: number;
  readonly log?: (line: string) => void;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** A sandbox path of the table (`/code/…`, `/build/…`) at its host directory for the bare run. */
function onHost(arg: string, code: string, build: string): string {
  if (arg === '/code' || arg.startsWith('/code/')) return code + arg.slice('/code'.length);
  if (arg === '/build' || arg.startsWith('/build/')) return build + arg.slice('/build'.length);
  return arg;
}

/** The floor: the language's compiler and program, run by this process with no sandbox, no server. */
async function bareRun(spec: LanguageSpec, source: string): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'crucible-lang-bench-'));
  const code = join(dir, 'code');
  const build = join(dir, 'build');
  await mkdir(code);
  await mkdir(build);
  await writeFile(join(code, spec.fileName), source);
  // The same environment as the sandbox's (HOME in a fresh directory, so Go's cache starts empty as there).
  const env = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', ...spec.env };
  const local = (args: readonly string[]) => args.map((a) => onHost(a, code, build));
  const program = (name: string) => (name === 'node' ? process.execPath : name);
  const started = performance.now();
  try {
    if (spec.compile) {
      const [compiler, ...args] = local(spec.compile.argv([`/code/${spec.fileName}`]));
      const cacheEnv = spec.env?.GOCACHE ? { GOCACHE: join(dir, 'go-cache'), GOPATH: join(dir, 'go') } : {};
      await run(program(compiler!), args, { env: { ...env, ...cacheEnv } });
    }
    const [name, ...args] = local([spec.interpreter, ...spec.args(`/code/${spec.fileName}`)]);
    await run(program(name!), args, { env });
    return performance.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Hello world per installed language: submit→terminal through the SDK next to the same compiler and binary
 * run directly on the host (no sandbox, no server), interleaved so both see the same machine load.
 */
export async function benchLanguages(options: LanguagesBenchOptions): Promise<LanguageBenchRow[]> {
  const iterations = options.iterations ?? 5;
  const client = new Crucible({ baseUrl: options.baseUrl });
  const { items } = await client.languages();
  const rows: LanguageBenchRow[] = [];
  for (const language of items.filter((l: LanguageInfo) => l.installed)) {
    const spec = findLanguage(language.id);
    const source = HELLO[language.id];
    if (!spec || source === undefined) continue;
    options.log?.(`languages: ${language.id} (${iterations} runs each way)`);
    // Warm-up: the server's warm pool learns the run's kind, the page cache holds the toolchain.
    await client.run({ language: language.id, code: source });
    await bareRun(spec, source);
    const crucible: number[] = [];
    const bare: number[] = [];
    const compile: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const started = performance.now();
      const evaluation = await client.run({ language: language.id, code: source });
      crucible.push(performance.now() - started);
      if (evaluation.status !== 'succeeded') {
        throw new Error(
          `${language.id}: hello world ended ${evaluation.status} (${evaluation.result?.reason})`,
        );
      }
      bare.push(await bareRun(spec, source));
      const timings = evaluation.timings;
      if (spec.compile && timings.startedAt && timings.finishedAt && evaluation.result?.durationMs != null) {
        const stages = Date.parse(timings.finishedAt) - Date.parse(timings.startedAt);
        compile.push(stages - evaluation.result.durationMs);
      }
    }
    rows.push({
      id: language.id,
      compiled: language.compiled,
      crucibleMs: median(crucible),
      bareMs: median(bare),
      compileMs: compile.length > 0 ? median(compile) : null,
      load1m: loadavg()[0] ?? Number.NaN,
    });
  }
  return rows;
}

export function formatLanguagesBench(rows: readonly LanguageBenchRow[]): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(0)} ms`);
  return (
    'hello world per language: submit→terminal over HTTP vs the same compiler + binary run bare on the host\n' +
    table([
      ['language', 'kind', 'crucible', 'compile stage', 'bare', 'ratio', 'goal', 'load 1m'],
      ...rows.map((r) => [
        r.id,
        r.compiled ? 'compiled' : 'interpreted',
        ms(r.crucibleMs),
        ms(r.compileMs),
        ms(r.bareMs),
        `${(r.crucibleMs / r.bareMs).toFixed(2)}×`,
        r.compiled ? '≤ 1.20×' : '',
        r.load1m.toFixed(2),
      ]),
    ])
  );
}
