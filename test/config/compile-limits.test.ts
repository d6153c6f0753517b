import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configInput } from '../../src/cli/commands/serve.js';
import { ServerConfigSchema, configFromEnv } from '../../src/config/index.js';
import { parseCompileLimitsEntry } from '../../src/config/compile-limits.js';
import { findLanguage } from '../../src/core/index.js';
import { buildEvaluationManifests, parseKubernetesOptions } from '../../src/runtime/kubernetes/index.js';
import { createLocalRuntime, createSandbox, type Sandbox } from '../../src/runtime/local/index.js';
import { installLanguages } from '../../src/runtime/local/install-languages.js';
import { request, Tracked } from '../runtime/tracked.js';
import { describeSandboxed } from '../support/requirements.js';
import { INSTALL_TIMEOUT_MS } from '../languages/support.js';

describe('--compile-limits', () => {
  it('folds entries per language, later keys winning, from flags over the environment', () => {
    const env = configFromEnv({ CRUCIBLE_COMPILE_LIMITS: 'rust:timeoutSeconds=120; c:memoryMb=512' });
    expect(ServerConfigSchema.parse(env).compileLimits).toEqual({
      rust: { timeoutSeconds: 120 },
      c: { memoryMb: 512 },
    });
    const flags = { compileLimits: ['java:memoryMb=2048,timeoutSeconds=60', 'java:timeoutSeconds=90'] };
    expect(ServerConfigSchema.parse(configInput(env, flags)).compileLimits).toEqual({
      java: { memoryMb: 2048, timeoutSeconds: 90 },
    });
    expect(ServerConfigSchema.parse({}).compileLimits).toEqual({});
  });

  it('refuses what it cannot apply, saying why', () => {
    expect(() => parseCompileLimitsEntry('python:timeoutSeconds=5')).toThrow(/python does not compile/);
    expect(() => parseCompileLimitsEntry('cobol:timeoutSeconds=5')).toThrow(/LANG a language id/);
    expect(() => parseCompileLimitsEntry('c:memoryMb=0')).toThrow(/memoryMb must be an integer from 16/);
    expect(() => parseCompileLimitsEntry('c:timeoutSeconds=1.5')).toThrow(
      /timeoutSeconds must be an integer/,
    );
    expect(() => parseCompileLimitsEntry('c:pids=5')).toThrow(/unknown limit "pids"/);
    const parsed = ServerConfigSchema.safeParse({ compileLimits: ['go:maxProcesses=-1'] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['compileLimits']);
  });

  it('sets the Kubernetes compile stage: its timeout, pids and the compile container’s memory', () => {
    const options = parseKubernetesOptions({
      namespace: 'evals',
      compileLimits: { c: { timeoutSeconds: 7, maxProcesses: 40, memoryMb: 3000 } },
    });
    const { job } = buildEvaluationManifests(request('int main(){}', { language: 'c' }), options);
    const compile = job.spec!.template.spec!.initContainers!.find((c) => c.name === 'compile')!;
    const command = compile.command!;
    expect(command[command.indexOf('--compile-timeout-ms') + 1]).toBe('7000');
    expect(command[command.indexOf('--compile-pids') + 1]).toBe('40');
    expect(compile.resources?.limits?.['memory']).toBe('3000Mi');
    // The table's other limits are kept.
    const build = job.spec!.template.spec!.volumes!.find((v) => v.name === 'build');
    expect(build?.emptyDir?.sizeLimit).toBe(`${findLanguage('c')!.compile!.limits.buildSizeMb}Mi`);
  });
});

describeSandboxed('--compile-limits on the local backend (bwrap)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    await installLanguages(['c'], (message) => process.stderr.write(`${message}\n`));
    sandbox = await createSandbox({
      isolation: 'bwrap',
      stateDir: `/tmp/crucible-compile-limits-${process.pid}`,
    });
  }, INSTALL_TIMEOUT_MS);
  afterAll(() => sandbox?.close());

  it('a compile memory limit too small for cc1 ends compile_error "exceeded its memory limit"', async () => {
    const runtime = createLocalRuntime(sandbox, { compileLimits: { c: { memoryMb: 16 } } });
    // 10^5 terms after macro expansion: cc1 needs far more than 16 MiB for the tree.
    const macros = ['#define A1 x+x+x+x+x+x+x+x+x+x'];
    for (let i = 2; i <= 5; i++)
      macros.push(
        `#define A${i} ${Array(10)
          .fill(`A${i - 1}`)
          .join('+')}`,
      );
    const code = `${macros.join('\n')}\nint f(int x) { return A5; }\nint main(void) { return f(1) == 0; }\n`;
    const req = request(code, { language: 'c' });
    const t = new Tracked(req, 'bwrap');
    await runtime.start(req, t);
    await t.until();
    expect(t.evaluation.status).toBe('failed');
    expect(t.evaluation.result).toMatchObject({
      reason: 'compile_error',
      message: 'the compiler exceeded its memory limit',
    });
  }, 60_000);
});
