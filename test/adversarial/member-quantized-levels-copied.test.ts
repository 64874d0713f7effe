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

  /**
   * One round of MEMBERS; member 1's levels are `hold(levels)` (its array type) passed with
   * `handOver`, then zeroed by the caller right after the call. Returns what member 1 sent
   * (the sum minus the others' levels), the levels checked, and which journal names it claimed.
   */
  let roundNumber = 0;
  async function overwriteAfterCall(hold: (levels: Uint32Array) => Uint32Array, handOver: boolean) {
    const coordinator = new MaliciousCoordinator(consortium, {}, 'review-toctou');
    await coordinator.start();
    const opened = await coordinator
      .open(complete(consortium.members), ++roundNumber)
      .catch(async (error: unknown) => {
        await coordinator.stop();
        throw error;
      });
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
      levels[0] = hold(levels[0]!);
      const outcomes = clients.map((client, m) =>
        client.participateQuantized(round, levels[m]!, {
          waitForResult: false,
          quantizedFrom: () => [floats[m]!],
          ...(m === 0 && handOver ? { handOverLevels: true } : {}),
        }),
      );
      // The attacker's code, after the check: member 1 swaps in other levels (all zero).
      levels[0].fill(0);
      const settled = await Promise.allSettled(outcomes);
      expect(settled.map((s) => s.status)).toEqual(new Array(MEMBERS).fill('fulfilled'));
      const sum = coordinator.sum();
      // What member 1 contributed: the sum minus the other members' known levels (mod 2^32).
      const sent = sum.sum.map((word, i) => {
        let rest = word;
        for (let m = 1; m < MEMBERS; m++) rest = (rest - levels[m]![i]!) >>> 0;
        return rest;
      });
      // The journal claimed both names of what was summed: its floats' and its levels' digests.
      const claimed = (digest: string) => existsSync(join(journal, `${digest}.json`));
      return {
        sentIsChecked: Array.from(sent).every((v, i) => v === checked[i]),
        sentIsZero: Array.from(sent).every((v) => v === 0),
        claimed: {
          floats: claimed(updateDigest(floats[0]!)),
          levels: claimed(updateDigest(checked)),
        },
      };
    } finally {
      rmSync(journal, { recursive: true, force: true });
      for (const client of clients) client.close();
      await coordinator.stop();
    }
  }

  it('overwriting the level array after the call does not change what is summed', async () => {
    expect(await overwriteAfterCall((levels) => levels, false)).toEqual({
      sentIsChecked: true,
      sentIsZero: false,
      claimed: { floats: true, levels: true },
    });
  }, 120_000);

  // handOverLevels (the bank's peer: a 10^7-value vector it never touches again) takes a plain
  // array uncopied; an array another thread can write (a SharedArrayBuffer) or of another class
  // is still copied, so even a caller breaking the hand-over contract cannot change the sum then.
  it('handOverLevels copies an array over shared memory or of a subclass all the same', async () => {
    const shared = (levels: Uint32Array) => {
      const array = new Uint32Array(new SharedArrayBuffer(levels.byteLength));
      array.set(levels);
      return array;
    };
    class Levels extends Uint32Array {}
    const subclass = (levels: Uint32Array) => Levels.from(levels);
    const expected = {
      sentIsChecked: true,
      sentIsZero: false,
      claimed: { floats: true, levels: true },
    };
    expect(await overwriteAfterCall(shared, true)).toEqual(expected);
    expect(await overwriteAfterCall(subclass, true)).toEqual(expected);
  }, 120_000);
});
