import { expect, test } from 'vitest';
import { LANGUAGES } from '../../src/core/index.js';
import { kubernetesLanguageCatalogue } from '../../src/runtime/kubernetes/languages.js';
import { checkRunnable } from '../../src/service/language-checks.js';

const catalogue = kubernetesLanguageCatalogue({ python: 'registry.example/python-numpy:3.12' });

test('the Kubernetes backend lists its images as versions, overridable per language', async () => {
  const items = await catalogue.list();
  expect(items.map((l) => l.id)).toEqual(LANGUAGES.map((l) => l.id));
  expect(items.find((l) => l.id === 'python')).toMatchObject({
    installed: true,
    version: 'image registry.example/python-numpy:3.12',
  });
  expect(items.find((l) => l.id === 'ruby')).toMatchObject({
    installed: true,
    version: 'image ruby:3.1-slim',
  });
  expect(items.find((l) => l.id === 'rust')).toMatchObject({
    installed: true,
    compiled: true,
    version: 'image rust:1.63-slim',
  });
});

test('compiled languages, files and tests are accepted on Kubernetes (the runner stages them in the pod)', () => {
  const python = LANGUAGES.find((l) => l.id === 'python')!;
  const c = LANGUAGES.find((l) => l.id === 'c')!;
  expect(() => checkRunnable({ language: 'c', code: '' }, c, catalogue)).not.toThrow();
  expect(() =>
    checkRunnable({ language: 'python', code: '', tests: [{ expectedStdout: '' }] }, python, catalogue),
  ).not.toThrow();
  // Names are still checked against the entry file.
  expect(() =>
    checkRunnable({ language: 'c', code: '', files: [{ name: 'main.c', content: '' }] }, c, catalogue),
  ).toThrow(expect.objectContaining({ field: 'files.0.name' }));
});
