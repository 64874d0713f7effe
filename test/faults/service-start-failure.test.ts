import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { ServiceProcess } from './fault-harness.ts';

/** Generous for a loaded machine; the old failure mode is a process that never exits at all. */
const EXIT_WITHIN_MS = 15_000;

describe('fault: a service that cannot start', () => {
  let consortium: Consortium;
  let occupier: Server;
  let busyPort = 0;
  beforeAll(async () => {
    consortium = await createConsortium(3, 'boot', { keyholders: 1, ledger: true });
    occupier = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    busyPort = (occupier.address() as { port: number }).port;
  });
  afterAll(() => {
    occupier.close();
  });

  async function expectLoudExit(process: ServiceProcess, reason: RegExp): Promise<void> {
    const ended = await process.exit(EXIT_WITHIN_MS);
    if (ended === 'running') await process.kill();
    expect(ended).not.toBe('running');
    const { code } = ended as { code: number | null };
    expect(typeof code === 'number' && code !== 0).toBe(true);
    expect(process.lines.join('\n')).toMatch(reason);
  }

  it('a coordinator whose address is in use exits non-zero saying so', async () => {
    const path = join(consortium.directory, 'busy-coordinator.json');
    writeFileSync(path, JSON.stringify({ ...consortium.config, listen: `127.0.0.1:${busyPort}` }));
    await expectLoudExit(
      ServiceProcess.spawn('coordinator', path),
      /start failed.*(EADDRINUSE|in use)/i,
    );
  }, 30_000);

  it('a coordinator whose event log is not a database exits non-zero saying so', async () => {
    const dataDir = join(consortium.directory, 'garbled-data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'coordinator.db'), Buffer.alloc(8192, 0x5a));
    const path = join(consortium.directory, 'garbled-coordinator.json');
    writeFileSync(path, JSON.stringify({ ...consortium.config, dataDir }));
    await expectLoudExit(ServiceProcess.spawn('coordinator', path), /failed.*not a database/i);
  }, 30_000);

  it('a coordinator with an unreadable config exits non-zero naming the file', async () => {
    const path = join(consortium.directory, 'broken.json');
    writeFileSync(path, '{ "listen": ');
    await expectLoudExit(
      ServiceProcess.spawn('coordinator', path),
      /cannot read coordinator config/,
    );
  }, 30_000);

  it('a keyholder whose address is in use exits non-zero saying so', async () => {
    const path = join(consortium.directory, 'busy-keyholder.json');
    const config = consortium.local.keyholderConfig(consortium.keyholders[0]!);
    writeFileSync(path, JSON.stringify({ ...config, listen: `127.0.0.1:${busyPort}` }));
    await expectLoudExit(
      ServiceProcess.spawn('keyholder', path),
      /start failed.*(EADDRINUSE|in use)/i,
    );
  }, 30_000);
});
