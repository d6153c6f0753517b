import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerKubeCommands } from '../../src/cli/commands/kube.js';
import { describeWithKubectl, DEPLOY, named, OVERLAYS, renderOverlay, setting } from './render.js';

afterEach(() => vi.restoreAllMocks());

const FILE = path.join(DEPLOY, 'base', 'crd-evaluation.yaml');

/** What `crucible kube render crd` prints, run in this process as the CLI runs it. */
async function renderedByTheCli(): Promise<string> {
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  const program = new Command().exitOverride();
  registerKubeCommands(program);
  await program.parseAsync(['kube', 'render', 'crd'], { from: 'user' });
  return chunks.join('');
}

/** The committed file without its leading comment block (how to regenerate it). */
function committedWithoutHeader(): string {
  const lines = readFileSync(FILE, 'utf8').split('\n');
  const first = lines.findIndex((line) => !line.startsWith('#'));
  expect(first, 'the file has a header comment').toBeGreaterThan(0);
  return lines.slice(first).join('\n');
}

describe('deploy/base/crd-evaluation.yaml', () => {
  it('is, byte for byte, what `crucible kube render crd` prints now (regenerate it as its header says)', async () => {
    expect(committedWithoutHeader()).toBe(await renderedByTheCli());
  });
});

describeWithKubectl('the Evaluation CRD in the rendered overlays', () => {
  for (const overlay of OVERLAYS) {
    it(`${overlay}: installs the CRD and turns the controller on`, async () => {
      const objects = await renderOverlay(overlay);
      const crd = named<{ spec: { group: string; names: { plural: string } } }>(
        objects,
        'CustomResourceDefinition',
        'evaluations.crucible.dev',
      );
      expect(`${crd.spec.names.plural}.${crd.spec.group}`).toBe('evaluations.crucible.dev');
      expect(setting(objects, 'CRUCIBLE_CRD')).toBe('on');
    });
  }
});
