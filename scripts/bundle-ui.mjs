// Bundles the web dashboard (src/ui, Preact) into dist/ui: one hashed script and stylesheet (cached for good
// by `crucible serve`), and index.html naming them (revalidated). Nothing is fetched at run time, no CDN.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Builds the dashboard into `outDir` (default dist/ui); answers the asset names. */
export async function bundleUi(outDir = path.join(root, 'dist/ui')) {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(root, 'src/ui/main.tsx')],
    outdir: outDir,
    entryNames: 'app-[hash]',
    // The code editor is its own chunk, loaded by the submit form only.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => path.basename(file));
  const js = outputs.find((f) => f.startsWith('app-') && f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  const template = await readFile(path.join(root, 'src/ui/index.html'), 'utf8');
  await writeFile(path.join(outDir, 'index.html'), template.replace('{{js}}', js).replace('{{css}}', css));
  return { js, css };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleUi();
