import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import {
  InvalidSignatureError,
  TooFewParticipantsError,
  UnexpectedSenderError,
} from '../../crypto/secagg/errors.ts';
import { checkSurvivorSignatures } from '../../crypto/secagg/survivor-signatures.ts';
import { survivorSetPayload } from '../../crypto/secagg/transcript.ts';

const N = 12;
const binding = new Uint8Array(32).fill(3);
const secretKeys = Array.from({ length: N }, (_, i) => new Uint8Array(32).fill(i + 1));
const identityKeys = secretKeys.map((key) => curve.ed25519PublicKey(key));
const sign = (signer: number, survivors: readonly number[]) =>
  curve.sign(secretKeys[signer - 1]!, survivorSetPayload(binding, survivors));

/**
 * A relay of signatures on survivor set S: each entry from a distinct survivor, valid or
 * invalid (a signature on another set, or a flipped bit), in the order the server serves.
 */
const relayArb = fc
  .record({
    survivors: fc.uniqueArray(fc.integer({ min: 1, max: N }), { minLength: 2, maxLength: N }),
    threshold: fc.integer({ min: 2, max: N }),
    validity: fc.array(fc.constantFrom('valid', 'other-set', 'flipped'), {
      minLength: N,
      maxLength: N,
    }),
    signerOrder: fc.array(fc.nat(), { minLength: N, maxLength: N }),
    signerCount: fc.nat(),
  })
  .map(({ survivors, threshold, validity, signerOrder, signerCount }) => {
    const sorted = [...survivors].sort((a, b) => a - b);
    const signers = survivors
      .map((member, i) => ({ member, key: signerOrder[i]! }))
      .sort((a, b) => a.key - b.key)
      .map(({ member }) => member)
      .slice(0, 1 + (signerCount % survivors.length));
    const entries = signers.map((sender, i) => {
      const kind = validity[i]!;
      let signature = sign(sender, sorted);
      if (kind === 'other-set') signature = sign(sender, sorted.slice(1));
      if (kind === 'flipped') {
        signature = signature.slice();
        signature[5]! ^= 0x20;
      }
      return { sender, signature, valid: kind === 'valid' };
    });
    return { survivors: sorted, threshold, entries };
  });

const run = (
  survivors: readonly number[],
  threshold: number,
  signatures: readonly { sender: number; signature: Uint8Array }[],
) => {
  let verifications = 0;
  const counting = {
    verify: (key: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
      verifications++;
      return curve.verify(key, message, signature);
    },
  };
  const verified = checkSurvivorSignatures({
    binding,
    survivors,
    signatures,
    threshold,
    identityKeys,
    curve: counting,
  });
  expect(verifications).toBe(verified);
  return verified;
};

describe('survivor-set signatures: verify until t distinct valid signers (property)', () => {
  it('accepts exactly when the first t entries served are valid, after t verifications', () => {
    fc.assert(
      fc.property(relayArb, ({ survivors, threshold, entries }) => {
        const attempt = () => run(survivors, threshold, entries);
        if (entries.length < threshold) {
          expect(attempt).toThrow(TooFewParticipantsError);
          return;
        }
        const firstInvalid = entries.findIndex((entry) => !entry.valid);
        if (firstInvalid !== -1 && firstInvalid < threshold) {
          // Refused at the first invalid signature it checks, naming its signer.
          expect(attempt).toThrow(InvalidSignatureError);
          expect(attempt).toThrow(
            new RegExp(`client ${entries[firstInvalid]!.sender}'s signature on the survivor set`),
          );
          return;
        }
        // t distinct valid signers on this very set: entries beyond them are never looked at.
        expect(attempt()).toBe(threshold);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a repeated signer or a non-survivor anywhere in the relay, checked or not', () => {
    fc.assert(
      fc.property(relayArb, fc.boolean(), ({ survivors, entries }, repeat) => {
        fc.pre(entries.length >= 2);
        const outsider = [...Array(N).keys()].map((i) => i + 1).find((m) => !survivors.includes(m));
        fc.pre(repeat || outsider !== undefined);
        const extra = repeat
          ? entries[0]!
          : { sender: outsider!, signature: sign(outsider!, survivors) };
        // Placed last, after any t valid ones: structure is checked on every entry.
        expect(() => run(survivors, 2, [...entries, extra])).toThrow(UnexpectedSenderError);
      }),
      { numRuns: 100 },
    );
  });

  it('counts signers, not signatures: t copies from fewer than t members are too few', () => {
    const survivors = [1, 2, 3, 4, 5];
    const signatures = [1, 2].map((signer) => ({
      sender: signer,
      signature: sign(signer, survivors),
    }));
    expect(() => run(survivors, 3, signatures)).toThrow(
      /only 2 clients signed the survivor set, threshold is 3/,
    );
    expect(() => run(survivors, 3, [...signatures, signatures[0]!])).toThrow(UnexpectedSenderError);
  });

  it('binds the convicted ids: signatures on U3 with no conviction do not pass for U3 with one', () => {
    const survivors = [1, 2, 3, 4];
    const signatures = survivors.map((sender) => ({ sender, signature: sign(sender, survivors) }));
    const check = (convicted: number[]) =>
      checkSurvivorSignatures({
        binding,
        survivors,
        convicted,
        signatures,
        threshold: 3,
        identityKeys,
        curve,
      });
    expect(check([])).toBe(3);
    expect(() => check([5])).toThrow(InvalidSignatureError);
  });
});
