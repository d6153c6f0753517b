import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactList, Crucible } from '../../client/index.js';
import { table } from '../../format/table.js';
import type { CommandSpec } from '../parser.js';
import { clientOf } from './client-of.js';

/**
 * Where an artifact goes under `dir`, or null for a name that would leave it. The server only lists names
 * it checked, but a client writing files must not trust that.
 */
export function destinationOf(dir: string, name: string): string | null {
  if (name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) return null;
  const root = path.resolve(dir);
  const target = path.resolve(root, ...name.split('/'));
  return target.startsWith(root + path.sep) ? target : null;
}

/** Downloads every listed artifact into `dir` (a temporary name, then renamed: no half file is left). */
export async function downloadAll(
  client: Crucible,
  id: string,
  list: ArtifactList,
  dir: string,
): Promise<string[]> {
  const written: string[] = [];
  for (const artifact of list.items) {
    const target = destinationOf(dir, artifact.name);
    if (!target) throw new Error(`refusing artifact name ${JSON.stringify(artifact.name)}: it leaves ${dir}`);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.part-${process.pid}`;
    const download = await client.artifact(id, artifact.name);
    try {
      await pipeline(Readable.from(download.body), createWriteStream(temp));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    written.push(target);
  }
  return written;
}

export function artifactsTable(list: ArtifactList): string {
  const rows = list.items.map((a) => [a.name, String(a.size), a.contentType, a.sha256]);
  const dropped = list.dropped.map((d) => [d.name, String(d.size), `dropped: ${d.reason}`, '']);
  return table([['NAME', 'BYTES', 'TYPE', 'SHA-256'], ...rows, ...dropped]);
}

/** `crucible artifacts ID [-o DIR]`: list an evaluation's artifacts, or download them all. */
export const artifactsCommand: CommandSpec = {
  name: 'artifacts',
  description: 'list the files an evaluation left in /artifacts, or download them (-o DIR)',
  args: [{ name: 'id', description: 'evaluation id' }],
  options: [
    { flags: '-o, --output <dir>', description: 'download every artifact into DIR (subdirectories kept)' },
    { flags: '--json', description: 'print the list as JSON' },
  ],
  helpAfter: '\nExamples:\n  crucible artifacts 3f1c…\n  crucible artifacts 3f1c… -o ./out\n',
  run: async ([id = ''], flags) => {
    const client = clientOf(flags);
    const list = await client.artifacts(id);
    if (typeof flags.output === 'string') {
      const written = await downloadAll(client, id, list, flags.output);
      for (const file of written) process.stdout.write(`${file}\n`);
      for (const dropped of list.dropped) {
        process.stderr.write(`not kept: ${dropped.name} (${dropped.reason})\n`);
      }
      return;
    }
    process.stdout.write(flags.json ? `${JSON.stringify(list, null, 2)}\n` : `${artifactsTable(list)}\n`);
  },
};
