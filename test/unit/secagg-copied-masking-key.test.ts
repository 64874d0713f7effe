import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import type {
  AdvertiseKeysMessage,
  ShareKeysMessage,
  UnmaskingMessage,
} from '../../crypto/secagg/messages.ts';
import { SecAggServer, type SecAggResult } from '../../crypto/secagg/server.ts';
import {
  clamp,
  montgomeryU,
  plainSum,
  playDroppedDealer,
  recoverable,
} from '../support/secagg-dropped-dealer.ts';
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
import {
  completeGraphRound,
  playConsistencyCheck,
  playMaskedInput,
  roundFixture,
} from '../support/secagg-fixture.ts';
import type { Curve25519 } from '../../crypto/curve25519.ts';
import { createHash } from 'node:crypto';
import { encodeFields } from '../../crypto/bytes.ts';
import { createRoundContext } from '../../crypto/secagg/config.ts';
import { liftPeerKey, sameX25519Point } from '../../crypto/dleq.ts';

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
  curveOverride?: Curve25519,
): Played {
  const { fixture, server, clients } = completeGraphRound({
    clients: CLIENTS,
    threshold: THRESHOLD,
    dimension: 8,
    adversary,
    seed,
    ...(curveOverride === undefined ? {} : { curve: curveOverride }),
  });
  const { context, curve } = fixture;
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
  const { u3, uploads } = playMaskedInput(server, clients, fixture.inputs);
  playConsistencyCheck(
    server,
    adversary,
    clients.filter((c) => u3.includes(c.index)),
    u3,
  );
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

// ── An attacker review of the proof itself (forgeries, torsion, identity-key reuse, replay) ──

const Fp = Point.Fp;
/** A point of order 8 (the canonical one from the Ed25519 torsion table). */
const T8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
/** k·T8 for k = 0..7: every small-order point of edwards25519. */
const TORSION = Array.from({ length: 8 }, (_, k) =>
  Array.from({ length: k }).reduce<InstanceType<typeof Point>>((acc) => acc.add(T8), Point.ZERO),
);
const POSSESSION_LABEL = 'veilsum/v1/x25519-dleq/possession';

/** The torsion-free point whose u is X25519(secret, 9). */
const x25519Point = (secret: Uint8Array) => Point.BASE.multiply(clamp(secret) % ORDER);

/**
 * An Ed25519 signature (RFC 8032 verification equation) under the statement Q = liftPeerKey(key)
 * over the possession message, made by whoever knows ±dlog(Q) = `dlog`: what the verifier checks.
 */
function signPossession(key: Uint8Array, context: Uint8Array, dlog: bigint): Uint8Array {
  const statement = liftPeerKey(key)!;
  let w = ((dlog % ORDER) + ORDER) % ORDER;
  if (!Point.BASE.multiply(w).equals(statement)) w = ORDER - w;
  expect(Point.BASE.multiply(w).equals(statement)).toBe(true);
  const r = 123456789n;
  const R = Point.BASE.multiply(r).toBytes();
  const h =
    bytesToNumberLE(
      createHash('sha512')
        .update(R)
        .update(statement.toBytes())
        .update(encodeFields(POSSESSION_LABEL, context, key))
        .digest(),
    ) % ORDER;
  const proof = new Uint8Array(64);
  proof.set(R, 0);
  proof.set(numberToBytesLE((r + h * w) % ORDER, 32), 32);
  return proof;
}

/** The four sign variants of a proof (R ‖ S): as is, −R, −S, both. */
function signVariants(proof: Uint8Array): Uint8Array[] {
  const R = Point.fromBytes(proof.subarray(0, 32));
  const S = bytesToNumberLE(proof.subarray(32));
  const make = (r: InstanceType<typeof Point>, s: bigint) => {
    const out = new Uint8Array(64);
    out.set(r.toBytes(), 0);
    out.set(numberToBytesLE(s % ORDER, 32), 32);
    return out;
  };
  return [make(R, S), make(R.negate(), S), make(R, ORDER - S), make(R.negate(), ORDER - S)];
}

/** A masking key u whose statement liftPeerKey(u) is exactly the Ed25519 public key `pub`. */
function keyWithStatement(pub: Uint8Array): Uint8Array | undefined {
  const P = Point.fromBytes(pub);
  const E = P.multiply(Point.Fn.inv(8n));
  for (const T of TORSION) {
    const candidate = montgomeryU(E.add(T));
    const lift = liftPeerKey(candidate);
    if (lift !== undefined && lift.equals(P)) return candidate;
  }
  return undefined;
}

describe('masking-key proof: forging a proof for a key the liar does not own (dleq level)', () => {
  const random = (n: number) => new Uint8Array(n).fill(0x5a);
  const binding = new Uint8Array(32).fill(3);
  const ctxW = maskingKeyPossessionContext(binding, VICTIM);
  const ctxL = maskingKeyPossessionContext(binding, LIAR);
  const victimSecret = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const victimKey = nativeCurve25519.x25519PublicKey(victimSecret);
  const victimProof = proveKeyPossession(victimSecret, victimKey, ctxW, random);
  const Ew = x25519Point(victimSecret);

  it('S_w + T for every small-order T: not the same key to the equality check (same Q up to sign), and no variant of the victim’s proof verifies for it', () => {
    expect(verifyKeyPossession(victimKey, victimProof, ctxW)).toBe(true);
    const Qw = liftPeerKey(victimKey)!;
    for (const T of TORSION.slice(1)) {
      const key = montgomeryU(Ew.add(T));
      // The equality-up-to-sign check does not see it (the proof carries the whole defence) ...
      expect(sameX25519Point(key, victimKey)).toBe(false);
      // ... and its pairwise secrets are the victim's: X25519(s_u, S_w + T) = X25519(s_u, S_w).
      const other = new Uint8Array(32).fill(0x77);
      expect(nativeCurve25519.x25519SharedSecret(other, key)).toEqual(
        nativeCurve25519.x25519SharedSecret(other, victimKey),
      );
      const Q = liftPeerKey(key)!;
      expect(Q.equals(Qw) || Q.equals(Qw.negate())).toBe(true);
      for (const ctx of [ctxL, ctxW])
        for (const proof of signVariants(victimProof))
          expect(verifyKeyPossession(key, proof, ctx)).toBe(false);
    }
  });

  it('k·S_w and −Q_w (sign flip) with the victim’s proof in every sign variant: nothing verifies', () => {
    const k = 7n;
    const scaled = montgomeryU(Ew.multiply(k));
    for (const ctx of [ctxL, ctxW])
      for (const proof of signVariants(victimProof)) {
        expect(verifyKeyPossession(scaled, proof, ctx)).toBe(false);
        expect(verifyKeyPossession(victimKey, proof, ctxL)).toBe(false);
      }
  });

  it('low-order, non-canonical and twist keys: no statement, no proof verifies', () => {
    const p = Fp.ORDER;
    const keys = [0n, 1n, p - 1n, p, p + 1n, 2n ** 255n - 1n].map((u) => numberToBytesLE(u, 32));
    for (let u = 2n; keys.length < 8; u++) {
      const key = numberToBytesLE(u, 32);
      if (liftPeerKey(key) === undefined) keys.push(key);
    }
    for (const key of keys) {
      const lift = liftPeerKey(key);
      if (lift !== undefined) continue; // 2^255 − 1 ≡ 18: an ordinary point, owned by nobody here
      expect(verifyKeyPossession(key, victimProof, ctxL)).toBe(false);
      expect(verifyKeyPossession(key, new Uint8Array(64), ctxL)).toBe(false);
    }
  });

  it('claim: a masking key with a small-order component has no X25519 secret key, so no proof of possession of one should verify (its owner proves only dlog(8·lift))', () => {
    // The liar knows c; its key u(clamp(c)·B + T8) is no X25519(s, 9) for any s (those are all
    // torsion-free), yet a proof made with dlog(Q) = ±8·clamp(c) verifies.
    const c = new Uint8Array(32).fill(0x42);
    const key = montgomeryU(x25519Point(c).add(T8));
    const lifted = Point.fromBytes(edwardsFromU(key));
    expect(lifted.isTorsionFree()).toBe(false);
    const proof = signPossession(key, ctxL, 8n * clamp(c));
    expect(verifyKeyPossession(key, proof, ctxL)).toBe(false);
  });
});

describe('masking-key proof: Q chosen equal to an honest member’s Ed25519 key (identity or sealing)', () => {
  it('no signature any member makes with its identity or sealing key in a whole round verifies as a possession proof under that key, and none signs a possession-labelled message', () => {
    const log: { secretKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[] = [];
    const logging = Object.create(nativeCurve25519) as Curve25519;
    (logging as { sign: Curve25519['sign'] }).sign = (secretKey, message) => {
      const signature = nativeCurve25519.sign(secretKey, message);
      log.push({ secretKey, message: message.slice(), signature });
      return signature;
    };
    const played = play('semi-malicious', 301, (_, __, ownKey) => ownKey, undefined, logging);
    expect(played.refusedOnArrival).toBeUndefined();
    expect(log.length).toBeGreaterThan(CLIENTS * 2);
    const prefix = encodeFields(POSSESSION_LABEL);
    let tried = 0;
    for (const { secretKey, message, signature } of log) {
      expect(Buffer.from(message.subarray(0, prefix.length)).equals(Buffer.from(prefix))).toBe(
        false,
      );
      const pub = nativeCurve25519.ed25519PublicKey(secretKey);
      const key = keyWithStatement(pub);
      expect(key).toBeDefined();
      for (const member of [LIAR, VICTIM]) {
        tried++;
        expect(
          verifyKeyPossession(key!, signature, maskingKeyPossessionContext(played.binding, member)),
        ).toBe(false);
      }
    }
    expect(tried).toBeGreaterThan(0);
  });
});

describe('masking-key proof: replay of the victim’s proof into another round', () => {
  it('same round id and parameters, the roster reordered so the liar holds the victim’s index: the server refuses it', () => {
    const fixture = roundFixture({
      clients: CLIENTS,
      degree: CLIENTS - 1,
      threshold: THRESHOLD,
      dimension: 8,
      seed: 401,
    });
    const { context, curve, random } = fixture;
    const victim = new SecAggClient({
      context,
      index: VICTIM,
      identitySecretKey: fixture.identitySecretKeys[VICTIM - 1]!,
      curve,
      random,
    });
    const original = victim.advertiseKeys();
    const keys = [...context.config.identityKeys];
    [keys[VICTIM - 1], keys[LIAR - 1]] = [keys[LIAR - 1]!, keys[VICTIM - 1]!];
    const other = createRoundContext({ ...context.config, identityKeys: keys });
    const liarSecret = fixture.identitySecretKeys[LIAR - 1]!;
    const server = new SecAggServer({ context: other, curve });
    const message: AdvertiseKeysMessage = {
      ...original,
      signature: curve.sign(
        liarSecret,
        advertiseKeysPayload(
          other.binding,
          VICTIM,
          original.encryptionPublicKey,
          original.maskingPublicKey,
          original.sealingPublicKey,
          original.seedCommitment,
        ),
      ),
    };
    expect(() => server.receiveAdvertiseKeys(message)).toThrow(/proof of possession/);
    expect(
      verifyKeyPossession(
        original.maskingPublicKey,
        original.maskingKeyProof,
        maskingKeyPossessionContext(other.binding, VICTIM),
      ),
    ).toBe(false);
  });
});

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'masking-key proof (%s): the liar advertises S_w + T (a small-order T), then gets itself convicted',
  (adversary) => {
    it.each([4, 2, 1])(
      'T = %i·T8 (order 2, 4, 8): refused, nothing revealed, victim hidden',
      (k) => {
        expectSound(
          play(
            adversary,
            500 + k,
            (victimKey) => montgomeryU(Point.fromBytes(edwardsFromU(victimKey)).add(TORSION[k]!)),
            (messages) => messages[VICTIM - 1]!.maskingKeyProof,
          ),
        );
      },
    );

    it('second line (equality up to sign) with a colluder’s key + T and a valid proof bound to the liar: still refused, as for the colluder’s key itself', () => {
      const played = play(
        adversary,
        510,
        (_, colluderKey) => montgomeryU(Point.fromBytes(edwardsFromU(colluderKey)).add(T8)),
        (_, binding, colluderSecret, key) =>
          signPossession(
            key,
            maskingKeyPossessionContext(binding, LIAR),
            8n * clamp(colluderSecret),
          ),
      );
      for (const reveal of played.reveals)
        expect((reveal.pairwiseSecrets ?? []).map((p) => p.peer)).not.toContain(LIAR);
      expect(played.finished).toBeInstanceOf(ReconstructionError);
    });
  },
);

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'masking-key proof (%s): a proven-key member deals consistent shares of a wrong s^SK, then drops',
  (adversary) => {
    // Formerly a residual (docs/threat-model.md, "One member against the round"): its shares open
    // and agree, so nobody complains before U3, and the masks it shares with survivors can only
    // come off with its real s^SK — or, since the second reveal, with its surviving neighbours'
    // proven pairwise secrets (it proved it owns its key). The round completes without it.
    it('completes without it, with the sum of U3, naming only it (second reveal)', () => {
      const played = playDroppedDealer(adversary, 601, 'wrong-secret');
      expect(played.result).not.toBeInstanceOf(Error);
      const result = played.result as SecAggResult;
      expect(result.included).toEqual([1, 2, 3, 4, 6]);
      expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
      expect(result.misbehaving[0]!.reason).toMatch(
        /all \d+ shares of its masking key agree, but not with what it committed to/,
      );
      expect([...result.sum]).toEqual([...plainSum(played)]);
      expect(recoverable(played)).toEqual([]);
    });
  },
);
