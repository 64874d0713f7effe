import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Attacker review of the bank peer's O_DIRECT staging (services/member/staged-file.ts). Its
 * promise: "A file system that opens with O_DIRECT but refuses its writes (an alignment it needs
 * beyond 4 KiB, a short write left unaligned): the rest goes through the page cache." Such a
 * file system is played here: files open with O_DIRECT, and every direct write fails with EINVAL
 * once two are in flight (a stream of more than one 4 MiB staging buffer keeps two in flight).
 */
const realFs = createRequire(import.meta.url)(
  'node:fs/promises',
) as typeof import('node:fs/promises');
const refusedDirectWrites: (() => void)[] = [];
const refuseDirectWrite = (): Promise<never> =>
  new Promise<never>((_, reject) => {
    const fail = () =>
      reject(Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }));
    refusedDirectWrites.push(fail);
    // Both writes of the file's two staging buffers are refused together (or the first alone
    // after a moment, if only one is ever in flight).
    if (refusedDirectWrites.length >= 2)
      for (const refuse of refusedDirectWrites.splice(0)) refuse();
    else setTimeout(() => refusedDirectWrites.splice(0).forEach((refuse) => refuse()), 200).unref();
  });
jest.unstable_mockModule('node:fs/promises', () => ({
  ...realFs,
  open: async (path: string, flags: string | number, mode?: number): Promise<FileHandle> => {
    const handle = await realFs.open(path, flags, mode);
    if (typeof flags !== 'number' || (flags & constants.O_DIRECT) === 0) return handle;
    return new Proxy(handle, {
      get: (target, name): unknown => {
        if (name === 'write') return refuseDirectWrite;
        const value: unknown = Reflect.get(target, name);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
  },
}));
const { StagedFile, STAGE_BYTES } = await import('../../services/member/staged-file.ts');

const folder = mkdtempSync(join(tmpdir(), 'veilsum-review-s26-staged-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('review s26: a file system that opens O_DIRECT but refuses direct writes', () => {
  it('takes a stream of two staging buffers through the page cache, as promised', async () => {
    const bytes = Uint8Array.from({ length: STAGE_BYTES + 8192 }, (_, i) => (i * 13) & 0xff);
    const path = join(folder, 'values.f32');
    const file = await StagedFile.create(path);
    let failure: unknown;
    try {
      await file.append(bytes.subarray(0, STAGE_BYTES), () => {});
      await file.append(bytes.subarray(STAGE_BYTES), () => {});
      await file.finish(bytes.length);
    } catch (error) {
      failure = error;
    } finally {
      await file.close();
    }
    // The second write's EINVAL is taken for a real error: the first one's fallback had already
    // turned `direct` off, so `!this.direct` rethrows it and the upload is refused.
    expect(failure).toBeUndefined();
    expect(Buffer.compare(readFileSync(path), Buffer.from(bytes))).toBe(0);
  });
});
