import { beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { ServiceProcess } from './fault-harness.ts';

describe("fault: the coordinator's TLS private key is readable by others", () => {
  let consortium: Consortium;
  let exposedKey = '';
  beforeAll(async () => {
    consortium = await createConsortium(3, 'keymode');
    exposedKey = join(consortium.directory, 'exposed-server.key');
    copyFileSync(consortium.config.tls.privateKey, exposedKey);
    chmodSync(exposedKey, 0o644);
  });

  it('is refused at start-up with the chmod to run, and the process exits non-zero', async () => {
    const config = {
      ...consortium.config,
      tls: { ...consortium.config.tls, privateKey: exposedKey },
    };
    expect(() => new Coordinator(config, pino({ level: 'silent' }))).toThrow(
      `private key ${exposedKey} has mode 644; it must be readable by its owner only (chmod 600 ${exposedKey})`,
    );
    const path = join(consortium.directory, 'exposed.json');
    await expect(ServiceProcess.coordinator(config, path)).rejects.toThrow(/chmod 600/);
  }, 60_000);
});
