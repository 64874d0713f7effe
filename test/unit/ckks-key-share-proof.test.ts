import { describe, expect, it } from '@jest/globals';
import { generateKeyShare } from '../../crypto/ckks/collective-keys.ts';
import { InvalidEncryptionProofError } from '../../crypto/ckks/encryption-proof.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { ceremonyReferencePolynomial } from '../../crypto/ckks/key-ceremony.ts';
import {
  type KeyShareStatement,
  proveKeyShare,
  verifyKeyShare,
} from '../../crypto/ckks/key-share-proof.ts';
import { TEST_4096 } from '../../crypto/ckks/parameters.ts';
import { seededRandom } from '../../crypto/random.ts';

const engine = await CkksEngine.create(TEST_4096);
const a = ceremonyReferencePolynomial(engine.keyRns, new Uint8Array(32).fill(1));
const otherA = ceremonyReferencePolynomial(engine.keyRns, new Uint8Array(32).fill(2));
const statement: KeyShareStatement = {
  ceremonyId: 'ceremony-1',
  transcript: new Uint8Array(32).fill(3),
  keyholderId: 'keyholder-1',
};
const share = generateKeyShare(a, engine.keyRns, seededRandom(4));
const proof = proveKeyShare(engine, a, share, statement, seededRandom(5));

function refusal(run: () => void): InvalidEncryptionProofError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEncryptionProofError);
    return error as InvalidEncryptionProofError;
  }
  throw new Error('the proof verified');
}

describe('proof of knowledge of a short secret behind a public key share', () => {
  it('verifies for the share, the reference polynomial and the statement it was made for', () => {
    expect(() => verifyKeyShare(engine, a, share.publicShare, statement, proof)).not.toThrow();
  });

  it('proves nothing for another keyholder, ceremony or transcript (no borrowed or replayed proof)', () => {
    for (const other of [
      { ...statement, keyholderId: 'keyholder-2' },
      { ...statement, ceremonyId: 'ceremony-2' },
      { ...statement, transcript: new Uint8Array(32).fill(4) },
    ])
      expect(
        refusal(() => verifyKeyShare(engine, a, share.publicShare, other, proof)).message,
      ).toMatch(/does not verify/);
  });

  it('proves nothing for another share or another a', () => {
    const other = generateKeyShare(a, engine.keyRns, seededRandom(6));
    refusal(() => verifyKeyShare(engine, a, other.publicShare, statement, proof));
    refusal(() => verifyKeyShare(engine, otherA, share.publicShare, statement, proof));
  });

  it('a rogue share p_m = p* − p_honest has no proof: its "witness" is not short', () => {
    // The colluder knows (s*, e*) for p* and the honest p_h, so p_m = p* − p_h = −a·(s* − s_h)
    // + (e* − e_h) — but it does not know s_h. Proving with its own witness fails to verify.
    const target = generateKeyShare(a, engine.keyRns, seededRandom(7));
    const { degree, moduli } = engine.keyRns;
    const rogue = target.publicShare.map((value, c) => {
      const q = moduli[Math.floor(c / degree)]!;
      return (value + q - share.publicShare[c]!) % q;
    });
    const forged = proveKeyShare(
      engine,
      a,
      { ...target, publicShare: rogue },
      statement,
      seededRandom(8),
    );
    refusal(() => verifyKeyShare(engine, a, rogue, statement, forged));
  });
});
