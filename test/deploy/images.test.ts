import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  apiDeployment,
  describeWithKubectl,
  renderOverlay,
  REPO,
  setting,
  type KubeObject,
} from './render.js';

/** The README's section on deploying, where a new cluster user learns the image names. */
function deploySection(): string {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('## Deploy on Kubernetes');
  if (start < 0) throw new Error('README has no "Deploy on Kubernetes" section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** `docker build -f <Dockerfile> -t <registry>/<name>:<tag> <context>` lines: Dockerfile → image name. */
function buildCommands(section: string): Map<string, { name: string; context: string }> {
  const builds = new Map<string, { name: string; context: string }>();
  for (const [, dockerfile, image, context] of section.matchAll(
    /docker build -f (\S+) -t "?([^"\s]+)"? (\S+)/g,
  )) {
    const name = /\/([a-z0-9-]+):/.exec(image!)?.[1];
    if (!name) throw new Error(`cannot read the image name of ${image}`);
    builds.set(dockerfile!, { name, context: context! });
  }
  return builds;
}

/** registry/repository, name and tag of an image reference. */
function parts(image: string): { registry: string; name: string; tag: string } {
  const match = /^(?:(.*)\/)?([^/:@]+)(?::([^@]+))?$/.exec(image);
  if (!match) throw new Error(`not an image reference: ${image}`);
  return { registry: match[1] ?? '', name: match[2]!, tag: match[3] ?? 'latest' };
}

describe('the README says how to build, push and point at both images', () => {
  const section = deploySection();

  it('builds each image from a Dockerfile that exists, under the names the manifests use', () => {
    const builds = buildCommands(section);
    expect([...builds.keys()].sort()).toEqual(['deploy/platform/Dockerfile', 'deploy/runner/Dockerfile']);
    expect(builds.get('deploy/platform/Dockerfile')).toEqual({ name: 'crucible', context: '.' });
    expect(builds.get('deploy/runner/Dockerfile')).toEqual({
      name: 'crucible-runner',
      context: 'runner/target',
    });
    for (const dockerfile of builds.keys()) expect(existsSync(path.join(REPO, dockerfile))).toBe(true);
    for (const name of ['crucible', 'crucible-runner'])
      expect(section).toMatch(new RegExp(`docker push "\\$REGISTRY/${name}:`));
  });

  it('names the setting that points runnerImage at the registry, and the overlay to apply', () => {
    expect(section).toContain('CRUCIBLE_K8S_RUNNER_IMAGE=$REGISTRY/crucible-runner:$TAG');
    expect(section).toContain('kubectl apply -k deploy/overlays/production');
    expect(section).toContain('create secret generic crucible-store');
  });
});

describeWithKubectl('the overlays use the images the README builds', () => {
  const images = (objects: readonly KubeObject[]) => ({
    platform: parts(apiDeployment(objects).spec!.template.spec!.containers[0]!.image!),
    runner: parts(setting(objects, 'CRUCIBLE_K8S_RUNNER_IMAGE') ?? ''),
  });
  let dev: ReturnType<typeof images>;
  let production: ReturnType<typeof images>;
  beforeAll(async () => {
    dev = images(await renderOverlay('dev'));
    production = images(await renderOverlay('production'));
  });

  it('production: both from one registry, one tag, under the README names', () => {
    expect(production.platform.name).toBe('crucible');
    expect(production.runner.name).toBe('crucible-runner');
    expect(production.platform.registry).not.toBe('');
    expect(production.runner.registry).toBe(production.platform.registry);
    expect(production.runner.tag).toBe(production.platform.tag);
    expect(production.platform.tag).not.toBe('latest');
  });

  it('dev: the locally built images, tagged dev', () => {
    expect(dev.platform).toEqual({ registry: '', name: 'crucible', tag: 'dev' });
    expect(dev.runner).toEqual({ registry: '', name: 'crucible-runner', tag: 'dev' });
  });
});
