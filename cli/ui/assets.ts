import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The files the dashboard serves, all from this package (it works offline: no CDN). The
 * page and its script are in cli/ui/page/; uPlot (the timer chart) and Mermaid (the
 * workflow diagram) come from their npm packages' own browser builds.
 */

/** One file the dashboard serves. */
export interface Asset {
  readonly path: string;
  readonly type: string;
  /** The page: `{{token}}` and `{{target}}` are filled in per run. */
  readonly template?: boolean;
}

const page = (name: string) => join(import.meta.dirname, 'page', name);

/** The directory of an installed package, found by walking up from here. */
function packageDir(name: string): string {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `the dashboard needs the npm package '${name}', which is not installed: run npm install`,
      );
    }
    dir = parent;
  }
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The page, and every other file by the path the page asks for it. */
export const ASSETS: {
  readonly page: Asset;
  readonly files: Readonly<Record<string, Asset>>;
} = {
  page: { path: page('index.html'), type: 'text/html; charset=utf-8', template: true },
  files: {
    '/app.js': { path: page('app.js'), type: JS },
    '/app.css': { path: page('app.css'), type: CSS },
    '/vendor/uPlot.iife.min.js': {
      path: resolve(packageDir('uplot'), 'dist', 'uPlot.iife.min.js'),
      type: JS,
    },
    '/vendor/uPlot.min.css': {
      path: resolve(packageDir('uplot'), 'dist', 'uPlot.min.css'),
      type: CSS,
    },
    '/vendor/mermaid.min.js': {
      path: resolve(packageDir('mermaid'), 'dist', 'mermaid.min.js'),
      type: JS,
    },
  },
};
