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
import { advertiseKeysPayload, pairwiseRevealContext } from '../../crypto/secagg/transcript.ts';
import { combineMasks, type MaskJob } from '../../crypto/secagg/masks.ts';
import { verifySharedSecret, type SharedSecretEvidence } from '../../crypto/dleq.ts';
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
 * Review (attacker) of the lone-member defence: "each surviving neighbour reveals the pairwise
 * secret X25519(s_u, s_v^PK) with a convicted member v, which v knows anyway".
 *
 * v knows it only if v knows the discrete log of the masking key it advertised. Nothing makes it:
 * AdvertiseKeys checks only that the key is on the prime-order group and differs from the same
 * member's encryption key. A malicious member v (with the coordinator) advertises, as its masking
 * key, an honest member w's masking key S_w (or k·S_w for a k it knows: different bytes, same
 * attack), deals one bad box so that it is convicted, and every surviving neighbour u then proves
 * X25519(s_u, S_w) — the secret of the honest pair (u, w) — and w itself proves X25519(s_w, S_w),
 * the secret of its mask with v. With b_w (reconstructed, w is in U3) that is every mask on w's
 * masked input: the coordinator reads x_w. The round completes normally; only v is named.
 *
 * The tests assert the sound behaviour (the copied key is refused, or nothing recovers x_w): they
 * FAIL on the code as merged (283c8e3).
 */
const CLIENTS = 6;
const THRESHOLD = 3;
const LIAR = 5;
const VICTIM = 2;

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
  readonly included: readonly number[];
  readonly misbehaving: readonly number[];
}

/**
 * The round, in process, honest server code (it is the coordinator's view we read): the liar
 * advertises `maskingKeyFor(victim's key)` and garbles its first share box (so it is convicted).
 */
function play(
  adversary: 'semi-honest' | 'semi-malicious',
  seed: number,
  maskingKeyFor: (victimKey: Uint8Array) => Uint8Array,
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
  const maskingPublicKey = maskingKeyFor(victimKey);
  messages[LIAR - 1] = {
    ...honestLiar,
    maskingPublicKey,
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
  for (const message of messages) {
    server.receiveAdvertiseKeys(message);
    advertised.set(message.sender, message);
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
  const result = server.finishUnmasking();
  return {
    victimInput: fixture.inputs[VICTIM - 1]!,
    victimMasked: uploads.get(VICTIM)!,
    reveals,
    advertised,
    binding: context.binding,
    included: result.included,
    misbehaving: result.misbehaving.map((m) => m.member),
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
    it('the coordinator learns nothing of the honest member’s input (the copied key is refused, or the reveals do not unmask it)', () => {
      let played: Played;
      try {
        played = play(adversary, 101, (victimKey) => victimKey);
      } catch {
        return; // refused: sound
      }
      // The round itself completed without the liar, naming only it.
      expect(played.misbehaving).toEqual([LIAR]);
      expect(played.included).toContain(VICTIM);
      expect([...recoverVictim(played)]).not.toEqual([...played.victimInput]);
    });

    it('the same with S_w’s bit 255 set (different bytes, the same X25519 key)', () => {
      let played: Played;
      try {
        played = play(adversary, 103, (victimKey) => {
          const copy = Uint8Array.from(victimKey);
          copy[31]! |= 0x80;
          return copy;
        });
      } catch {
        return; // refused: sound
      }
      expect(played.misbehaving).toEqual([LIAR]);
      expect([...recoverVictim(played)]).not.toEqual([...played.victimInput]);
    });

    it('the same with k·S_w (different bytes, a key the liar built from the victim’s key)', () => {
      // A k whose clamped value the liar knows; its key is u(clamp(k)·S_w), computed from S_w alone.
      const k = new Uint8Array(32).fill(7);
      const scalar = clamp(k);
      let played: Played;
      try {
        played = play(adversary, 102, (victimKey) => {
          const lifted = Point.fromBytes(edwardsFromU(victimKey));
          return montgomeryU(lifted.multiply(scalar % ORDER));
        });
      } catch {
        return; // refused: sound
      }
      expect(played.misbehaving).toEqual([LIAR]);
      expect([...recoverVictim(played, scalar)]).not.toEqual([...played.victimInput]);
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
