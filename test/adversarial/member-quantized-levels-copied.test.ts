import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { quantize } from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';
import { updateDigest } from '../../sdk/unmask-journal.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessRound, MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * Attack (a data scientist's code, time of check / time of use): participateQuantized checks,
 * synchronously, that every level is a rounding of the floats `quantizedFrom` shows and names the
 * update by their digest — then masks `input` many awaits later, without a copy. The caller
 * overwrites its level array right after the call returns: the journal holds the digest of the
 * floats checked, the sum holds other levels. Measured: which levels entered the sum.
 */
const MEMBERS = 8;
const DIMENSION = 16;

const complete = (members: string[]): HarnessRound => ({
  members,
  degree: members.length - 1,
  threshold: members.length - 2,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 0.125,
  dimension: DIMENSION,
});

describe('review: the levels that enter the sum are the levels participateQuantized checked', () => {
  let consortium: Consortium;
  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'review-toctou');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  it('overwriting the level array after the call does not change what is summed', async () => {
    const coordinator = new MaliciousCoordinator(consortium, {}, 'review-toctou');
    await coordinator.start();
    const opened = await coordinator.open(complete(consortium.members), 1);
    const journal = mkdtempSync(join(tmpdir(), 'review-toctou-journal-'));
    const clients = consortium.members.map((member, m) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
        ...(m === 0 ? { journal } : {}),
      }),
    );
    try {
      const round = await clients[0]!.getRound(opened.roundId);
      const params = round.params!.quantization!;
      const floats = clients.map((_, m) =>
        Float32Array.from({ length: DIMENSION }, (_, j) => Math.sin(3 * m + j) / 2),
      );
      const levels = floats.map((f, m) => quantize(f, params, seededRandom(m + 1)));
      const checked = Uint32Array.from(levels[0]!);
      const outcomes = clients.map((client, m) =>
        client.participateQuantized(round, levels[m]!, {
          waitForResult: false,
          quantizedFrom: () => [floats[m]!],
        }),
      );
      // The attacker's code, after the check: member 1 swaps in other levels (all zero).
      levels[0]!.fill(0);
      const settled = await Promise.allSettled(outcomes);
      expect(settled.map((s) => s.status)).toEqual(new Array(MEMBERS).fill('fulfilled'));
      const sum = coordinator.sum();
      // What member 1 contributed: the sum minus the other members' known levels (mod 2^32).
      const sent = sum.sum.map((word, i) => {
        let rest = word;
        for (let m = 1; m < MEMBERS; m++) rest = (rest - levels[m]![i]!) >>> 0;
        return rest;
      });
      expect({
        sentIsChecked: Array.from(sent).every((v, i) => v === checked[i]),
        sentIsZero: Array.from(sent).every((v) => v === 0),
      }).toEqual({ sentIsChecked: true, sentIsZero: false });
      // The journal claimed both names of what was summed: its floats' and its levels' digests.
      const claimed = (digest: string) => existsSync(join(journal, `${digest}.json`));
      expect({
        floats: claimed(updateDigest(floats[0]!)),
        levels: claimed(updateDigest(checked)),
      }).toEqual({ floats: true, levels: true });
    } finally {
      rmSync(journal, { recursive: true, force: true });
      for (const client of clients) client.close();
      await coordinator.stop();
    }
  }, 120_000);
});
