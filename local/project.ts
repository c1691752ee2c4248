import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HourglassDefinitions } from '../shared/core';
import { HourglassError } from '../shared/core/errors';

/**
 * Where a project's workflows and workers live: the one place every tool reads (`npm run
 * dev`, `hourglass check`, `graph`, `simulate`, `emit`). Set it in package.json:
 *
 *     "hourglass": { "workflows": "src/hourglass/index.ts", "workers": "src/workers" }
 *
 * The workflows module exports its `defineHourglass(…)` result as default (or as
 * `definitions`); the workers folder holds one `<task type>.ts` per task type, exporting
 * `handler`. The CDK construct needs no setting: it bundles ingest from the module the
 * definitions were made in.
 */
export interface Project {
  /** Absolute path of the workflows module. */
  readonly workflows: string;
  /** Absolute path of the workers folder. */
  readonly workers: string;
}

/** The settings' defaults: this repository's own layout. */
export const DEFAULT_PROJECT = { workflows: 'workflows/index.ts', workers: 'functions/workers' };

/** A project setting that is missing or wrong: the CLI prints it and exits 2. */
export class ProjectError extends HourglassError {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectError';
  }
}

/** Reads the `hourglass` field of `cwd`'s package.json (the defaults when there is none). */
export async function readProject(cwd: string): Promise<Project> {
  let settings: { workflows?: unknown; workers?: unknown } = {};
  const file = join(cwd, 'package.json');
  if (existsSync(file)) {
    const pkg = JSON.parse(await readFile(file, 'utf8')) as { hourglass?: unknown };
    if (pkg.hourglass !== undefined) {
      if (typeof pkg.hourglass !== 'object' || pkg.hourglass === null)
        throw new ProjectError(
          `${file}: "hourglass" must be an object like { "workflows": "workflows/index.ts", "workers": "functions/workers" }`,
        );
      settings = pkg.hourglass as typeof settings;
    }
  }
  const path = (name: 'workflows' | 'workers') => {
    const value = settings[name] ?? DEFAULT_PROJECT[name];
    if (typeof value !== 'string' || value.trim() === '')
      throw new ProjectError(
        `${file}: "hourglass.${name}" must be a path, got ${JSON.stringify(value)}`,
      );
    return resolve(cwd, value);
  };
  return { workflows: path('workflows'), workers: path('workers') };
}

/**
 * Loads the definitions a module exports (default export, or `definitions`): `module` when
 * given (a `--workflows` flag), else the project's.
 */
export async function loadDefinitions(
  module: string | undefined,
  cwd: string,
): Promise<HourglassDefinitions> {
  const path = module === undefined ? (await readProject(cwd)).workflows : resolve(cwd, module);
  let loaded: Record<string, unknown>;
  try {
    loaded = await import(isAbsolute(path) ? pathToFileURL(path).href : path);
  } catch (error) {
    const message = (error as Error).message?.split('\n')[0];
    throw new ProjectError(
      `cannot load workflows module ${path}: ${message}${module === undefined ? ' (set "hourglass.workflows" in package.json, or pass --workflows)' : ''}`,
    );
  }
  const candidate = (loaded.default ?? loaded.definitions) as HourglassDefinitions | undefined;
  if (candidate?.kind !== 'hourglass') {
    throw new ProjectError(
      `${path} does not export definitions: add "export default defineHourglass({ taskTypes, workflows })"`,
    );
  }
  return candidate;
}

/**
 * The worker entry of each task type, `<workers>/<task type>.ts`; fails naming every task
 * type without one and what to create.
 */
export function workerEntries(
  project: Project,
  definitions: HourglassDefinitions,
): (taskType: string) => string {
  const entry = (taskType: string) => join(project.workers, `${taskType}.ts`);
  const missing = definitions.taskTypes.filter((t) => !existsSync(entry(t.name)));
  if (missing.length > 0) {
    throw new ProjectError(
      `no worker for ${missing.map((t) => `'${t.name}'`).join(', ')}: create ${missing.map((t) => entry(t.name)).join(', ')}, each exporting "handler = worker(taskType, run)" (or set "hourglass.workers" in package.json)`,
    );
  }
  return entry;
}
