import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const SOURCE_FOLDERS = ['shared', 'functions', 'infra', 'local', 'bench', 'workflows', 'bin'];
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 80;
/** A long function may stay long when the comment just above it says why, starting with this. */
const REASON_MARK = 'Long because';

async function sourceFiles(): Promise<string[]> {
  const found: string[] = [];
  for (const folder of SOURCE_FOLDERS) {
    const entries = await readdir(join(root, folder), {
      recursive: true,
      withFileTypes: true,
    }).catch(() => []);
    for (const e of entries) {
      if (e.isFile() && /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts'))
        found.push(join(e.parentPath, e.name));
    }
  }
  return found;
}

/** Functions longer than the limit whose leading comments give no reason. */
function longFunctions(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const offending: string[] = [];
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const lines = lineOf(node.getEnd()) - lineOf(node.getStart(source)) + 1;
      if (lines > MAX_FUNCTION_LINES && !hasReason(node, source)) {
        offending.push(
          `${relative(root, path)}:${lineOf(node.getStart(source))} ${nameOf(node)} (${lines} lines)`,
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return offending;
}

/** The reason is read from the comments before the function or the statement that holds it. */
function hasReason(node: ts.Node, source: ts.SourceFile): boolean {
  for (let at: ts.Node | undefined = node; at && !ts.isSourceFile(at); at = at.parent) {
    const comments = ts.getLeadingCommentRanges(source.text, at.getFullStart()) ?? [];
    if (comments.some((c) => source.text.slice(c.pos, c.end).includes(REASON_MARK))) return true;
    if (ts.isStatement(at) || ts.isClassElement(at)) break;
  }
  return false;
}

function nameOf(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name) return named.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  return '(anonymous)';
}

describe('files a newcomer can read', () => {
  it(`no source file outside tests is over ${MAX_FILE_LINES} lines`, async () => {
    const offending: string[] = [];
    for (const path of await sourceFiles()) {
      const lines = (await readFile(path, 'utf8')).split('\n').length;
      if (lines > MAX_FILE_LINES) offending.push(`${relative(root, path)} (${lines} lines)`);
    }
    expect(offending).toEqual([]);
  });

  it(`no function is over ${MAX_FUNCTION_LINES} lines without a comment saying why ("${REASON_MARK} …")`, async () => {
    const offending: string[] = [];
    for (const path of await sourceFiles())
      offending.push(...longFunctions(path, await readFile(path, 'utf8')));
    expect(offending).toEqual([]);
  });
});
