import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { statusOf } from './fault-harness.ts';

describe('fault: a request carries a 1 MiB round id', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  const logLines: string[] = [];
  beforeAll(async () => {
    consortium = await createConsortium(3, 'longid');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    coordinator = new Coordinator(
      { ...consortium.config, listen: '127.0.0.1:0' },
      pino({ level: 'info' }, sink),
    );
    await coordinator.start();
  });
  afterAll(async () => {
    await coordinator.stop();
  });

  it('is refused INVALID_ARGUMENT without echoing or logging the id', async () => {
    const member = VeilsumClient.connect(
      consortium.profile(consortium.members[0]!, coordinator.port),
    );
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      const id = 'x'.repeat(1 << 20);
      for (const read of [
        () => member.getRound(id),
        () => member.getAggregate(id),
        () => admin.waitForResult(id),
      ]) {
        const refused = await statusOf(read());
        expect(refused.code).toBe('INVALID_ARGUMENT');
        expect(refused.details).toContain('round ids are at most 160');
        expect(refused.details.length).toBeLessThan(400);
      }
      expect(logLines.length).toBeGreaterThan(0);
      for (const line of logLines) expect(line.length).toBeLessThan(2_000);
    } finally {
      member.close();
      admin.close();
    }
  });
});
