import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AuthenticationError, openAead } from '../../crypto/aead.ts';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { proveSharedSecret, x25519FromEd25519, x25519FromEd25519Batch } from '../../crypto/dleq.ts';
import { merkleRootFromProof } from '../../crypto/merkle.ts';
import { seededRandom } from '../../crypto/random.ts';
import { checkConvictions } from '../../crypto/secagg/convictions.ts';
import { CoordinatorTamperingError } from '../../crypto/secagg/errors.ts';
import type { Conviction, EncryptedShare, ShareKeysMessage } from '../../crypto/secagg/messages.ts';
import {
  isSignedBySender,
  judgeShareComplaint,
  openShareBox,
  sealShareBoxes,
  shareBoxKey,
  shareComplaint,
  signedShareBoxes,
} from '../../crypto/secagg/share-box.ts';
import {
  shareBoxAssociatedData,
  shareBoxesPayload,
  shareBoxLeaf,
} from '../../crypto/secagg/transcript.ts';
import { encodeShare, SHARE_BYTES } from '../../crypto/shamir.ts';

const random = seededRandom(11);
const binding = random(32);

interface Member {
  readonly index: number;
  readonly identitySecretKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly encryptionSecretKey: Uint8Array;
  readonly encryptionPublicKey: Uint8Array;
  /** σ and A: the key the member seals its boxes under, as it advertises it. */
  readonly sealing: { readonly seed: Uint8Array; readonly publicKey: Uint8Array };
}

function member(index: number): Member {
  const identitySecretKey = random(32);
  const encryptionSecretKey = random(32);
  const sealingSeed = random(32);
  return {
    index,
    identitySecretKey,
    identityKey: curve.ed25519PublicKey(identitySecretKey),
    encryptionSecretKey,
    encryptionPublicKey: curve.x25519PublicKey(encryptionSecretKey),
    sealing: { seed: sealingSeed, publicKey: curve.ed25519PublicKey(sealingSeed) },
  };
}

const members = [1, 2, 3, 4].map(member);
const [u, v, w] = members as [Member, Member, Member, Member];

/** Two valid shares at the recipient's index, as a client seals them. */
function sharesFor(recipient: number): Uint8Array {
  const plaintext = new Uint8Array(2 * SHARE_BYTES);
  plaintext.set(encodeShare({ x: recipient, y: 12345n }), 0);
  plaintext.set(encodeShare({ x: recipient, y: 67890n }), SHARE_BYTES);
  return plaintext;
}

const parties = (sender: Member, recipient: Member) => ({
  binding,
  sender: sender.index,
  recipient: recipient.index,
});

/** `sender`'s ShareKeys boxes to every other member, `plaintext` in the one to `recipient`. */
function shareKeys(
  sender: Member,
  recipient: Member,
  plaintext = sharesFor(recipient.index),
): ShareKeysMessage {
  const sealed = sealShareBoxes(
    binding,
    sender.index,
    members
      .filter((peer) => peer !== sender)
      .map((peer) => ({
        recipient: peer.index,
        publicKey: peer.encryptionPublicKey,
        plaintext: peer === recipient ? plaintext : sharesFor(peer.index),
      })),
    sender.sealing,
    sender.identitySecretKey,
    curve,
    random,
  );
  return { sender: sender.index, selfMaskCommitment: new Uint8Array(32), ...sealed };
}

const encryptionKeyOf = (index: number) => members[index - 1]!.encryptionPublicKey;

/** `sender`'s box to `recipient` as the coordinator delivers it (signed root, path). */
function seal(sender: Member, recipient: Member, plaintext = sharesFor(recipient.index)) {
  const message = shareKeys(sender, recipient, plaintext);
  const delivered = signedShareBoxes(
    binding,
    message,
    sender.sealing.publicKey,
    sender.identityKey,
    encryptionKeyOf,
    curve,
  )!;
  return delivered[message.encryptedShares.findIndex((box) => box.peer === recipient.index)]!;
}

/** `sender`'s box to `recipient` in another round: another binding, another sealing key. */
function sealInAnotherRound(sender: Member, recipient: Member): EncryptedShare {
  const seed = random(32);
  const sealing = { seed, publicKey: curve.ed25519PublicKey(seed) };
  const { encryptedShares, signature, ephemeralSignature } = sealShareBoxes(
    random(32),
    sender.index,
    [
      {
        recipient: recipient.index,
        publicKey: recipient.encryptionPublicKey,
        plaintext: sharesFor(recipient.index),
      },
    ],
    sealing,
    sender.identitySecretKey,
    curve,
    random,
  );
  return {
    peer: sender.index,
    ephemeralPublicKey: sealing.publicKey,
    ciphertext: encryptedShares[0]!.ciphertext,
    signature,
    ephemeralSignature,
    path: [],
  };
}

/** Signs a box's root again as `sender` (identity key) and, given its seed, as the sealing key. */
function resign(
  sender: Member,
  recipient: Member,
  box: EncryptedShare,
  sealingSeed?: Uint8Array,
): EncryptedShare {
  const root = merkleRootFromProof(
    shareBoxLeaf(recipient.index, recipient.encryptionPublicKey, box.ciphertext),
    box.path,
  );
  const payload = shareBoxesPayload(binding, sender.index, box.ephemeralPublicKey, root);
  return {
    ...box,
    signature: curve.sign(sender.identitySecretKey, payload),
    ...(sealingSeed ? { ephemeralSignature: curve.sign(sealingSeed, payload) } : {}),
  };
}

/** A bad box its sender signed itself, sealing-key proof included (what a malicious member can send). */
function signedGarbage(sender: Member, recipient: Member): EncryptedShare {
  const box = seal(sender, recipient);
  const ciphertext = box.ciphertext.slice();
  ciphertext[5]! ^= 0x40;
  return resign(sender, recipient, { ...box, ciphertext }, sender.sealing.seed);
}

/** The recipient's opening of a delivered box, under the A it carries. */
const open = (sender: Member, recipient: Member, box: EncryptedShare) =>
  openShareBox(
    parties(sender, recipient),
    box.ephemeralPublicKey,
    x25519FromEd25519(box.ephemeralPublicKey),
    box.ciphertext,
    recipient.encryptionSecretKey,
    recipient.encryptionPublicKey,
    curve,
  );

const judge = (sender: Member, recipient: Member, box: EncryptedShare, complaint = {}) =>
  judgeShareComplaint(
    parties(sender, recipient),
    box,
    sender.identityKey,
    recipient.encryptionPublicKey,
    { accused: sender.index, ...complaint },
    curve,
  );

/** `recipient`'s complaint about `box` from `sender`, as an honest member makes it. */
const complainAs = (recipient: Member, sender: Member, box: EncryptedShare) =>
  shareComplaint(
    parties(sender, recipient),
    box,
    recipient.encryptionSecretKey,
    recipient.encryptionPublicKey,
    curve,
    random,
  );

describe('one signature per ShareKeys message (crypto/secagg/share-box.ts)', () => {
  it('the coordinator verifies a whole message with one signature; any altered box fails it', () => {
    const message = shareKeys(u, v);
    const verify = (candidate: ShareKeysMessage) =>
      signedShareBoxes(
        binding,
        candidate,
        u.sealing.publicKey,
        u.identityKey,
        encryptionKeyOf,
        curve,
      );
    const delivered = verify(message)!;
    expect(delivered.map((box) => box.peer)).toEqual([u.index, u.index, u.index]);
    // Three leaves: two paired, the odd one carried up (RFC 6962 style).
    expect(delivered.map((box) => box.path.length)).toEqual([2, 2, 1]);
    message.encryptedShares.forEach((_, i) => {
      const altered = {
        ...message,
        encryptedShares: message.encryptedShares.map((box, j) => {
          if (j !== i) return box;
          const ciphertext = box.ciphertext.slice();
          ciphertext[0]! ^= 1;
          return { ...box, ciphertext };
        }),
      };
      expect(verify(altered)).toBeUndefined();
    });
    // Signed for another sealing key, or by another identity: refused.
    expect(
      signedShareBoxes(
        binding,
        message,
        v.sealing.publicKey,
        u.identityKey,
        encryptionKeyOf,
        curve,
      ),
    ).toBeUndefined();
    expect(
      signedShareBoxes(
        binding,
        message,
        u.sealing.publicKey,
        v.identityKey,
        encryptionKeyOf,
        curve,
      ),
    ).toBeUndefined();
  });

  it('converts many sealing keys to X25519 with one inversion, as one at a time', () => {
    const keys = [...members.map((m) => m.sealing.publicKey), new Uint8Array(32)];
    keys.push(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0))); // y = 1: no u
    expect(x25519FromEd25519Batch(keys)).toEqual(keys.map((key) => x25519FromEd25519(key)));
    expect(x25519FromEd25519Batch(keys)[keys.length - 1]).toBeUndefined();
  });
});

describe('signed share boxes and verifiable complaints (crypto/secagg/share-box.ts)', () => {
  it('a sealed box carries its sender’s signature and opens for its recipient only', () => {
    const box = seal(u, v);
    expect(isSignedBySender(parties(u, v), box, u.identityKey, v.encryptionPublicKey, curve)).toBe(
      true,
    );
    expect(open(u, v, box)).toEqual(sharesFor(v.index));
    // Another recipient (or the pair read the other way) does not open it.
    expect(open(u, w, box)).toBeUndefined();
    expect(isSignedBySender(parties(u, w), box, u.identityKey, w.encryptionPublicKey, curve)).toBe(
      false,
    );
  });

  it('any bit the coordinator flips (ciphertext, sealing key, signature, path) breaks the signature', () => {
    const box = seal(u, v);
    const fields = ['ciphertext', 'ephemeralPublicKey', 'signature', 'path'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.nat(), (field, bit) => {
        const bytes = (field === 'path' ? box.path[0]!.sibling : box[field]).slice();
        const position = bit % (bytes.length * 8);
        bytes[position >> 3]! ^= 1 << (position & 7);
        const altered =
          field === 'path'
            ? { ...box, path: [{ ...box.path[0]!, sibling: bytes }, ...box.path.slice(1)] }
            : { ...box, [field]: bytes };
        expect(
          isSignedBySender(parties(u, v), altered, u.identityKey, v.encryptionPublicKey, curve),
        ).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('an honest complaint about a signed bad box names the sender; a verifier needs no secret', () => {
    const box = signedGarbage(u, v);
    expect(open(u, v, box)).toBeUndefined();
    const complaint = complainAs(v, u, box);
    expect(judge(u, v, box, complaint)).toEqual({
      guilty: 'accused',
      reason: expect.stringMatching(/does not open, or holds no valid share, under the proven key/),
    });
    // A box that opens but holds no share at the recipient's index is the sender's fault too.
    const empty = seal(u, v, new Uint8Array(2 * SHARE_BYTES));
    const emptyComplaint = complainAs(v, u, empty);
    expect(judge(u, v, empty, emptyComplaint).guilty).toBe('accused');
  });

  it('a complaint about a good box names the accuser, whatever evidence it carries', () => {
    const box = seal(u, v);
    const truthful = complainAs(v, u, box);
    expect(judge(u, v, box, truthful)).toEqual({
      guilty: 'accuser',
      reason: expect.stringMatching(/is false: the signed box opens under the proven key/),
    });
    expect(judge(u, v, box).guilty).toBe('accuser'); // no evidence
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (wrongKey) => {
        const forged = proveSharedSecret(
          wrongKey,
          x25519FromEd25519(box.ephemeralPublicKey)!,
          binding,
          random,
        )!;
        expect(judge(u, v, box, { evidence: forged })).toEqual({
          guilty: 'accuser',
          reason: expect.stringMatching(/carries evidence that does not verify/),
        });
      }),
      { numRuns: 8 },
    );
  });

  it('a complaint about a box its sender never signed names the accuser', () => {
    const box = { ...seal(u, v), signature: new Uint8Array(64) };
    expect(judge(u, v, box).guilty).toBe('accuser');
  });

  it('a signed box whose sealing key is unproven or of small order is the sender’s fault, with no evidence', () => {
    const smallOrder = new Uint8Array(32); // y = 0: u = 1, of small order
    const boxes = [
      resign(u, v, { ...seal(u, v), ephemeralPublicKey: smallOrder }),
      // A bad box whose sealing key's signature is missing.
      { ...signedGarbage(u, v), ephemeralSignature: new Uint8Array(64) },
    ];
    for (const box of boxes) {
      expect(
        isSignedBySender(parties(u, v), box, u.identityKey, v.encryptionPublicKey, curve),
      ).toBe(true);
      expect(open(u, v, box)).toBeUndefined();
      const complaint = complainAs(v, u, box);
      expect(complaint.evidence).toBeUndefined();
      expect(judge(u, v, box, complaint)).toEqual({
        guilty: 'accused',
        reason: expect.stringMatching(/carries an ephemeral key that is unproven or not a point/),
      });
    }
  });

  it('a colluder re-using (a multiple of) an honest member’s sealing key gets no Diffie–Hellman answer', () => {
    // u colludes with the coordinator, which shows it w's box to v first; u puts w's sealing key
    // (or λ times it) into its own bad box, hoping v's complaint reveals X25519(c_v, E_w).
    const honest = seal(w, v);
    const lambda = 5n;
    const copies = [
      honest.ephemeralPublicKey,
      ed25519.Point.fromBytes(honest.ephemeralPublicKey).multiply(lambda).toBytes(),
    ];
    for (const ephemeralPublicKey of copies) {
      const box = resign(u, v, {
        ...seal(u, v),
        ephemeralPublicKey,
        ephemeralSignature: honest.ephemeralSignature,
      });
      expect(open(u, v, box)).toBeUndefined();
      const complaint = complainAs(v, u, box);
      // u cannot sign for A without its secret: v reveals nothing, and u is still the guilty one.
      expect(complaint.evidence).toBeUndefined();
      expect(judge(u, v, box, complaint).guilty).toBe('accused');
    }
  });

  it('the evidence opens the accused’s box and no other box of anyone, in either direction', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), (extra) => {
        const accusedBox = signedGarbage(u, v);
        const x = members[3]!;
        const complaint = complainAs(v, u, accusedBox);
        // Every other box a round could hold among u, v, w, x — u's boxes to w and x are under the
        // same sealing key as the accused one (a round has one box per ordered pair) — and boxes
        // of other rounds from u to v.
        const others: [Member, Member, EncryptedShare][] = [
          [v, u, seal(v, u)],
          [u, w, seal(u, w)],
          [w, v, seal(w, v)],
          [v, w, seal(v, w)],
          [w, u, seal(w, u)],
          [u, x, seal(u, x)],
          [x, v, seal(x, v)],
          ...Array.from({ length: extra }, (): [Member, Member, EncryptedShare] => [
            u,
            v,
            sealInAnotherRound(u, v),
          ]),
        ];
        const { publicPoint, sharedPoint, proof } = complaint.evidence!;
        const secrets = [publicPoint, sharedPoint, proof.subarray(0, 32), proof.subarray(32)];
        secrets.push(
          ed25519.utils.toMontgomery(sharedPoint),
          ed25519.utils.toMontgomery(publicPoint),
        );
        for (const [sender, recipient, box] of others) {
          const associatedData = shareBoxAssociatedData(binding, sender.index, recipient.index);
          for (const secret of secrets) {
            const keys = [
              secret,
              shareBoxKey(
                parties(sender, recipient),
                secret,
                box.ephemeralPublicKey,
                recipient.encryptionPublicKey,
              ),
            ];
            for (const key of keys) {
              expect(() => openAead(key, box.ciphertext, associatedData)).toThrow(
                AuthenticationError,
              );
            }
          }
        }
      }),
      { numRuns: 4 },
    );
  });
});

describe('a member judges the convictions served with U3 itself (crypto/secagg/convictions.ts)', () => {
  const convict = (box: EncryptedShare, recipientPublicKey = v.encryptionPublicKey) => ({
    accuser: v.index,
    box: { ...box, peer: u.index },
    recipientPublicKey,
    complaint: complainAs(v, u, box),
  });
  const check = (convictions: Conviction[], survivors = [v.index, w.index]) =>
    checkConvictions({
      binding,
      convictions,
      survivors,
      clients: 3,
      identityKeys: members.map((m) => m.identityKey),
      areNeighbours: () => true,
      curve,
    });

  it('takes a conviction that holds, and names its accused', () => {
    expect(check([convict(signedGarbage(u, v))])).toEqual([u.index]);
    expect(check([])).toEqual([]);
  });

  it('refuses a conviction of a good box, one judged under another key, or of a member left in U3', () => {
    expect(() => check([convict(seal(u, v))])).toThrow(CoordinatorTamperingError);
    expect(() => check([convict(signedGarbage(u, v), w.encryptionPublicKey)])).toThrow(
      /never signed for the accuser's key/,
    );
    expect(() => check([convict(signedGarbage(u, v))], [u.index, v.index])).toThrow(
      /convicts client 1 yet lists it in U3/,
    );
    const bad = convict(signedGarbage(u, v));
    expect(() => check([bad, bad])).toThrow(/two convictions/);
  });
});
