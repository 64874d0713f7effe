import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Review s28 (benchmarks/secagg/run.ts), THREAT-REVIEW question 9 (claims). docs/benchmarks.md
 * defines the floor every serverRatio in it is measured against: "the same-run PRG floors
 * (ChaCha20 expansion plus vector additions, single thread)" and "The floor is single-threaded
 * mask expansion plus vector additions, measured in the same run". This change measures the
 * server's floor through the server's own MaskPool instead (`floorOf(..., 'pool')`): the floor
 * now holds the pool's costs — two threads contending for 2 shared vCPUs, each job posted to a
 * worker, each worker's partial vector sent back and added on the main thread — which are costs
 * of the server's implementation, the very ones the ratio exists to show (docs/benchmarks.md
 * itself names "0.4 ms per expansion in the mask workers against the floor's 0.29" as server
 * overhead over the floor). The ratio falls with no change in the work: `npm run bench:secagg --
 * --clients 100 --dim 100000 --clock cpu` (load 2.4) printed serverMs 194, serverFloorMs 47.6
 * (pool), serverFloorSingleThreadMs 37.9: serverRatio 4.07 where the documented floor gives 5.12
 * (1.26x flattered), and the published ratios and this one are no longer the same measure.
 * The fix: serverRatio against the single-thread floor (as documented), the pool's figure beside
 * it under its own name — or, if the pool floor is wanted, say so in docs/benchmarks.md and keep
 * both ratios. Here MaskPool.combine is counted in the bench process: the round combines once;
 * the floor must not go through the pool at all.
 */
const root = resolve(import.meta.dirname, '../..');

describe('review s28: the secagg bench server floor is the documented single-thread floor', () => {
  it('serverRatio is measured against a floor that does not run through the mask pool', () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-s28-bench-'));
    const counts = join(dir, 'combines.txt');
    const preload = join(dir, 'count-combines.mjs');
    const poolUrl = pathToFileURL(join(root, 'services/compute/mask-pool.ts')).href;
    writeFileSync(
      preload,
      [
        `import { writeFileSync } from 'node:fs';`,
        `const { MaskPool } = await import(${JSON.stringify(poolUrl)});`,
        `const combine = MaskPool.prototype.combine;`,
        `let calls = 0;`,
        `MaskPool.prototype.combine = function (...args) { calls++; return combine.apply(this, args); };`,
        `process.on('exit', () => writeFileSync(${JSON.stringify(counts)}, String(calls)));`,
      ].join('\n'),
    );
    const out = join(dir, 'report.json');
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        pathToFileURL(preload).href,
        'benchmarks/secagg/run.ts',
        ...['--clients', '20', '--dim', '20000', '--workers', '2', '--clock', 'cpu'],
        ...['--out', out],
      ],
      { cwd: root, encoding: 'utf8', timeout: 240_000 },
    );
    expect({ status: run.status, stderr: run.stderr.slice(-2000) }).toEqual({
      status: 0,
      stderr: expect.any(String),
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    expect(report.workers).toBe(2);
    expect(report.correct).toBe(true);
    // One combine: the server's own, in the round. Today 1 + the floor's passes (≥ 6).
    expect(Number(readFileSync(counts, 'utf8'))).toBe(1);
  });
});
