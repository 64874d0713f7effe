import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { ServiceProcess } from './fault-harness.ts';

describe('fault: staged upload files left behind by a SIGKILL', () => {
  let consortium: Consortium;
  beforeAll(async () => {
    consortium = await createConsortium(3, 'orphan');
  });

  it('are removed when the coordinator starts; committed blobs stay', async () => {
    const first = await ServiceProcess.coordinator(consortium.config, consortium.configPath);
    await first.process.kill('SIGKILL');
    const folder = join(consortium.config.dataDir, 'blobs', '0123456789abcdef0123456789abcdef');
    mkdirSync(folder, { recursive: true });
    const orphans = ['upload.a1b2c3d4e5f6.partial', 'aggregate.u32.partial'];
    for (const name of orphans) writeFileSync(join(folder, name), Buffer.alloc(4096, 7));
    writeFileSync(join(folder, 'upload-1.u32'), Buffer.alloc(16, 1));

    const second = await ServiceProcess.coordinator(consortium.config, consortium.configPath);
    try {
      expect(readdirSync(folder).sort()).toEqual(['upload-1.u32']);
      for (const name of orphans) expect(existsSync(join(folder, name))).toBe(false);
      expect(second.process.events()).toContainEqual(
        expect.objectContaining({ event: 'partials-swept', files: 2 }),
      );
    } finally {
      await second.process.kill('SIGTERM');
    }
  }, 60_000);
});
