import { describe, expect, it } from '@jest/globals';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import type {
  AdvertiseKeysMessage,
  ShareKeysMessage,
  UnmaskingMessage,
} from '../../crypto/secagg/messages.ts';
import { CoordinatorTamperingError, MalformedMessageError } from '../../crypto/secagg/errors.ts';
import { advertiseKeysPayload } from '../../crypto/secagg/transcript.ts';
import { sealShareBoxes } from '../../crypto/secagg/share-box.ts';
import { bytesToBigInt } from '../../crypto/field.ts';
import { seededRandom } from '../../crypto/random.ts';
import {
  decodeWithErrors,
  encodeShare,
  type Share,
  SHARE_BYTES,
  splitSecret,
} from '../../crypto/shamir.ts';
import {
  completeGraphRound,
  fixtureParties,
  modularSum,
  playConsistencyCheck,
  playMaskedInput,
  roundFixture,
} from '../support/secagg-fixture.ts';

/**
 * One malicious member against an honest server (issue 17: "one bad member must neither stop a
 * default round nor get an honest member excluded or named"), played on the protocol objects.
 * Found by review B (branch review-b): a member whose signed boxes do not open (or hold garbage)
 * for k − t + 1 or more holders left too few valid shares of its s^SK, so its pairwise masks
 * could not be removed and the round aborted; a member that dealt self-mask shares off its
 * polynomial got the honest holder of the bad share named at Unmasking.
 */
const LIAR = 5;
const CLIENTS = 6;
const THRESHOLD = 3;

type Dealing = (
  client: SecAggClient,
  honest: ShareKeysMessage,
  keys: ReadonlyMap<number, AdvertiseKeysMessage>,
) => ShareKeysMessage;

interface PlayOptions {
  /** The liar drops after ShareKeys (its s^SK is then reconstructed). */
  readonly liarDrops?: boolean;
  /** Rewrites one member's Unmasking message. */
  readonly reveal?: (message: UnmaskingMessage) => UnmaskingMessage;
  /** Rewrites the liar's AdvertiseKeys (a refusal by the server is recorded, not thrown). */
  readonly advertise?: (message: AdvertiseKeysMessage) => AdvertiseKeysMessage;
}

function play(
  adversary: 'semi-honest' | 'semi-malicious',
  deal: Dealing,
  seed: number,
  options: PlayOptions = {},
) {
  const { fixture, server, clients } = completeGraphRound({
    clients: CLIENTS,
    threshold: THRESHOLD,
    dimension: 8,
    adversary,
    seed,
  });
  let refused: Error | undefined;
  for (const client of clients) {
    const message = client.advertiseKeys();
    if (client.index !== LIAR || options.advertise === undefined) {
      server.receiveAdvertiseKeys(message);
      continue;
    }
    try {
      server.receiveAdvertiseKeys(options.advertise(message));
    } catch (error) {
      refused = error as Error;
    }
  }
  server.closeAdvertiseKeys();
  const u1 = server.participantSets().advertised;
  const keys = new Map<number, AdvertiseKeysMessage>();
  for (const client of clients.filter((c) => u1.includes(c.index))) {
    const broadcast = server.keysFor(client.index);
    for (const k of broadcast.keys) keys.set(k.sender, k);
    const honest = client.shareKeys(broadcast, u1);
    server.receiveShareKeys(client.index === LIAR ? deal(client, honest, keys) : honest);
  }
  server.closeShareKeys();
  const u2 = server.participantSets().shared;
  const senders = clients.filter(
    (c) => u2.includes(c.index) && !(options.liarDrops === true && c.index === LIAR),
  );
  const { u3 } = playMaskedInput(server, senders, fixture.inputs);
  playConsistencyCheck(
    server,
    adversary,
    clients.filter((c) => u3.includes(c.index)),
    u3,
  );
  const request = server.unmaskingRequest();
  const reveals = clients
    .filter((c) => request.survivors.includes(c.index))
    .map((client) => client.unmask(request, u3))
    .map((message) => options.reveal?.(message) ?? message);
  for (const reveal of reveals) server.receiveUnmasking(reveal);
  return { fixture, result: server.finishUnmasking(), reveals, u3, refused };
}

/** The liar's real secrets, read from its own client (a malicious member runs any code). */
function secretsOf(client: SecAggClient) {
  return client as unknown as {
    maskingSecretKey: Uint8Array;
    selfMaskSecret: Uint8Array;
    sealing: { seed: Uint8Array; publicKey: Uint8Array };
    identitySecretKey: Uint8Array;
    context: { binding: Uint8Array };
    curve: Parameters<typeof sealShareBoxes>[5];
    random: Parameters<typeof sealShareBoxes>[6];
  };
}

/** Reseals the liar's boxes (signed with both its keys) with `plaintextFor`'s contents. */
function reseal(
  client: SecAggClient,
  honest: ShareKeysMessage,
  keys: ReadonlyMap<number, AdvertiseKeysMessage>,
  plaintextFor: (peer: number, i: number) => Uint8Array,
): ShareKeysMessage {
  const inner = secretsOf(client);
  const sealed = sealShareBoxes(
    inner.context.binding,
    client.index,
    honest.encryptedShares.map((box, i) => ({
      recipient: box.peer,
      publicKey: keys.get(box.peer)!.encryptionPublicKey,
      plaintext: plaintextFor(box.peer, i),
    })),
    inner.sealing,
    inner.identitySecretKey,
    inner.curve,
    inner.random,
  );
  return { sender: client.index, selfMaskCommitment: honest.selfMaskCommitment, ...sealed };
}

/**
 * Valid shares of the liar's own secrets in all boxes but the first `bad`, garbage in those (or,
 * with `offPolynomial`, that kind of share moved off its polynomial in a box that opens and
 * matches the commitments the liar signs with it).
 */
const garbageIn =
  (bad: number, offPolynomial?: 'masking-key' | 'self-mask'): Dealing =>
  (client, honest, keys) => {
    const inner = secretsOf(client);
    const holders = client.shareHolders;
    const sk = splitSecret(inner.maskingSecretKey, THRESHOLD, holders, inner.random);
    const b = splitSecret(inner.selfMaskSecret, THRESHOLD, holders, inner.random);
    (client as unknown as { ownShares: unknown }).ownShares = {
      maskingKey: sk[holders.indexOf(client.index)]!,
      selfMask: b[holders.indexOf(client.index)]!,
    };
    return reseal(client, honest, keys, (peer, i) => {
      const plaintext = new Uint8Array(2 * SHARE_BYTES);
      const off = (share: Share, kind: 'masking-key' | 'self-mask') =>
        i < bad && offPolynomial === kind ? { x: share.x, y: share.y + BigInt(i * i + 1) } : share;
      if (i >= bad || offPolynomial !== undefined) {
        plaintext.set(encodeShare(off(sk[holders.indexOf(peer)]!, 'masking-key')), 0);
        plaintext.set(encodeShare(off(b[holders.indexOf(peer)]!, 'self-mask')), SHARE_BYTES);
      }
      return plaintext;
    });
  };

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'SecAgg+ (%s) against one member whose signed boxes hold garbage',
  (adversary) => {
    // k = 5, t = 3: 3 = k − t + 1 bad boxes leave 2 < t valid shares of its s^SK.
    it.each([1, 3, 5])(
      '%i of its 5 boxes bad: the round completes without it, only it is named',
      (bad) => {
        const { fixture, result, reveals } = play(adversary, garbageIn(bad), 40 + bad);
        expect(result.included).toEqual([1, 2, 3, 4, 6]);
        expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
        expect(result.sum).toEqual(modularSum(fixture.inputs, [1, 2, 3, 4, 6], 32));
        // Pairwise secrets are revealed for the convicted liar only, never for a member in U3.
        for (const reveal of reveals)
          expect((reveal.pairwiseSecrets ?? []).map((p) => p.peer)).toEqual([LIAR]);
      },
    );
  },
);

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'SecAgg+ (%s) against one member without a valid proof of possession of its masking key',
  (adversary) => {
    // Without the proof, its convicted pairwise masks could be removed neither with its
    // neighbours' pairwise secrets nor with its s^SK (3 = k − t + 1 bad boxes): the server must
    // refuse its keys on arrival, so that it never enters U1 (issue 17).
    const tampered: [string, (message: AdvertiseKeysMessage) => AdvertiseKeysMessage][] = [
      ['omitted', ({ maskingKeyProof: _, ...message }) => message],
      [
        'garbled',
        (message) => ({
          ...message,
          maskingKeyProof: Uint8Array.from(message.maskingKeyProof!, (b, i) =>
            i === 40 ? b ^ 4 : b,
          ),
        }),
      ],
    ];
    it.each(tampered)(
      'proof %s, 3 of its 5 boxes bad: its keys are refused, the round completes without it, no one else is excluded',
      (_, advertise) => {
        const { fixture, result, reveals, refused } = play(adversary, garbageIn(3), 75, {
          advertise,
        });
        expect(refused).toBeInstanceOf(MalformedMessageError);
        expect(refused!.message).toMatch(
          new RegExp(`^client ${LIAR}'s proof of possession of its masking key does not verify`),
        );
        expect(result.included).toEqual([1, 2, 3, 4, 6]);
        expect(result.misbehaving).toEqual([]);
        expect(result.sum).toEqual(modularSum(fixture.inputs, [1, 2, 3, 4, 6], 32));
        for (const reveal of reveals) expect(reveal.pairwiseSecrets ?? []).toEqual([]);
      },
    );
  },
);

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'SecAgg+ (%s) against one member that deals shares off its polynomial in boxes that open',
  (adversary) => {
    // m = 6 shares (5 holders and its own), t = 3: 1 off is corrected by Berlekamp–Welch, 2 and 3
    // by the t-subsets whose secret matches its commitment (3 = exactly t honest shares left).
    it.each([1, 2, 3])(
      '%i self-mask shares off: the round completes with it, only it is named',
      (bad) => {
        const { fixture, result } = play(adversary, garbageIn(bad, 'self-mask'), 50 + bad);
        expect(result.included).toEqual([1, 2, 3, 4, 5, 6]);
        expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
        expect(result.sum).toEqual(modularSum(fixture.inputs, [1, 2, 3, 4, 5, 6], 32));
      },
    );

    // It drops, so its own share is not revealed: 5 shares, 2 off leaves exactly t = 3.
    it.each([1, 2])(
      '%i masking-key shares off, then it drops: the round completes without it, only it is named',
      (bad) => {
        const { fixture, result } = play(adversary, garbageIn(bad, 'masking-key'), 60 + bad, {
          liarDrops: true,
        });
        expect(result.included).toEqual([1, 2, 3, 4, 6]);
        expect(result.misbehaving.map((m) => m.member)).toEqual([LIAR]);
        expect(result.sum).toEqual(modularSum(fixture.inputs, [1, 2, 3, 4, 6], 32));
      },
    );

    it('a holder that reveals a share other than the one it was dealt is named, not the dealer', () => {
      const TAMPERER = 1;
      const { fixture, result } = play(adversary, garbageIn(0), 70, {
        reveal: (message) =>
          message.sender !== TAMPERER
            ? message
            : {
                ...message,
                selfMaskShares: message.selfMaskShares.map((share) =>
                  share.owner !== LIAR
                    ? share
                    : {
                        ...share,
                        share: Uint8Array.from(share.share, (b, i) => (i === 34 ? b ^ 1 : b)),
                      },
                ),
              },
      });
      expect(result.misbehaving.map((m) => m.member)).toEqual([TAMPERER]);
      expect(result.sum).toEqual(modularSum(fixture.inputs, [1, 2, 3, 4, 5, 6], 32));
    });
  },
);

describe('a masking key off the prime-order group (its neighbours could not prove their pairwise secrets)', () => {
  // u = 0: a point of small order (X25519 with it gives all zeros); u = 2 lies on the twist.
  const offGroup = [
    new Uint8Array(32),
    Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 2 : 0)),
  ];

  it.each(offGroup.map((key, i) => [i, key] as const))(
    'key %i: refused by the server on AdvertiseKeys, and a member it is relayed to names the coordinator',
    (_, maskingPublicKey) => {
      const fixture = roundFixture({ clients: 4, degree: 3, threshold: 3, dimension: 4, seed: 80 });
      const { context, curve } = fixture;
      const { server, clients } = fixtureParties(fixture);
      const messages = clients.map((client) => client.advertiseKeys());
      const honest = messages[2]!; // client 3
      const bad = {
        ...honest,
        maskingPublicKey,
        signature: curve.sign(
          fixture.identitySecretKeys[honest.sender - 1]!,
          advertiseKeysPayload(
            context.binding,
            honest.sender,
            honest.encryptionPublicKey,
            maskingPublicKey,
            honest.sealingPublicKey,
            honest.seedCommitment,
          ),
        ),
      };
      expect(() => server.receiveAdvertiseKeys(bad)).toThrow(
        /masking public key is not a point of the curve's prime-order group/,
      );
      const keys = messages.filter((m) => m.sender !== 1).map((m) => (m === honest ? bad : m));
      expect(() => clients[0]!.shareKeys({ keys }, [1, 2, 3, 4])).toThrow(
        CoordinatorTamperingError,
      );
    },
  );
});

describe('Berlekamp–Welch decoding of a dealer’s shares (shamir.ts decodeWithErrors)', () => {
  const random = seededRandom(90);
  const secret = random(32);
  it.each([
    [6, 3, 1],
    [19, 11, 4],
    [13, 9, 2],
  ])(
    'm = %i, t = %i: %i shares off are corrected and named; one more is not decoded',
    (m, t, off) => {
      const shares = splitSecret(
        secret,
        t,
        Array.from({ length: m }, (_, i) => i + 1),
        random,
      );
      const offAt = (count: number) =>
        shares.map((share, i) =>
          i % 2 === 0 && i / 2 < count ? { ...share, y: share.y + 5n } : share,
        );
      const decoded = decodeWithErrors(offAt(off), t);
      expect(decoded?.secret).toBe(bytesToBigInt(secret));
      expect(decoded?.disagreeing).toEqual(Array.from({ length: off }, (_, i) => 2 * i + 1));
      const beyond = decodeWithErrors(offAt(off + 1), t);
      expect(beyond === undefined || beyond.secret !== bytesToBigInt(secret)).toBe(true);
    },
  );
});
