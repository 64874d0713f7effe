import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { MaliciousCoordinator, type StagedRound } from './ckks-coordinator-harness.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK (on the key's life, issue 18 item 3): the flooding is sized for a key's life of R rounds,
 * but each keyholder counted only its own decryption log. A coordinator colluding with t − 1
 * keyholders (here keyholder 3 of a 2-of-3 key: the attacker holds its share and needs no answer
 * from it) asks the n − t + 1 honest keyholders in turn — keyholder 1 for round A, keyholder 2
 * for round B — so the key decrypts (n − t + 1)·R rounds while no keyholder's own count passes
 * R. Real keyholder processes with keyLifeRounds = 1. Defence: each keyholder records its
 * decryption on the ledger before releasing the partial and counts every keyholder's records
 * for the key before answering; round B is RESOURCE_EXHAUSTED naming the key, and keyholder 2
 * sends nothing.
 */
let coordinator: MaliciousCoordinator;

beforeAll(async () => {
  coordinator = await MaliciousCoordinator.start();
  for (const index of [1, 2, 3]) await coordinator.restartKeyholder(index, { keyLifeRounds: 1 });
}, 300_000);

afterAll(async () => {
  if (coordinator === undefined) return;
  const exits = [...coordinator.keyholders.values()].map(
    ({ child }) =>
      new Promise((resolve) =>
        child.exitCode !== null || child.signalCode !== null
          ? resolve(undefined)
          : child.once('exit', resolve),
      ),
  );
  coordinator.stop();
  await Promise.all(exits);
  rmSync(coordinator.consortium.directory, { recursive: true, force: true });
});

/** An honest round of 3 members: receipted, summed and closed on the ledger. */
async function closedRound() {
  const round = await coordinator.openRound(2);
  const uploads = await Promise.all([1, 2, 3].map((n) => coordinator.honestUpload(round, n)));
  const aggregate = await coordinator.sum(uploads);
  await coordinator.closeRound(
    round,
    uploads.map((u) => u.memberId),
    aggregate,
    uploads.map((u) => u.receipt),
  );
  return { round, uploads, aggregate };
}

/** What keyholder `index` sends for `round` with responders [index, 3], or its refusal. */
async function askInTurn(
  index: number,
  { round, uploads, aggregate }: Awaited<ReturnType<typeof closedRound>> & { round: StagedRound },
) {
  await coordinator.prepare(index, round, uploads);
  return coordinator.partialDecrypt(index, round, aggregate, [index, 3]);
}

describe("a key's life is the key's, whichever keyholders answer", () => {
  it('refuses the second round of a one-round key to the next honest keyholder in turn (RESOURCE_EXHAUSTED naming the key)', async () => {
    const keyHex = Buffer.from(keySha256(coordinator.publicKey)).toString('hex');
    const roundA = await closedRound();
    const partialsA = await askInTurn(1, roundA);
    expect(partialsA).toHaveLength(roundA.aggregate.length);
    const roundB = await closedRound();
    const error = await refusalOf(askInTurn(2, roundB));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(
      new RegExp(`key ${keyHex.slice(0, 16)}… has decrypted 1 rounds, the most its flooding`),
    );
    // Keyholder 1 had put its decryption of round A on the ledger, for the others to count.
    const recorded = await coordinator.ledger.keyDecryptions(keyHex);
    expect(recorded.map((r) => [r.roundId, r.ciphertexts, r.contributors])).toEqual([
      [roundA.round.roundId, roundA.aggregate.length, 3],
    ]);
    expect(recorded[0]!.kl).toBeGreaterThan(0);

    // Nothing of round B left keyholder 2, and nothing was charged for it.
    expect(coordinator.grants(2, roundB.round.roundId)).toEqual([]);
    expect(await coordinator.ledger.keyDecryptions(keyHex)).toHaveLength(1);
    // The same answer from keyholder 3, and again from keyholder 1 (who counts its own too).
    for (const index of [3, 1]) {
      const again = await refusalOf(coordinator.prepare(index, roundB.round, roundB.uploads));
      expect(again.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    }
    // Round A itself may still be fetched again by its own responders (same bytes).
    expect(await coordinator.partialDecrypt(1, roundA.round, roundA.aggregate, [1, 3])).toEqual(
      partialsA,
    );
  }, 600_000);
});
