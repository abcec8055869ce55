import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Measures the shape of the house (issue 19): functions over a line budget, files over a line
 * budget, and import cycles between the server's modules (`src/<module>/`). Used by
 * `test/code-shape.test.ts`; run `npx tsx test/support/code-shape.ts` for the full list.
 */
export const ROOT = resolve(import.meta.dirname, '../..');
export const MAX_FUNCTION_LINES = 80;
export const MAX_FILE_LINES = 500;
const SOURCE_DIRS = ['src', 'sdk/src', 'dashboard/src'];
/** Generated code (`npm run gen:api`) is the generator's shape, not ours. */
const GENERATED_DIRS = new Set(['sdk/src/generated']);

export function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (!GENERATED_DIRS.has(relative(ROOT, path))) walk(path);
      } else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts'))
        out.push(relative(ROOT, path));
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(ROOT, dir));
  return out.sort();
}

function parse(file: string): ts.SourceFile {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
}

function nameOf(node: ts.Node): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name))
    return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  return '(anonymous)';
}

/** Every function, method or arrow function longer than `max` lines, as `file:line name (n)`. */
export function longFunctions(files: string[], max = MAX_FUNCTION_LINES): string[] {
  const found: string[] = [];
  for (const file of files) {
    const source = parse(file);
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = end - start + 1;
        if (lines > max) found.push(`${file}:${start + 1} ${nameOf(node)} (${lines})`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** Every file longer than `max` lines, as `file (n)`. */
export function longFiles(files: string[], max = MAX_FILE_LINES): string[] {
  return files
    .map((file) => [file, readFileSync(join(ROOT, file), 'utf8').split('\n').length] as const)
    .filter(([, n]) => n > max)
    .map(([file, n]) => `${file} (${n})`);
}

function moduleOf(file: string): string | null {
  const m = /^src\/([^/]+)\//.exec(file);
  return m ? m[1]! : null;
}

/** Module → the modules it imports (value and type imports alike), for files under `src/`. */
export function moduleGraph(files: string[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const from = moduleOf(file);
    if (!from) continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const stmt of parse(file).statements) {
      if (!ts.isImportDeclaration(stmt) && !ts.isExportDeclaration(stmt)) continue;
      const spec = stmt.moduleSpecifier;
      if (!spec || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
      const to = moduleOf(relative(ROOT, resolve(ROOT, dirname(file), spec.text)));
      if (to && to !== from) edges.add(to);
    }
  }
  return graph;
}

/**
 * Imports that reach past a module's `index.ts` (its public surface) from outside the module,
 * as `importer -> target`, for every module under `src/` that has one (or the modules given).
 */
export function importsPastIndex(
  files: string[],
  withIndex = new Set(files.map((f) => /^src\/([^/]+)\/index\.ts$/.exec(f)?.[1]).filter(Boolean)),
): string[] {
  const found: string[] = [];
  for (const file of files.filter((f) => f.startsWith('src/'))) {
    for (const stmt of parse(file).statements) {
      if (!ts.isImportDeclaration(stmt) && !ts.isExportDeclaration(stmt)) continue;
      const spec = stmt.moduleSpecifier;
      if (!spec || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec.text));
      const to = moduleOf(target);
      if (!to || to === moduleOf(file) || target === `src/${to}/index.ts`) continue;
      if (withIndex.has(to)) found.push(`${file} -> ${target}`);
    }
  }
  return found;
}

/**
 * The groups of modules that import each other, directly or through others (strongly connected
 * components with more than one module, Tarjan's algorithm), each sorted, as `a, b, c`.
 */
export function moduleCycles(graph: Map<string, Set<string>>): string[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const groups: string[] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      group.push(w);
    } while (w !== v);
    if (group.length > 1) groups.push(group.sort().join(', '));
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return groups.sort();
}

if (process.argv[1] === import.meta.filename) {
  const files = sourceFiles();
  console.log(`functions over ${MAX_FUNCTION_LINES} lines:`, longFunctions(files));
  console.log(`files over ${MAX_FILE_LINES} lines:`, longFiles(files));
  console.log('module cycles:', moduleCycles(moduleGraph(files)));
  console.log('imports past an index.ts:', importsPastIndex(files));
}
