import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkEmit, emitTargets } from '../../cli/emit';
import { loadDefinitions, readProject, workerEntries } from '../../local/project';

const root = resolve(import.meta.dirname, '../..');

/** A project folder of its own, with `package.json` holding `settings` under "hourglass". */
async function project(settings?: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hourglass-project-'));
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify(settings === undefined ? { name: 'p' } : { name: 'p', hourglass: settings }),
  );
  return dir;
}

describe("a project's workflows and workers", () => {
  it('defaults to workflows/index.ts and functions/workers', async () => {
    const dir = await project();
    expect(await readProject(dir)).toEqual({
      workflows: join(dir, 'workflows/index.ts'),
      workers: join(dir, 'functions/workers'),
    });
  });

  it('reads them from package.json, so every tool loads your module', async () => {
    const dir = await project({
      workflows: join(root, 'workflows/index.ts'),
      workers: 'src/workers',
    });
    const definitions = await loadDefinitions(undefined, dir);
    expect(definitions.workflows.map((w) => w.name)).toContain('welcome-discount');
    expect((await readProject(dir)).workers).toBe(join(dir, 'src/workers'));
  });

  it('says which setting is wrong and how to fix it', async () => {
    await expect(readProject(await project('workflows.ts'))).rejects.toThrow(
      /"hourglass" must be an object like \{ "workflows": "workflows\/index.ts", "workers": "functions\/workers" \}/,
    );
    await expect(
      loadDefinitions(undefined, await project({ workflows: 'nope.ts' })),
    ).rejects.toThrow(
      /cannot load workflows module .*nope.ts: .* \(set "hourglass.workflows" in package.json, or pass --workflows\)/,
    );
  });

  it('names every task type without a worker file, and the file to create', async () => {
    const dir = await project({ workflows: join(root, 'workflows/index.ts'), workers: 'workers' });
    await mkdir(join(dir, 'workers'));
    await writeFile(join(dir, 'workers', 'publish-product.ts'), 'export const handler = () => {};');
    const definitions = await loadDefinitions(undefined, dir);
    const settings = await readProject(dir);
    expect(() => workerEntries(settings, definitions)).toThrow(
      /no worker for 'send-discount-code', .* create .*workers\/send-discount-code.ts/,
    );
  });
});

describe('what an emitted event will do', () => {
  it('names each workflow that consumes it and the key it reaches', async () => {
    const definitions = await loadDefinitions(undefined, root);
    const event = await checkEmit(definitions, 'OrderPlaced', undefined, {
      userId: 'u1',
      orderId: 'o1',
      total: 5,
    });
    expect(emitTargets(definitions, event, { userId: 'u1', orderId: 'o1', total: 5 })).toEqual([
      "workflow 'welcome-discount' key 'u1'",
    ]);
  });
});
