import { describe, expect, it } from '@jest/globals';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { seededRandom } from '../../crypto/random.ts';
import {
  judgeShareComplaint,
  sealShareBoxes,
  shareComplaint,
  signedShareBoxes,
} from '../../crypto/secagg/share-box.ts';
import { advertiseKeysPayload } from '../../crypto/secagg/transcript.ts';
import { encodeShare, SHARE_BYTES } from '../../crypto/shamir.ts';

/**
 * Review (attacker): "false accusers are named, never the accused" — "an honest sender never is
 * accused". The sender's signature on a box covered (binding, sender, recipient, A, ciphertext)
 * but not the recipient key it sealed to (now each box's Merkle leaf names that key), and the judge takes "the accuser's advertised key" as
 * the coordinator gives it. A colluding recipient v signs two AdvertiseKeys (encryption keys C1
 * and C2; nothing commits U1's keys, only U1's indices); the coordinator serves C1 to the honest
 * sender w and judges with C2. w's honest box does not open under X25519(c2, E), the DLEQ
 * evidence verifies, and judgeShareComplaint — the function "anyone can run … from public data"
 * — names w. w's own signature cannot clear it: it does not say which key w sealed to.
 */
const random = seededRandom(4242);
const binding = random(32);

describe('review: an equivocating accuser frames an honest sender', () => {
  it('an honest box sealed to the key its recipient advertised is never judged the sender’s fault', () => {
    // Honest sender w = 1.
    const wIdentity = random(32);
    const wIdentityKey = curve.ed25519PublicKey(wIdentity);
    // Colluding recipient v = 2: one identity, two encryption keys, both advertised and signed.
    const vIdentity = random(32);
    const c1 = random(32);
    const c2 = random(32);
    const C1 = curve.x25519PublicKey(c1);
    const C2 = curve.x25519PublicKey(c2);
    const masking = curve.x25519PublicKey(random(32));
    const sealingKey = curve.ed25519PublicKey(random(32));
    const commitment = random(32);
    const advert = (key: Uint8Array) =>
      curve.sign(vIdentity, advertiseKeysPayload(binding, 2, key, masking, sealingKey, commitment));
    const vIdentityKey = curve.ed25519PublicKey(vIdentity);
    // Both advertisements verify under v's identity key: either may be "v's advertised key".
    expect(
      curve.verify(
        vIdentityKey,
        advertiseKeysPayload(binding, 2, C1, masking, sealingKey, commitment),
        advert(C1),
      ),
    ).toBe(true);
    expect(
      curve.verify(
        vIdentityKey,
        advertiseKeysPayload(binding, 2, C2, masking, sealingKey, commitment),
        advert(C2),
      ),
    ).toBe(true);

    // w, shown C1, seals valid shares to v, honestly.
    const parties = { binding, sender: 1, recipient: 2 };
    const plaintext = new Uint8Array(2 * SHARE_BYTES);
    plaintext.set(encodeShare({ x: 2, y: 12345n }), 0);
    plaintext.set(encodeShare({ x: 2, y: 67890n }), SHARE_BYTES);
    const wSealingSeed = random(32);
    const wSealing = { seed: wSealingSeed, publicKey: curve.ed25519PublicKey(wSealingSeed) };
    const sealed = sealShareBoxes(
      binding,
      1,
      [{ recipient: 2, publicKey: C1, plaintext }],
      wSealing,
      wIdentity,
      curve,
      random,
    );
    const [box] = signedShareBoxes(
      binding,
      { sender: 1, selfMaskCommitment: random(32), ...sealed },
      wSealing.publicKey,
      wIdentityKey,
      () => C1,
      curve,
    )!;

    // v complains with a proof under c2 (it runs any code: the box's proofs are checked against
    // C1, the key w sealed to, and the shared secret is proven under c2); the coordinator judges
    // with C2 — or with C1.
    const complaint = shareComplaint(parties, box!, c2, C1, curve, random);
    expect(complaint.evidence).toBeDefined();
    const verdict = judgeShareComplaint(parties, box!, wIdentityKey, C2, complaint, curve);
    expect(verdict.guilty).toBe('accuser');
    expect(judgeShareComplaint(parties, box!, wIdentityKey, C1, complaint, curve).guilty).toBe(
      'accuser',
    );
  });
});
