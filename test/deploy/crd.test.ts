import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeCli } from '../support/kube-cli.js';
import { describeWithKubectl, DEPLOY, named, OVERLAYS, renderOverlay, setting } from './render.js';

afterEach(() => vi.restoreAllMocks());

const FILE = path.join(DEPLOY, 'base', 'crd-evaluation.yaml');

/** What `crucible kube render crd` prints, run in this process as the CLI runs it. */
function renderedByTheCli(): Promise<string> {
  return kubeCli(['render', 'crd']);
}

/** The YAML documents of a text, as data: comments and formatting (prettier's) do not count. */
function documents(text: string): unknown[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    return document.toJS() as unknown;
  });
}

describe('deploy/base/crd-evaluation.yaml', () => {
  const committed = readFileSync(FILE, 'utf8');

  it('is the object `crucible kube render crd` prints now (regenerate it as its header says)', async () => {
    const printed = documents(await renderedByTheCli());
    expect(printed).toHaveLength(1);
    expect(documents(committed)).toEqual(printed);
  });

  it('says it is generated and how to regenerate it', () => {
    expect(committed).toMatch(/^# GENERATED, do not edit/);
    expect(committed).toContain('node bin/crucible.js kube render crd');
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
