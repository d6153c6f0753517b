import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { renderEvaluation } from '../../src/runtime/kubernetes/index.js';
import {
  contextSources,
  execForm,
  instructionsOf,
  parseDockerfile,
  reincluded,
  type Dockerfile,
  type Stage,
} from './dockerfile.js';
import { DEPLOY, parseObjects, REPO } from './render.js';

/**
 * The images cannot be built here (no Docker engine): their Dockerfiles are checked as text. What a build
 * would show beyond this (that the base tag exists, that npm ci and tsc succeed in it) is listed in
 * docs/deploy.md as not verified.
 */

const read = (file: string) => readFileSync(path.join(DEPLOY, file), 'utf8');
const platform = parseDockerfile(read('platform/Dockerfile'));
const runner = parseDockerfile(read('runner/Dockerfile'));
const finalStage = (dockerfile: Dockerfile): Stage => dockerfile.stages.at(-1)!;
const stageNamed = (dockerfile: Dockerfile, name: string) => dockerfile.stages.find((s) => s.name === name);

/** The numeric uid:gid of the final USER; throws on a name (the kubelet cannot check runAsNonRoot on one). */
function finalUser(dockerfile: Dockerfile): { uid: number; gid: number | null } {
  const user = instructionsOf(finalStage(dockerfile), 'USER').at(-1);
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!match) throw new Error(`final USER is ${user ?? 'missing'}, not numeric`);
  return { uid: Number(match[1]), gid: match[2] === undefined ? null : Number(match[2]) };
}

function noSecrets(text: string, dockerfile: Dockerfile): void {
  const declared = dockerfile.stages.flatMap((s) => [
    ...instructionsOf(s, 'ENV'),
    ...instructionsOf(s, 'ARG'),
  ]);
  for (const line of [...declared, ...dockerfile.globalArgs.keys()]) {
    expect(line).not.toMatch(/PASSWORD|SECRET|TOKEN|CREDENTIAL|API_KEY|PRIVATE/i);
  }
  expect(text).not.toMatch(/postgres(ql)?:\/\/|\.npmrc|\.env\b|id_rsa/);
}

describe('the platform image (deploy/platform/Dockerfile)', () => {
  it('builds in stages from a pinned Node 24, the version the project is tested on', () => {
    expect(platform.stages.length).toBeGreaterThanOrEqual(2);
    const testedOn = (
      JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
        devDependencies: Record<string, string>;
      }
    ).devDependencies['node']!.replace(/^\D*/, '');
    for (const stage of platform.stages) {
      expect(stage.image).toMatch(/^node:24\.\d+\.\d+-[a-z0-9.-]+(@sha256:[0-9a-f]{64})?$/);
      expect(stage.image.startsWith(`node:${testedOn}-`), stage.image).toBe(true);
    }
  });

  it('compiles dist/ in the build stage and ships it with production dependencies only', () => {
    const build = stageNamed(platform, 'build')!;
    expect(instructionsOf(build, 'RUN').some((r) => /tsc -p tsconfig\.build\.json/.test(r))).toBe(true);
    const outDir = (
      JSON.parse(readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8')) as {
        compilerOptions: { outDir: string };
      }
    ).compilerOptions.outDir;
    const runtime = finalStage(platform);
    const copies = instructionsOf(runtime, 'COPY');
    expect(copies).toContain(`--from=build /app/${outDir} ./${outDir}`);
    const depsFrom = copies.find((c) => c.includes('node_modules'))!;
    const depsStage = stageNamed(platform, /--from=(\S+)/.exec(depsFrom)![1]!)!;
    expect(instructionsOf(depsStage, 'RUN').some((r) => r.includes('npm ci --omit=dev'))).toBe(true);
    expect(instructionsOf(runtime, 'RUN').some((r) => /\bnpm (ci|install)\b/.test(r))).toBe(false);
  });

  it('runs the CLI entry as a numeric non-root user, the one the Deployment runs as', () => {
    const runtime = finalStage(platform);
    const entrypoint = execForm(instructionsOf(runtime, 'ENTRYPOINT').at(-1) ?? '');
    expect(entrypoint?.[0]).toBe('node');
    const script = entrypoint![1]!.replace(/^\/app\//, '');
    expect(existsSync(path.join(REPO, script)), script).toBe(true);
    expect(instructionsOf(runtime, 'COPY').some((c) => c.startsWith(`${script.split('/')[0]} `))).toBe(true);
    expect(execForm(instructionsOf(runtime, 'CMD').at(-1) ?? '')).toEqual(['serve']);
    const user = finalUser(platform);
    expect(user.uid).toBeGreaterThan(0);
    const [deployment] = parseObjects(read('base/deployment.yaml')) as unknown as V1Deployment[];
    const pod = deployment!.spec!.template.spec!.securityContext!;
    expect([pod.runAsUser, pod.runAsGroup]).toEqual([user.uid, user.gid]);
  });

  it('has no secret baked in, and its .dockerignore lets in exactly what it copies', () => {
    const text = read('platform/Dockerfile');
    noSecrets(text, platform);
    const ignore = read('platform/Dockerfile.dockerignore');
    expect(ignore.split('\n').find((l) => l.trim() && !l.startsWith('#'))).toBe('*');
    const sources = platform.stages.flatMap((s) => instructionsOf(s, 'COPY').flatMap(contextSources));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(reincluded(ignore, source), source).toBe(true);
      expect(existsSync(path.join(REPO, source)), source).toBe(true);
    }
  });
});

describe('the runner image (deploy/runner/Dockerfile)', () => {
  it('is the static runner alone on scratch, as a numeric non-root user', () => {
    expect(runner.stages.map((s) => s.image)).toEqual(['scratch']);
    expect(finalUser(runner).uid).toBeGreaterThan(0);
    expect(instructionsOf(finalStage(runner), 'COPY')).toEqual(['crucible-runner /crucible-runner']);
    expect(read('runner/Dockerfile.dockerignore').match(/^[^#\s].*$/gm)).toEqual(['*', '!crucible-runner']);
    noSecrets(read('runner/Dockerfile'), runner);
  });

  it('holds the binary where the evaluation pod’s init container runs it', () => {
    const options = { runnerImage: 'registry.example/crucible-runner:1' };
    const objects = renderEvaluation({ language: 'python', code: 'print(1)' }, options) as {
      kind: string;
      spec?: { template: { spec: { initContainers: { image: string; command: string[] }[] } } };
    }[];
    const init = objects.find((o) => o.kind === 'Job')!.spec!.template.spec.initContainers[0]!;
    expect(init.image).toBe('registry.example/crucible-runner:1');
    expect(init.command[0]).toBe(execForm(instructionsOf(finalStage(runner), 'ENTRYPOINT')[0]!)![0]);
  });
});

describe('the Dockerfile reader', () => {
  it('joins continuations, drops comments, substitutes global ARGs and names stages', () => {
    const parsed = parseDockerfile(
      '# syntax=docker/dockerfile:1\nARG BASE=node:24.1.0-slim\nFROM ${BASE} AS build\n' +
        'RUN a \\\n  && b\n# note\nFROM scratch\nUSER 1:2\n',
    );
    expect(parsed.stages.map((s) => [s.image, s.name])).toEqual([
      ['node:24.1.0-slim', 'build'],
      ['scratch', null],
    ]);
    expect(instructionsOf(parsed.stages[0]!, 'RUN')).toEqual(['a && b']);
    expect(finalUser(parsed)).toEqual({ uid: 1, gid: 2 });
    expect(() => finalUser(parseDockerfile('FROM scratch\nUSER nobody\n'))).toThrow(/not numeric/);
  });
});
