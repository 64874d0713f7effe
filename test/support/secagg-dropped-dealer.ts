import { expect } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { createHash } from 'node:crypto';
import { encodeFields } from '../../crypto/bytes.ts';
import { liftPeerKey } from '../../crypto/dleq.ts';
import { SecAggError } from '../../crypto/secagg/errors.ts';
import type {
  PairwiseRevealMessage,
  PairwiseRevealRequest,
  UnmaskingMessage,
} from '../../crypto/secagg/messages.ts';
import type { SecAggResult } from '../../crypto/secagg/server.ts';
import { sealShareBoxes } from '../../crypto/secagg/share-box.ts';
import {
  advertiseKeysPayload,
  maskingKeyPossessionContext,
} from '../../crypto/secagg/transcript.ts';
import { encodeShare, SHARE_BYTES, type Share, splitSecret } from '../../crypto/shamir.ts';
import { completeGraphRound, playConsistencyCheck, playMaskedInput } from './secagg-fixture.ts';

/**
 * A SecAgg+ round in process (honest server code, n = 6, t = 3, complete graph) in which member
 * LIAR drops after ShareKeys leaving an s^SK that cannot be reconstructed: consistent shares of a
 * wrong secret, a masking key with a small-order component, or shares off any polynomial. Used by
 * test/unit/secagg-second-reveal.test.ts and test/unit/secagg-copied-masking-key.test.ts.
 */
export const CLIENTS = 6;
export const THRESHOLD = 3;
export const LIAR = 5;
export const VICTIM = 2;

export type Liar = 'wrong-secret' | 'torsion-key' | 'off-polynomial';

const Point = ed25519.Point;
const ORDER = Point.Fn.ORDER;
/** A point of order 8 on edwards25519. */
const T8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');

/** X25519's scalar clamping (RFC 7748 §5), as a bigint. */
export function clamp(k: Uint8Array): bigint {
  const c = Uint8Array.from(k);
  c[0]! &= 248;
  c[31]! &= 127;
  c[31]! |= 64;
  return bytesToNumberLE(c);
}

/** The Montgomery u of an Edwards point, as 32 little-endian bytes. */
export function montgomeryU(point: InstanceType<typeof Point>): Uint8Array {
  const { y } = point.toAffine();
  const Fp = Point.Fp;
  return numberToBytesLE(Fp.div(Fp.add(1n, y), Fp.sub(1n, y)), 32);
}

/** A proof of possession under liftPeerKey(key) by whoever knows ±dlog of it (RFC 8032 shape). */
function signPossession(key: Uint8Array, context: Uint8Array, dlog: bigint): Uint8Array {
  const statement = liftPeerKey(key)!;
  let w = ((dlog % ORDER) + ORDER) % ORDER;
  if (!Point.BASE.multiply(w).equals(statement)) w = ORDER - w;
  const r = 987654321n;
  const R = Point.BASE.multiply(r).toBytes();
  const h =
    bytesToNumberLE(
      createHash('sha512')
        .update(R)
        .update(statement.toBytes())
        .update(encodeFields('veilsum/v1/x25519-dleq/possession', context, key))
        .digest(),
    ) % ORDER;
  const proof = new Uint8Array(64);
  proof.set(R, 0);
  proof.set(numberToBytesLE((r + h * w) % ORDER, 32), 32);
  return proof;
}

export interface Played {
  readonly result: SecAggResult | SecAggError;
  readonly survivors: readonly number[];
  readonly inputs: readonly Uint32Array[];
  readonly unmaskings: readonly UnmaskingMessage[];
  readonly secondReveals: readonly PairwiseRevealMessage[];
  /** Members that refused the coordinator's second-reveal request, with why. */
  readonly refusals: ReadonlyMap<number, string>;
  readonly maskingKeys: ReadonlyMap<number, Uint8Array>;
}

export interface CoordinatorMoves {
  /** What the coordinator asks in the second reveal instead of the honest request. */
  readonly request?: (honest: PairwiseRevealRequest) => PairwiseRevealRequest;
  /** Ask before the members' Unmasking (no U3 they unmasked with yet). */
  readonly beforeUnmasking?: boolean;
  /** Ask every member a second time (its answers kept, not delivered). */
  readonly repeat?: boolean;
}

/** The round in process with the honest server code; the liar drops after ShareKeys. */
export function playDroppedDealer(
  adversary: 'semi-honest' | 'semi-malicious',
  seed: number,
  liar: Liar,
  moves: CoordinatorMoves = {},
): Played {
  const { fixture, server, clients } = completeGraphRound({
    clients: CLIENTS,
    threshold: THRESHOLD,
    dimension: 8,
    adversary,
    seed,
  });
  const { context, curve, random } = fixture;
  const maskingKeys = new Map<number, Uint8Array>();
  for (const client of clients) {
    let message = client.advertiseKeys();
    if (client.index === LIAR && liar === 'torsion-key') {
      // S_v + T: its lift is not torsion-free, its cleared lift is ±8·lift(S_v), whose dlog the
      // liar knows (8·clamp(s_v)): the proof verifies on arrival.
      const secret = (client as unknown as { maskingSecretKey: Uint8Array }).maskingSecretKey;
      const key = montgomeryU(Point.BASE.multiply(clamp(secret) % ORDER).add(T8));
      message = {
        ...message,
        maskingPublicKey: key,
        maskingKeyProof: signPossession(
          key,
          maskingKeyPossessionContext(context.binding, LIAR),
          8n * clamp(secret),
        ),
        signature: curve.sign(
          fixture.identitySecretKeys[LIAR - 1]!,
          advertiseKeysPayload(
            context.binding,
            LIAR,
            message.encryptionPublicKey,
            key,
            message.sealingPublicKey,
            message.seedCommitment,
          ),
        ),
      };
    }
    maskingKeys.set(client.index, message.maskingPublicKey);
    server.receiveAdvertiseKeys(message);
  }
  server.closeAdvertiseKeys();
  const u1 = server.participantSets().advertised;
  for (const client of clients) {
    const honest = client.shareKeys(server.keysFor(client.index), u1);
    if (client.index !== LIAR || liar === 'torsion-key') {
      server.receiveShareKeys(honest);
      continue;
    }
    // Boxes that open, each share committed to in its signed box: nobody complains.
    const inner = client as unknown as {
      selfMaskSecret: Uint8Array;
      sealing: { seed: Uint8Array; publicKey: Uint8Array };
      identitySecretKey: Uint8Array;
      peers: Map<number, { encryptionPublicKey: Uint8Array }>;
    };
    const holders = client.shareHolders;
    const sk: Share[] =
      liar === 'wrong-secret'
        ? splitSecret(new Uint8Array(32).fill(0x33), THRESHOLD, holders, random)
        : holders.map((x) => ({ x, y: bytesToNumberLE(random(32)) }));
    const b = splitSecret(inner.selfMaskSecret, THRESHOLD, holders, random);
    const sealed = sealShareBoxes(
      context.binding,
      LIAR,
      honest.encryptedShares.map((box) => {
        const plaintext = new Uint8Array(2 * SHARE_BYTES);
        plaintext.set(encodeShare(sk[holders.indexOf(box.peer)]!), 0);
        plaintext.set(encodeShare(b[holders.indexOf(box.peer)]!), SHARE_BYTES);
        return {
          recipient: box.peer,
          publicKey: inner.peers.get(box.peer)!.encryptionPublicKey,
          plaintext,
        };
      }),
      inner.sealing,
      inner.identitySecretKey,
      curve,
      random,
    );
    server.receiveShareKeys({
      sender: LIAR,
      selfMaskCommitment: honest.selfMaskCommitment,
      ...sealed,
    });
  }
  server.closeShareKeys();
  const stayers = clients.filter((c) => c.index !== LIAR);
  const { u3 } = playMaskedInput(server, stayers, fixture.inputs);
  playConsistencyCheck(server, adversary, stayers, u3);
  const refusals = new Map<number, string>();
  const secondReveals: PairwiseRevealMessage[] = [];
  const askSecondReveal = (request: PairwiseRevealRequest, receive: boolean) => {
    for (const client of stayers) {
      try {
        const message = client.revealPairwiseSecrets(moves.request?.(request) ?? request);
        secondReveals.push(message);
        if (receive) server.receivePairwiseReveal(message);
      } catch (error) {
        if (!(error instanceof SecAggError)) throw error;
        refusals.set(client.index, error.message);
      }
    }
  };
  if (moves.beforeUnmasking) askSecondReveal({ dropped: [LIAR] }, false);
  const request = server.unmaskingRequest();
  const unmaskings = stayers.map((client) => client.unmask(request, u3));
  for (const message of unmaskings) server.receiveUnmasking(message);
  let result: SecAggResult | SecAggError;
  try {
    if (server.closeUnmasking() === 'pairwise-reveal') {
      expect(server.pairwiseRevealRequest()).toEqual({ dropped: [LIAR] });
      askSecondReveal(server.pairwiseRevealRequest(), true);
      if (moves.repeat) askSecondReveal(server.pairwiseRevealRequest(), false);
      server.closePairwiseReveal();
    }
    result = server.finishUnmasking();
  } catch (error) {
    if (!(error instanceof SecAggError)) throw error;
    result = error;
  }
  return {
    result,
    survivors: u3,
    inputs: fixture.inputs,
    unmaskings,
    secondReveals,
    refusals,
    maskingKeys,
  };
}

/**
 * Members of U3 whose input the coordinator could read from everything it received (the attacker
 * oracle of recoverableOwners, test/support/malicious-coordinator.ts, on the protocol objects): t
 * shares of b_u, and each pairwise mask u added removable — t shares of s_u^SK, or t of the
 * partner's, or the pair's secret revealed (at Unmasking or in the second reveal). A revealed
 * X25519(s_a, K_b) counts for every pair whose keys equal {K_a, K_b} up to sign and small-order
 * components (what X25519 with a clamped scalar cannot tell apart).
 */
export function recoverable(
  played: Pick<Played, 'survivors' | 'unmaskings' | 'secondReveals' | 'maskingKeys'>,
): number[] {
  const { unmaskings, secondReveals, maskingKeys } = played;
  const bShares = new Map<number, number>();
  const sShares = new Map<number, number>();
  for (const message of unmaskings) {
    for (const { owner } of message.selfMaskShares)
      bShares.set(owner, (bShares.get(owner) ?? 0) + 1);
    for (const { owner } of message.maskingKeyShares)
      sShares.set(owner, (sShares.get(owner) ?? 0) + 1);
  }
  const lift = (key: Uint8Array) => liftPeerKey(key);
  const sameKey = (a: Uint8Array, b: Uint8Array) => {
    const [la, lb] = [lift(a), lift(b)];
    return la !== undefined && lb !== undefined && (la.equals(lb) || la.equals(lb.negate()));
  };
  const members = [...maskingKeys.keys()];
  const like = (member: number) =>
    members.filter((other) => sameKey(maskingKeys.get(other)!, maskingKeys.get(member)!));
  const pairs = new Set<string>();
  const pair = (a: number, b: number) => `${Math.min(a, b)}:${Math.max(a, b)}`;
  const revealed = [...unmaskings, ...secondReveals].flatMap((message) =>
    (message.pairwiseSecrets ?? []).map(({ peer }) => [message.sender, peer] as const),
  );
  for (const [revealer, peer] of revealed)
    for (const a of like(revealer)) for (const b of like(peer)) if (a !== b) pairs.add(pair(a, b));
  const sKnown = (member: number) => (sShares.get(member) ?? 0) >= THRESHOLD;
  return played.survivors.filter(
    (owner) =>
      (bShares.get(owner) ?? 0) >= THRESHOLD &&
      members
        .filter((partner) => partner !== owner)
        .every((partner) => sKnown(owner) || sKnown(partner) || pairs.has(pair(owner, partner))),
  );
}

export function plainSum(played: Played): Uint32Array {
  const sum = new Uint32Array(8);
  for (const member of played.survivors)
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + played.inputs[member - 1]![i]!) >>> 0;
  return sum;
}
