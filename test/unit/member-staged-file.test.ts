import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A process that can reserve no WebAssembly memory (its address space used up): the staging
// buffers are ordinary ones, and the file opened with O_DIRECT is written through a second,
// buffered descriptor. Patched before the module is loaded: it takes the constructor at load.
const wasm = (globalThis as unknown as { WebAssembly: { Memory: unknown } }).WebAssembly;
const realMemory = wasm.Memory;
wasm.Memory = function Memory(): never {
  throw new RangeError('WebAssembly.Memory(): could not allocate memory');
};
const { StagedFile } = await import('../../services/member/staged-file.ts');
wasm.Memory = realMemory;

const folder = mkdtempSync(join(tmpdir(), 'veilsum-staged-file-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('a staged file without page-aligned staging buffers', () => {
  it('writes every byte through the page cache, straddling stages, to its exact length', async () => {
    const bytes = Uint8Array.from({ length: 9 * 1024 * 1024 + 20 }, (_, i) => (i * 31) & 0xff);
    const path = join(folder, 'values.f32');
    const file = await StagedFile.create(path);
    const seen: number[] = [];
    try {
      for (let offset = 0; offset < bytes.length; offset += 3 * 1024 * 1024)
        await file.append(bytes.subarray(offset, offset + 3 * 1024 * 1024), (staged) =>
          seen.push(staged.length),
        );
      await file.finish(bytes.length);
    } finally {
      await file.close();
    }
    expect(seen.reduce((a, b) => a + b, 0)).toBe(bytes.length);
    const written = readFileSync(path);
    expect(written.length).toBe(bytes.length);
    expect(Buffer.compare(written, Buffer.from(bytes))).toBe(0);
  });
});
