import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { VeilsumError } from '../../sdk/errors.ts';
import { DIM, MaliciousCoordinator, update } from './ckks-coordinator-harness.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * A malicious coordinator against real keyholder processes (2 of 3, key from a real ceremony),
 * over the real keyholder gRPC API and a real embedded ledger file. Honest members sign receipts
 * for what they upload; the coordinator lies about everything else. No attack yields a partial.
 */
let coordinator: MaliciousCoordinator;

beforeAll(async () => {
  coordinator = await MaliciousCoordinator.start();
}, 120_000);

afterAll(() => coordinator?.stop());

/** The exact sum of the members' updates (each generated once). */
const sumOf = (members: number[], round: number) => {
  const updates = members.map((m) => update(m, round));
  return Float64Array.from({ length: DIM }, (_, i) =>
    updates.reduce((total, values) => total + values[i]!, 0),
  );
};
const maxError = (a: Float64Array, b: Float64Array) =>
  a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);

describe('a malicious coordinator against real keyholders', () => {
  it('refuses a forged aggregate: bank B alone uploaded, re-randomised, closed as "3 contributors"', async () => {
    const round = await coordinator.openRound(2);
    const b = await coordinator.honestUpload(round, 2);
    const forged = await coordinator.sum([b], true);
    // The contract wants one receipt per included member: the coordinator can only forge A's and C's.
    const fake = (memberId: string) => ({ ...b.receipt, memberId });
    await coordinator.closeRound(
      round,
      [coordinator.member(1), coordinator.member(2), coordinator.member(3)],
      forged,
      [fake(coordinator.member(1)), b.receipt, fake(coordinator.member(3))],
    );
    for (const index of [1, 2]) {
      // Presenting B's upload as A's and C's: A's receipt is not A's signature.
      const prepared = await refusalOf(
        coordinator.prepare(index, round, [
          { ...b, memberId: coordinator.member(1) },
          b,
          { ...b, memberId: coordinator.member(3) },
        ]),
      );
      expect(prepared.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(prepared.message).toMatch(/receipt of bank-01 on the ledger is not signed by bank-01/);
      // Skipping the check altogether.
      const direct = await refusalOf(coordinator.partialDecrypt(index, round, forged, [1, 2]));
      expect(direct.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(direct.message).toMatch(/call PrepareDecryption first/);
    }
    expect(coordinator.grants(1, round.roundId)).toEqual([]);
    expect(coordinator.grants(2, round.roundId)).toEqual([]);
  }, 120_000);

  it('refuses an aggregate that is not the sum of its receipted uploads, even when every receipt is genuine', async () => {
    const round = await coordinator.openRound(2);
    const uploads = await Promise.all([1, 2, 3].map((n) => coordinator.honestUpload(round, n)));
    // All three uploaded and signed; the coordinator commits B's upload, re-randomised, as the sum.
    const forged = await coordinator.sum([uploads[1]!], true);
    await coordinator.closeRound(
      round,
      uploads.map((u) => u.memberId),
      forged,
      uploads.map((u) => u.receipt),
    );
    const error = await refusalOf(coordinator.prepare(1, round, uploads));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.message).toMatch(
      /forged aggregate: .* is not the homomorphic sum of its 3 receipted uploads/,
    );
    // Sending B's upload in place of A's: neither A's receipt (SHA-256) nor A's proofs cover it
    // (the proofs bind member and bytes, and are checked as they arrive, before the hash).
    const swapped = await refusalOf(
      coordinator.prepare(2, round, [
        { ...uploads[1]!, memberId: uploads[0]!.memberId },
        ...uploads.slice(1),
      ]),
    );
    expect(swapped.message).toMatch(
      /upload of bank-01 fails its encryption proof|upload sent for bank-01 .* is not the one it receipted/,
    );
    const direct = await refusalOf(coordinator.partialDecrypt(1, round, forged, [1, 2]));
    expect(direct.message).toMatch(/call PrepareDecryption first/);
    expect(coordinator.grants(1, round.roundId)).toEqual([]);
  }, 120_000);

  it("refuses a round that allows a single contributor: min_contributors 1 is below the keyholders' floor of 2", async () => {
    const round = await coordinator.openRound(1);
    const b = await coordinator.honestUpload(round, 2);
    // Honest in every other respect: B's genuine upload, genuinely receipted, is "the sum".
    await coordinator.closeRound(round, [b.memberId], b.ciphertexts, [b.receipt]);
    const prepared = await refusalOf(coordinator.prepare(1, round, [b]));
    expect(prepared.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(prepared.message).toMatch(
      /allows min contributors 1, below this keyholder's floor of 2 \(max\(2, ⌈\(1 − δ\)·n⌉\)/,
    );
    const direct = await refusalOf(coordinator.partialDecrypt(2, round, b.ciphertexts, [1, 2]));
    expect(direct.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(direct.message).toMatch(/below this keyholder's floor of 2/);
    expect(coordinator.grants(1, round.roundId)).toEqual([]);
    expect(coordinator.grants(2, round.roundId)).toEqual([]);
  }, 120_000);

  it('refuses an aggregate containing an upload without a valid encryption proof (the key-recovery ciphertext c0 = 0, c1 = Δ·X^17, let through by a colluding coordinator)', async () => {
    const round = await coordinator.openRound(2);
    const honest = await coordinator.honestUpload(round, 2);
    // Member 1 colludes: it swaps the key-recovery ciphertext into its proved batch and signs
    // the receipt for those bytes; the coordinator skips its proof check and sums honestly.
    const template = await coordinator.honestUpload(round, 1);
    const crafted = [...template.ciphertexts];
    crafted[0] = coordinator.keyRecoveryCiphertext(crafted[0]!, 17);
    const malicious = coordinator.signedUpload(round, 1, crafted, template.proofs);
    const aggregate = await coordinator.sum([malicious, honest]);
    await coordinator.closeRound(round, [malicious.memberId, honest.memberId], aggregate, [
      malicious.receipt,
      honest.receipt,
    ]);
    const refused = await refusalOf(coordinator.prepare(1, round, [malicious, honest]));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refused.message).toMatch(
      /the upload of bank-01 fails its encryption proof \(ciphertexts 0–1: the encryption proof does not verify/,
    );
    // Or with its proofs left out altogether.
    const unproved = await refusalOf(
      coordinator.prepare(2, round, [{ ...malicious, proofs: [] }, honest]),
    );
    expect(unproved.message).toMatch(
      /the upload of bank-01 came without an encryption proof for ciphertexts 0–1/,
    );
    const direct = await refusalOf(coordinator.partialDecrypt(1, round, aggregate, [1, 2]));
    expect(direct.message).toMatch(/call PrepareDecryption first/);
    expect(coordinator.grants(1, round.roundId)).toEqual([]);
    expect(coordinator.grants(2, round.roundId)).toEqual([]);
  }, 120_000);

  it('never gives a second, different partial of one ciphertext: same set → same bytes (also after a restart), another set → ALREADY_EXISTS', async () => {
    const round = await coordinator.openRound(2);
    const uploads = await Promise.all([1, 2, 3].map((n) => coordinator.honestUpload(round, n)));
    const aggregate = await coordinator.sum(uploads);
    await coordinator.closeRound(
      round,
      uploads.map((u) => u.memberId),
      aggregate,
      uploads.map((u) => u.receipt),
    );
    for (const index of [1, 2, 3]) {
      const reply = await coordinator.prepare(index, round, uploads);
      expect(reply.contributors).toBe(3);
    }
    const first = await coordinator.partialDecrypt(1, round, aggregate, [1, 2]);
    const again = await coordinator.partialDecrypt(1, round, aggregate, [2, 1]);
    expect(again.map((p) => Buffer.from(p).toString('hex'))).toEqual(
      first.map((p) => Buffer.from(p).toString('hex')),
    );
    // The same ciphertext for another responder set — the λ_i·s_i·c1 leak — is refused.
    const other = await refusalOf(coordinator.partialDecrypt(1, round, aggregate, [1, 3]));
    expect(other.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(other.message).toMatch(/already answered for responders \[1,2\]/);
    // Two concurrent requests for different sets at a keyholder not yet bound: exactly one wins.
    const racing = await Promise.allSettled([
      coordinator.partialDecrypt(3, round, aggregate, [1, 3]),
      coordinator.partialDecrypt(3, round, aggregate, [2, 3]),
    ]);
    expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      (
        (racing.find((r) => r.status === 'rejected') as PromiseRejectedResult)
          .reason as VeilsumError
      ).code,
    ).toBe(grpc.status.ALREADY_EXISTS);

    // After a crash and restart the log still binds: same bytes for [1, 2], refusal for [1, 3].
    await coordinator.restartKeyholder(1);
    const afterRestart = await coordinator.partialDecrypt(1, round, aggregate, [1, 2]);
    expect(afterRestart.map((p) => Buffer.from(p).toString('hex'))).toEqual(
      first.map((p) => Buffer.from(p).toString('hex')),
    );
    const otherAfterRestart = await refusalOf(
      coordinator.partialDecrypt(1, round, aggregate, [1, 3]),
    );
    expect(otherAfterRestart.code).toBe(grpc.status.ALREADY_EXISTS);

    // The bytes are a real partial: with keyholder 2's for the same set they decrypt the sum.
    const second = await coordinator.partialDecrypt(2, round, aggregate, [1, 2]);
    const result = coordinator.engine.combine(aggregate, [first, second], DIM);
    expect(maxError(result, sumOf([1, 2, 3], round.params.roundNumber))).toBeLessThan(1e-4);
  }, 180_000);

  it('a key that reaches its life of R rounds refuses further decryptions, across restarts', async () => {
    // Keyholder 2 has answered one round above; restarted with R = 2 it answers one more.
    await coordinator.restartKeyholder(2, { keyLifeRounds: 2 });
    const honestRound = async () => {
      const round = await coordinator.openRound(2);
      const uploads = await Promise.all([1, 2].map((n) => coordinator.honestUpload(round, n)));
      const aggregate = await coordinator.sum(uploads);
      await coordinator.closeRound(
        round,
        uploads.map((u) => u.memberId),
        aggregate,
        uploads.map((u) => u.receipt),
      );
      return { round, uploads, aggregate };
    };
    const second = await honestRound();
    const third = await honestRound();
    expect((await coordinator.prepare(2, second.round, second.uploads)).roundsLeft).toBe(1);
    expect((await coordinator.prepare(2, third.round, third.uploads)).roundsLeft).toBe(1);
    await coordinator.partialDecrypt(2, second.round, second.aggregate, [1, 2]);
    // Verified before the key reached R, asked after: still refused.
    const asked = await refusalOf(
      coordinator.partialDecrypt(2, third.round, third.aggregate, [1, 2]),
    );
    expect(asked.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(asked.message).toMatch(/has decrypted 2 rounds.*run a new key ceremony/);
    const prepared = await refusalOf(coordinator.prepare(2, third.round, third.uploads));
    expect(prepared.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // A restart does not reset the count (it lives in the fsynced decryption log).
    await coordinator.restartKeyholder(2, { keyLifeRounds: 2 });
    const stillRefused = await refusalOf(coordinator.prepare(2, third.round, third.uploads));
    expect(stillRefused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // What it already answered it may send again, byte for byte: that reveals nothing new.
    await coordinator.partialDecrypt(2, second.round, second.aggregate, [1, 2]);
    // Keyholder 1 (R = 1000) verifies the same round: the refusal is the key's age, nothing else.
    expect((await coordinator.prepare(1, third.round, third.uploads)).contributors).toBe(2);
    expect(coordinator.grants(2, third.round.roundId)).toEqual([]);
  }, 180_000);
});
