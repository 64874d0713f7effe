import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

function sources(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every file the SDK reaches through relative imports (static, dynamic, workers' URLs). */
function reachable(starts: string[]): Map<string, string> {
  const from = new Map<string, string>(starts.map((file) => [file, '(sdk)']));
  const queue = [...starts];
  while (queue.length > 0) {
    const file = queue.pop()!;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(
      /(?:from\s+|import\(\s*|new URL\(\s*)'(\.{1,2}\/[^']+\.ts)'/g,
    )) {
      const target = resolve(dirname(file), match[1]!);
      if (from.has(target)) continue;
      from.set(target, file);
      queue.push(target);
    }
  }
  return from;
}

describe('the SDK is a client library below the services', () => {
  it('reaches no file under services/, directly or through another module', () => {
    const graph = reachable(sources(join(ROOT, 'sdk')));
    const offending = [...graph.entries()]
      .filter(([file]) => relative(ROOT, file).startsWith('services/'))
      .map(([file, importer]) => `${relative(ROOT, importer)} → ${relative(ROOT, file)}`);
    expect(offending).toEqual([]);
  });
});
