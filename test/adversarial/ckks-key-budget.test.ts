import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import {
  decryptionKl,
  floodingSigmaFor,
  KEY_KL_BUDGET,
  SUM_8192,
} from '../../crypto/ckks/parameters.ts';
import { MaliciousCoordinator } from './ckks-coordinator-harness.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK (on the flooding's key-life bound): the flooding is sized for R = 1 000 rounds of
 * K = 123 ciphertexts and 10 contributors, but keyholders counted rounds only. The KL divergence
 * a decryption leaks grows with K·n², so a key whose rounds are large — thousands of
 * contributors, or 10^9 parameters — falls below 40 bits long before round 1 000 (with slot
 * encoding and 2^69 flooding, 100 contributors per round already did: 33 bits). Defence: each
 * decryption is charged its own KL and one that would take the key past 2^−40 is refused with
 * RESOURCE_EXHAUSTED, naming the figures.
 */
let coordinator: MaliciousCoordinator;

beforeAll(async () => {
  coordinator = await MaliciousCoordinator.start();
}, 300_000);

afterAll(() => coordinator?.stop());

const hex = () => randomBytes(32).toString('hex');

describe("a key's flooding budget is charged by what each decryption leaks, not by rounds", () => {
  it('refuses the decryption that would take the key below 40 bits after honest rounds of 5 000 contributors', async () => {
    const keyHex = Buffer.from(keySha256(coordinator.publicKey)).toString('hex');
    // Honest past rounds as keyholder 1 logged them: 245 ciphertexts, 5 000 contributors each —
    // far fewer than the 1 000 rounds the key's life counts.
    const sigma = floodingSigmaFor(SUM_8192, 2, 5e-5);
    const perRound = decryptionKl(SUM_8192, sigma, 245, 5000, 3);
    const rounds = Math.ceil(KEY_KL_BUDGET / perRound);
    expect(rounds).toBeLessThan(1000);
    const id = coordinator.keyholders.get(1)!.id;
    const log = join(coordinator.consortium.directory, `keyholder-${id}`, 'decryptions.jsonl');
    for (let r = 0; r < rounds; r++) {
      appendFileSync(
        log,
        JSON.stringify({
          kind: 'decryption',
          at: new Date().toISOString(),
          round: `past/round-${r}`,
          caller: 'veilsum-coordinator',
          key: keyHex,
          aggregateSha256: hex(),
          ciphertexts: Array.from({ length: 245 }, hex),
          responders: [1, 2],
          contributors: 5000,
          partialsSha256: hex(),
        }) + '\n',
      );
    }
    await coordinator.restartKeyholder(1);
    // An honest round of 3: receipted, summed, closed — what any keyholder would decrypt.
    const round = await coordinator.openRound(2);
    const uploads = await Promise.all([1, 2, 3].map((n) => coordinator.honestUpload(round, n)));
    const aggregate = await coordinator.sum(uploads);
    await coordinator.closeRound(
      round,
      uploads.map((u) => u.memberId),
      aggregate,
      uploads.map((u) => u.receipt),
    );
    const error = await refusalOf(coordinator.prepare(1, round, uploads));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(
      new RegExp(
        `decrypting round .* \\(2 ciphertexts, 3 contributors\\) would take key ${keyHex.slice(0, 16)}… below 40 bits of statistical security: its flooding budget is KL 2\\^-40, the ${rounds} earlier decryptions all its keyholders recorded spent`,
      ),
    );
    expect(coordinator.grants(1, round.roundId)).toEqual([]);
    // Keyholder 2, whose key has decrypted nothing yet, still takes the same round.
    await coordinator.prepare(2, round, uploads);
  }, 600_000);
});
