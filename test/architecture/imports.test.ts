import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** Every TypeScript source file under a folder, with its import specifiers. */
async function importsUnder(folder: string): Promise<{ file: string; imports: string[] }[]> {
  const entries = await readdir(join(root, folder), { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
  return Promise.all(
    files.map(async (path) => {
      const text = await readFile(path, 'utf8');
      const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
      return { file: relative(root, path), imports };
    }),
  );
}

describe('the folders keep their rules', () => {
  it('examples/ use Hourglass only through its public entry points, as a project of your own would', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    const entries = Object.keys(pkg.exports).map((e: string) => `hourglass${e.slice(1)}`);
    const offending = (await importsUnder('examples')).flatMap(({ file, imports }) =>
      imports
        .filter((i) =>
          i.startsWith('.')
            ? !resolve(root, file, '..', i).startsWith(
                join(root, file.split('/').slice(0, 2).join('/')),
              )
            : i.startsWith('hourglass') && !entries.includes(i),
        )
        .map((i) => `${file} → ${i}`),
    );
    expect(offending).toEqual([]);
  });

  it('local/ imports nothing from infra/, so the local cloud loads no CDK', async () => {
    const offending = (await importsUnder('local')).flatMap(({ file, imports }) =>
      imports.filter((i) => i.includes('/infra')).map((i) => `${file} → ${i}`),
    );
    expect(offending).toEqual([]);
  });

  it('shared/core/ is pure: no AWS SDK, no Node built-ins, nothing from shared/aws', async () => {
    const offending = (await importsUnder('shared/core')).flatMap(({ file, imports }) =>
      imports
        .filter((i) => i.startsWith('@aws-sdk') || i.startsWith('node:') || i.includes('/aws'))
        .map((i) => `${file} → ${i}`),
    );
    expect(offending).toEqual([]);
  });

  it('shared/aws/ imports follow the data flow: nothing imports the relay, ingest or sweeper but their entry points', async () => {
    const offending = (await importsUnder('shared/aws')).flatMap(({ file, imports }) =>
      imports
        .filter((i) => /^\.\/(relay|ingest|sweeper)$/.test(i))
        .filter(() => !file.endsWith('index.ts') && !file.endsWith('runtime.ts'))
        .map((i) => `${file} → ${i}`),
    );
    expect(offending).toEqual([]);
  });
});
