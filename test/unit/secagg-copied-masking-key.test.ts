import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import type {
  AdvertiseKeysMessage,
  ShareKeysMessage,
  UnmaskingMessage,
} from '../../crypto/secagg/messages.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';
import {
  advertiseKeysPayload,
  maskingKeyPossessionContext,
  pairwiseRevealContext,
} from '../../crypto/secagg/transcript.ts';
import { MalformedMessageError, ReconstructionError } from '../../crypto/secagg/errors.ts';
import { combineMasks, type MaskJob } from '../../crypto/secagg/masks.ts';
import {
  proveKeyPossession,
  verifyKeyPossession,
  verifySharedSecret,
  type SharedSecretEvidence,
} from '../../crypto/dleq.ts';
import { deriveKey } from '../../crypto/kdf.ts';
import {
  decodeShare,
  encodeShare,
  reconstructSecret,
  SHARE_BYTES,
  splitSecret,
} from '../../crypto/shamir.ts';
import { sealShareBoxes } from '../../crypto/secagg/share-box.ts';
import { nativeCurve25519 } from '../../crypto/curve25519-native.ts';
import { roundFixture } from '../support/secagg-fixture.ts';

/**
 * The lone-member defence against a member that advertises another member's masking key.
 *
 * When a member v is convicted, each surviving neighbour u reveals X25519(s_u, s_v^PK) (with a
 * DLEQ proof) so the server removes v's masks without v's s^SK. That is harmless only if v knows
 * the secret key of the masking key it advertised. A malicious member v (with the coordinator)
 * could advertise an honest member w's masking key S_w (or S_w with bit 255 set, or k·S_w for a k
 * it knows), deal one bad box so that it is convicted, and every surviving neighbour u would then
 * prove X25519(s_u, S_w) — the secret of the honest pair (u, w) — and w itself X25519(s_w, S_w):
 * with b_w (reconstructed, w is in U3) the coordinator would read x_w (it did on 283c8e3: every
 * test below failed there).
 *
 * Defence: every member proves possession of its masking key's secret in AdvertiseKeys (bound to
 * the round and to itself), checked only in the dispute path — a member reveals nothing for v
 * unless v's proof verifies and v's key is no other member's up to sign, and the server uses
 * pairwise secrets for v only under the same condition (else it reconstructs v's s^SK, which for
 * a copied key fails and names v). An honest server also refuses v's AdvertiseKeys on arrival when
 * the proof does not verify; each test checks that, then plays on as a coordinator colluding with
 * v would (accepting the keys anyway), so the members' own checks are tested without it.
 */
const CLIENTS = 6;
const THRESHOLD = 3;
const LIAR = 5;
const VICTIM = 2;
/** A member that hands the liar its masking secret key (second-line test only). */
const COLLUDER = 1;

const Point = ed25519.Point;
const ORDER = Point.Fn.ORDER;

/** X25519's scalar clamping (RFC 7748 §5), as a bigint. */
function clamp(k: Uint8Array): bigint {
  const c = Uint8Array.from(k);
  c[0]! &= 248;
  c[31]! &= 127;
  c[31]! |= 64;
  return bytesToNumberLE(c);
}

/** The Montgomery u of an Edwards point, as 32 little-endian bytes. */
function montgomeryU(point: InstanceType<typeof Point>): Uint8Array {
  const { y } = point.toAffine();
  const Fp = Point.Fp;
  return numberToBytesLE(Fp.div(Fp.add(1n, y), Fp.sub(1n, y)), 32);
}

interface Played {
  readonly victimInput: Uint32Array;
  readonly victimMasked: Uint32Array;
  readonly reveals: UnmaskingMessage[];
  readonly advertised: Map<number, AdvertiseKeysMessage>;
  readonly binding: Uint8Array;
  /** Why an honest server refused the liar's AdvertiseKeys (undefined: it accepted them). */
  readonly refusedOnArrival: string | undefined;
  /** The honest server's outcome: the round's result, or why it stopped. */
  readonly finished:
    { readonly included: readonly number[]; readonly misbehaving: readonly number[] } | Error;
}

/**
 * The sound outcome: no member revealed a pairwise secret "with" the liar (it proved no knowledge
 * of the key it advertised), the honest server did not strip the liar's masks with such secrets —
 * it fell back to reconstructing the liar's s^SK, which does not match the copied key, so the
 * round stops naming only the liar — and nothing the coordinator holds gives the victim's input.
 */
function expectSound(played: Played, liarScalar?: bigint): void {
  // First line: an honest server refuses the liar's keys on arrival (its proof does not verify).
  expect(played.refusedOnArrival).toMatch(
    new RegExp(`^client ${LIAR}'s proof of possession of its masking key does not verify`),
  );
  for (const reveal of played.reveals)
    expect((reveal.pairwiseSecrets ?? []).map((p) => p.peer)).not.toContain(LIAR);
  expect(played.finished).toBeInstanceOf(ReconstructionError);
  expect((played.finished as Error).message).toMatch(new RegExp(`^client ${LIAR}'s masking key`));
  expect([...recoverVictim(played, liarScalar)]).not.toEqual([...played.victimInput]);
}

/**
 * The round, in process, honest server code (it is the coordinator's view we read): the liar
 * advertises `maskingKeyFor(victim's key)` and garbles its first share box (so it is convicted).
 */
function play(
  adversary: 'semi-honest' | 'semi-malicious',
  seed: number,
  maskingKeyFor: (victimKey: Uint8Array, colluderKey: Uint8Array, ownKey: Uint8Array) => Uint8Array,
  proofFor?: (
    messages: readonly AdvertiseKeysMessage[],
    binding: Uint8Array,
    colluderSecretKey: Uint8Array,
    key: Uint8Array,
  ) => Uint8Array | undefined,
): Played {
  const fixture = roundFixture({
    clients: CLIENTS,
    degree: CLIENTS - 1,
    threshold: THRESHOLD,
    dimension: 8,
    adversary,
    seed,
  });
  const { context, curve, random } = fixture;
  const server = new SecAggServer({ context, curve });
  const clients = fixture.identitySecretKeys.map(
    (identitySecretKey, i) =>
      new SecAggClient({ context, index: i + 1, identitySecretKey, curve, random }),
  );
  const messages = clients.map((client) => client.advertiseKeys());
  const victimKey = messages[VICTIM - 1]!.maskingPublicKey;
  const honestLiar = messages[LIAR - 1]!;
  const colluderSecret = (clients[COLLUDER - 1] as unknown as { maskingSecretKey: Uint8Array })
    .maskingSecretKey;
  const maskingPublicKey = maskingKeyFor(
    victimKey,
    messages[COLLUDER - 1]!.maskingPublicKey,
    honestLiar.maskingPublicKey,
  );
  const maskingKeyProof =
    proofFor === undefined
      ? honestLiar.maskingKeyProof
      : proofFor(messages, context.binding, colluderSecret, maskingPublicKey);
  messages[LIAR - 1] = {
    ...honestLiar,
    maskingPublicKey,
    ...(maskingKeyProof === undefined ? {} : { maskingKeyProof }),
    signature: curve.sign(
      fixture.identitySecretKeys[LIAR - 1]!,
      advertiseKeysPayload(
        context.binding,
        LIAR,
        honestLiar.encryptionPublicKey,
        maskingPublicKey,
        honestLiar.sealingPublicKey,
        honestLiar.seedCommitment,
      ),
    ),
  };
  const advertised = new Map<number, AdvertiseKeysMessage>();
  let refusedOnArrival: string | undefined;
  for (const message of messages) {
    advertised.set(message.sender, message);
    try {
      server.receiveAdvertiseKeys(message);
    } catch (error) {
      if (message.sender !== LIAR || !(error instanceof MalformedMessageError)) throw error;
      refusedOnArrival = error.message;
      // A coordinator colluding with the liar skips that check: the members' own checks (and the
      // unmasking's) must hold without it, so the round goes on as if it had accepted the keys.
      (server as unknown as { advertised: Map<number, AdvertiseKeysMessage> }).advertised.set(
        LIAR,
        message,
      );
    }
  }
  server.closeAdvertiseKeys();
  const u1 = server.participantSets().advertised;
  for (const client of clients) {
    const honest = client.shareKeys(server.keysFor(client.index), u1);
    if (client.index !== LIAR) {
      server.receiveShareKeys(honest);
      continue;
    }
    // One box with no valid share (signed: the sender's doing, provably): a conviction.
    server.receiveShareKeys(resign(client, honest));
  }
  server.closeShareKeys();
  const u2 = server.participantSets().shared;
  const uploads = new Map<number, Uint32Array>();
  for (const client of clients) {
    const message = client.maskInput(
      server.sharesFor(client.index),
      u2,
      fixture.inputs[client.index - 1]!,
    );
    uploads.set(client.index, message.maskedInput.slice());
    server.receiveMaskedInput(message);
  }
  server.closeMaskedInputCollection((sender) => uploads.get(sender)!);
  const u3 = server.participantSets().masked;
  if (adversary === 'semi-malicious') {
    for (const client of clients.filter((c) => u3.includes(c.index)))
      server.receiveConsistencySignature(
        client.signSurvivors(server.consistencyCheckRequest(), u3),
      );
    server.closeConsistencyCheck();
  }
  const request = server.unmaskingRequest();
  const reveals = clients
    .filter((c) => request.survivors.includes(c.index))
    .map((client) => client.unmask(request, u3));
  for (const reveal of reveals) server.receiveUnmasking(reveal);
  let finished: Played['finished'];
  try {
    const result = server.finishUnmasking();
    finished = {
      included: result.included,
      misbehaving: result.misbehaving.map((m) => m.member),
    };
  } catch (error) {
    finished = error as Error;
  }
  return {
    victimInput: fixture.inputs[VICTIM - 1]!,
    victimMasked: uploads.get(VICTIM)!,
    reveals,
    advertised,
    binding: context.binding,
    finished,
    refusedOnArrival,
  };
}

/**
 * The liar's boxes resealed as the client seals them (signed with both its keys): valid shares of
 * its own secrets in every box but the first, which holds no valid share (a provable complaint).
 */
function resign(client: SecAggClient, honest: ShareKeysMessage): ShareKeysMessage {
  const inner = client as unknown as {
    maskingSecretKey: Uint8Array;
    selfMaskSecret: Uint8Array;
    sealing: { seed: Uint8Array; publicKey: Uint8Array };
    identitySecretKey: Uint8Array;
    context: { binding: Uint8Array };
    curve: Parameters<typeof sealShareBoxes>[5];
    random: Parameters<typeof sealShareBoxes>[6];
    peers: Map<number, { encryptionPublicKey: Uint8Array }>;
  };
  const holders = client.shareHolders;
  const sk = splitSecret(inner.maskingSecretKey, THRESHOLD, holders, inner.random);
  const b = splitSecret(inner.selfMaskSecret, THRESHOLD, holders, inner.random);
  (client as unknown as { ownShares: unknown }).ownShares = {
    maskingKey: sk[holders.indexOf(client.index)]!,
    selfMask: b[holders.indexOf(client.index)]!,
  };
  const sealed = sealShareBoxes(
    inner.context.binding,
    client.index,
    honest.encryptedShares.map((box, i) => {
      const plaintext = new Uint8Array(2 * SHARE_BYTES);
      if (i > 0) {
        plaintext.set(encodeShare(sk[holders.indexOf(box.peer)]!), 0);
        plaintext.set(encodeShare(b[holders.indexOf(box.peer)]!), SHARE_BYTES);
      }
      return {
        recipient: box.peer,
        publicKey: inner.peers.get(box.peer)!.encryptionPublicKey,
        plaintext,
      };
    }),
    inner.sealing,
    inner.identitySecretKey,
    inner.curve,
    inner.random,
  );
  return { sender: client.index, selfMaskCommitment: honest.selfMaskCommitment, ...sealed };
}

/**
 * What the coordinator recovers of the victim's input from what it received: w's masked input,
 * the revealed b-shares of w, and the pairwise secrets the members proved "with the liar".
 */
function recoverVictim(played: Played, liarScalar?: bigint): Uint32Array {
  const { reveals, advertised, binding } = played;
  const victimKey = advertised.get(VICTIM)!.maskingPublicKey;
  const liarKey = advertised.get(LIAR)!.maskingPublicKey;
  // b_w from the revealed self-mask shares (w is in U3: legitimately revealed).
  const bShares = reveals.flatMap((r) =>
    r.selfMaskShares.filter((s) => s.owner === VICTIM).map((s) => decodeShare(s.share)),
  );
  const b = reconstructSecret(bShares.slice(0, THRESHOLD), THRESHOLD);
  const jobs: MaskJob[] = [
    { kind: 'seed', seed: deriveKey(b, 'secagg/self-mask', binding), sign: -1 },
  ];
  for (const reveal of reveals) {
    for (const { peer, evidence } of reveal.pairwiseSecrets ?? []) {
      if (peer !== LIAR) continue;
      const u = reveal.sender;
      let secret = verifySharedSecret(
        advertised.get(u)!.maskingPublicKey,
        liarKey,
        evidence,
        pairwiseRevealContext(binding, u, LIAR),
      )!;
      expect(secret).toBeDefined();
      // w's own reveal is its (w, liar) mask secret as is; another u's, scaled back by the liar's k.
      if (liarScalar !== undefined && u !== VICTIM) secret = unscale(evidence, liarScalar);
      // u = w: its secret with "the liar" is the (w, liar) mask; any other u: the (u, w) mask.
      const other = u === VICTIM ? LIAR : u;
      const otherKey = u === VICTIM ? liarKey : advertised.get(u)!.maskingPublicKey;
      jobs.push({
        kind: 'seed',
        seed: deriveKey(
          secret,
          'secagg/pairwise-mask',
          binding,
          [VICTIM, other],
          [victimKey, otherKey],
        ),
        sign: VICTIM < other ? -1 : 1,
      });
    }
  }
  const total = combineMasks(jobs, played.victimMasked.length, nativeCurve25519);
  const out = played.victimMasked.slice();
  for (let i = 0; i < out.length; i++) out[i] = (out[i]! + total[i]!) >>> 0;
  return out;
}

/** From Z' = s0·8·(k·S_w) (the proof's shared point), u(s0·8·S_w) = X25519(s_u, S_w). */
function unscale(evidence: SharedSecretEvidence, k: bigint): Uint8Array {
  const shared = Point.fromBytes(evidence.sharedPoint);
  const inverse = Point.Fn.inv(k % ORDER);
  return montgomeryU(shared.multiply(inverse));
}

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'SecAgg+ (%s): a member advertises an honest member’s masking key, then gets itself convicted',
  (adversary) => {
    it('no member reveals a pairwise secret with it, the round stops naming it, the victim’s input stays hidden', () => {
      expectSound(play(adversary, 101, (victimKey) => victimKey));
    });

    it('the same when it also relays the victim’s own proof of possession (bound to the victim)', () => {
      expectSound(
        play(
          adversary,
          104,
          (victimKey) => victimKey,
          (messages) => messages[VICTIM - 1]!.maskingKeyProof,
        ),
      );
    });

    it('the same with S_w’s bit 255 set (different bytes, the same X25519 key)', () => {
      expectSound(
        play(adversary, 103, (victimKey) => {
          const copy = Uint8Array.from(victimKey);
          copy[31]! |= 0x80;
          return copy;
        }),
      );
    });

    it('the same with k·S_w (different bytes, a key the liar built from the victim’s key)', () => {
      // A k whose clamped value the liar knows; its key is u(clamp(k)·S_w), computed from S_w alone.
      const k = new Uint8Array(32).fill(7);
      const scalar = clamp(k);
      expectSound(
        play(adversary, 102, (victimKey) => {
          const lifted = Point.fromBytes(edwardsFromU(victimKey));
          return montgomeryU(lifted.multiply(scalar % ORDER));
        }),
        scalar,
      );
    });

    it('second line: a key copied from a colluding member, with a valid proof bound to the liar, is still refused', () => {
      // The colluder (member 1) hands the liar its masking secret key: the liar's proof is valid,
      // but its key is another member's, so no member reveals for it and the server does not use
      // pairwise secrets for it.
      const played = play(
        adversary,
        105,
        (_, colluderKey) => colluderKey,
        (_, binding, colluderSecret, key) =>
          proveKeyPossession(colluderSecret, key, maskingKeyPossessionContext(binding, LIAR), (n) =>
            new Uint8Array(n).fill(9),
          ),
      );
      const liarKey = played.advertised.get(LIAR)!;
      expect(
        verifyKeyPossession(
          liarKey.maskingPublicKey,
          liarKey.maskingKeyProof,
          maskingKeyPossessionContext(played.binding, LIAR),
        ),
      ).toBe(true);
      expect(played.refusedOnArrival).toBeUndefined();
      for (const reveal of played.reveals)
        expect((reveal.pairwiseSecrets ?? []).map((p) => p.peer)).not.toContain(LIAR);
      expect(played.finished).toBeInstanceOf(ReconstructionError);
    });

    it('control: a convicted member with its own key and proof still has its masks removed from the pairwise secrets', () => {
      const played = play(adversary, 106, (_, __, ownKey) => ownKey);
      expect(played.refusedOnArrival).toBeUndefined();
      for (const reveal of played.reveals.filter((r) => r.sender !== LIAR))
        expect((reveal.pairwiseSecrets ?? []).map((p) => p.peer)).toContain(LIAR);
      expect(played.finished).toEqual({
        included: [1, 2, 3, 4, 6],
        misbehaving: [LIAR],
      });
    });
  },
);

/** An Edwards encoding of a point whose Montgomery u is `u` (either sign). */
function edwardsFromU(uBytes: Uint8Array): Uint8Array {
  const Fp = Point.Fp;
  const u = bytesToNumberLE(uBytes) & ((1n << 255n) - 1n);
  const y = Fp.div(Fp.sub(u, 1n), Fp.add(u, 1n));
  return numberToBytesLE(y, 32);
}
