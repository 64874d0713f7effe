import { beforeEach, describe, expect, it } from '@jest/globals';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import {
  CoordinatorTamperingError,
  DuplicateMessageError,
  InvalidSignatureError,
  LedgerMismatchError,
  MalformedMessageError,
  PhaseOrderError,
  UnexpectedSenderError,
} from '../../crypto/secagg/errors.ts';
import type { AdvertiseKeysMessage, UnmaskingMessage } from '../../crypto/secagg/messages.ts';
import { SecAggServer } from '../../crypto/secagg/server.ts';
import { sealShareBoxes, signedShareBoxes } from '../../crypto/secagg/share-box.ts';
import { decodeShare, encodeShare, SHARE_BYTES } from '../../crypto/shamir.ts';
import { SHAMIR_PRIME } from '../../crypto/field.ts';
import { modularSum, roundFixture, type RoundFixture } from '../support/secagg-fixture.ts';

/** Drives a 6-client complete-graph round by hand so single messages can be altered. */
class ManualRound {
  readonly fixture: RoundFixture;
  readonly server: SecAggServer;
  readonly clients: SecAggClient[];

  constructor(adversary: 'semi-honest' | 'semi-malicious' = 'semi-honest', threshold = 3) {
    this.fixture = roundFixture({
      clients: 6,
      degree: 5,
      threshold,
      dimension: 8,
      adversary,
      seed: 21,
    });
    const { context, curve, random } = this.fixture;
    this.server = new SecAggServer({ context, curve });
    this.clients = this.fixture.identitySecretKeys.map(
      (identitySecretKey, i) =>
        new SecAggClient({ context, index: i + 1, identitySecretKey, curve, random }),
    );
  }

  /** The committed participant sets (what the ledger would hold): U1, U2, U3. */
  get u1(): readonly number[] {
    return this.server.participantSets().advertised;
  }
  get u2(): readonly number[] {
    return this.server.participantSets().shared;
  }
  get u3(): readonly number[] {
    return this.server.participantSets().masked;
  }

  advertise(): AdvertiseKeysMessage[] {
    const messages = this.clients.map((client) => client.advertiseKeys());
    messages.forEach((message) => this.server.receiveAdvertiseKeys(message));
    this.server.closeAdvertiseKeys();
    return messages;
  }

  share(): void {
    for (const client of this.clients)
      this.server.receiveShareKeys(client.shareKeys(this.server.keysFor(client.index), this.u1));
    this.server.closeShareKeys();
  }

  mask(except: number[] = []): void {
    for (const client of this.clients) {
      if (except.includes(client.index)) continue;
      const input = this.fixture.inputs[client.index - 1]!;
      this.server.receiveMaskedInput(
        client.maskInput(this.server.sharesFor(client.index), this.u2, input),
      );
    }
    this.server.closeMaskedInputCollection();
  }

  unmaskMessages(): UnmaskingMessage[] {
    const request = this.server.unmaskingRequest();
    return this.clients
      .filter((c) => request.survivors.includes(c.index))
      .map((client) => client.unmask(request, this.u3));
  }
}

describe('SecAgg+ server validation', () => {
  let round: ManualRound;
  beforeEach(() => {
    round = new ManualRound();
  });

  it('rejects keys from an unknown client index', () => {
    const message = round.clients[0]!.advertiseKeys();
    expect(() => round.server.receiveAdvertiseKeys({ ...message, sender: 7 })).toThrow(
      UnexpectedSenderError,
    );
    expect(() => round.server.receiveAdvertiseKeys({ ...message, sender: 7 })).toThrow(
      /unknown client 7; participants are 1..6/,
    );
  });

  it('rejects keys signed by another identity, and keeps none of them', () => {
    const message = round.clients[0]!.advertiseKeys();
    const forged = { ...message, sender: 2 };
    expect(() => round.server.receiveAdvertiseKeys(forged)).toThrow(InvalidSignatureError);
    // The genuine client 2 can still advertise: the forgery changed nothing.
    expect(() =>
      round.server.receiveAdvertiseKeys(round.clients[1]!.advertiseKeys()),
    ).not.toThrow();
  });

  it('rejects a second AdvertiseKeys from the same client and keeps the first', () => {
    const first = round.clients[0]!.advertiseKeys();
    round.server.receiveAdvertiseKeys(first);
    expect(() => round.server.receiveAdvertiseKeys(first)).toThrow(DuplicateMessageError);
  });

  it('rejects keys of the wrong length', () => {
    const message = round.clients[0]!.advertiseKeys();
    expect(() =>
      round.server.receiveAdvertiseKeys({ ...message, maskingPublicKey: new Uint8Array(31) }),
    ).toThrow(/masking public key must be 32 bytes, got 31/);
  });

  it('rejects a message for a phase that is not the current one', () => {
    round.advertise();
    const late = round.clients[0]!;
    expect(() => round.server.receiveAdvertiseKeys({ sender: 1 } as AdvertiseKeysMessage)).toThrow(
      PhaseOrderError,
    );
    expect(() =>
      round.server.receiveMaskedInput({ sender: 1, maskedInput: new Uint32Array(8) }),
    ).toThrow(/the round is in phase share-keys, not masked-input/);
    expect(late.currentPhase).toBe('share-keys');
  });

  it('rejects ShareKeys whose boxes do not go to exactly the neighbours that advertised', () => {
    round.advertise();
    const message = round.clients[0]!.shareKeys(round.server.keysFor(1), round.u1);
    const missing = { ...message, encryptedShares: message.encryptedShares.slice(1) };
    expect(() => round.server.receiveShareKeys(missing)).toThrow(MalformedMessageError);
    expect(() => round.server.receiveShareKeys(missing)).toThrow(/one share box to each neighbour/);
    round.server.receiveShareKeys(message);
  });

  it('rejects a masked input of the wrong length, from a dropped client, or twice', () => {
    round.advertise();
    round.share();
    const client = round.clients[0]!;
    const message = client.maskInput(round.server.sharesFor(1), round.u2, round.fixture.inputs[0]!);
    expect(() =>
      round.server.receiveMaskedInput({ sender: 1, maskedInput: new Uint32Array(7) }),
    ).toThrow(/masked input has length 7, the round expects 8/);
    round.server.receiveMaskedInput(message);
    expect(() => round.server.receiveMaskedInput(message)).toThrow(DuplicateMessageError);
  });

  it('refuses a client input of the wrong length before the client changes phase', () => {
    round.advertise();
    round.share();
    const client = round.clients[0]!;
    expect(() => client.maskInput(round.server.sharesFor(1), round.u2, new Uint32Array(9))).toThrow(
      /input length 9 does not match the round dimension 8/,
    );
    expect(client.currentPhase).toBe('masked-input');
  });

  it('rejects an unmasking message that reveals a masking-key share of a survivor', () => {
    round.advertise();
    round.share();
    round.mask();
    const [first] = round.unmaskMessages();
    const wrongKind: UnmaskingMessage = {
      ...first!,
      selfMaskShares: first!.selfMaskShares.filter((_, i) => i !== 1),
      maskingKeyShares: [first!.selfMaskShares[1]!],
    };
    expect(() => round.server.receiveUnmasking(wrongKind)).toThrow(
      /revealed a masking-key share for client \d, which survived/,
    );
    round.server.receiveUnmasking(first!);
  });

  it('names the member that revealed a tampered share among more than t, and still returns the exact sum', () => {
    round.advertise();
    round.share();
    round.mask();
    const messages = round.unmaskMessages();
    const victim = messages[5]!;
    const altered = victim.selfMaskShares.map((revealed) => {
      if (revealed.owner !== 1) return revealed;
      const share = decodeShare(revealed.share);
      return { owner: 1, share: encodeShare({ x: share.x, y: (share.y + 1n) % SHAMIR_PRIME }) };
    });
    // Client 6's share is one of 6 for client 1's self-mask seed (t = 3): the fast path
    // ignores it (it uses x = 1, 2, 3) — so tamper with a share the fast path does use.
    const first = messages[0]!;
    const alteredFirst = first.selfMaskShares.map((revealed) => {
      if (revealed.owner !== 2) return revealed;
      const share = decodeShare(revealed.share);
      return { owner: 2, share: encodeShare({ x: share.x, y: (share.y + 1n) % SHAMIR_PRIME }) };
    });
    round.server.receiveUnmasking({ ...first, selfMaskShares: alteredFirst });
    for (const message of messages.slice(1, 5)) round.server.receiveUnmasking(message);
    round.server.receiveUnmasking({ ...victim, selfMaskShares: altered });
    const result = round.server.finishUnmasking();
    expect(result.sum).toEqual(modularSum(round.fixture.inputs, [1, 2, 3, 4, 5, 6], 32));
    // Client 6's tampered share is not used (the fast path's secret matches client 1's
    // commitment); client 1's is, fails the dealer's commitment in the slow path, and is named.
    expect(result.misbehaving.map(({ member, reason }) => [member, reason])).toEqual([
      [
        1,
        'it revealed a self-mask share of client 2 other than the one client 2 committed to in its signed box',
      ],
    ]);
    expect(() => new ManualRound().server.finishUnmasking()).toThrow(PhaseOrderError);
  });

  it('still returns the exact sum when a tampered share is not needed and the rest agree', () => {
    round.advertise();
    round.share();
    round.mask();
    const messages = round.unmaskMessages();
    for (const message of messages) round.server.receiveUnmasking(message);
    const result = round.server.finishUnmasking();
    expect(result.sum).toEqual(modularSum(round.fixture.inputs, [1, 2, 3, 4, 5, 6], 32));
  });
});

describe('SecAgg+ honest client refusals', () => {
  it('against a semi-malicious server, refuses neighbour keys the server substituted', () => {
    const round = new ManualRound('semi-malicious', 4);
    const messages = round.advertise();
    const broadcast = round.server.keysFor(1);
    const substituted = {
      keys: broadcast.keys.map((key) =>
        key.sender === 2 ? { ...key, maskingPublicKey: messages[2]!.maskingPublicKey } : key,
      ),
    };
    expect(() => round.clients[0]!.shareKeys(substituted, round.u1)).toThrow(InvalidSignatureError);
    expect(() => round.clients[0]!.shareKeys(substituted, round.u1)).toThrow(PhaseOrderError);
  });

  it('stops, naming the coordinator, when a share box does not carry its sender’s signature; the round completes without it', () => {
    const round = new ManualRound();
    round.advertise();
    round.share();
    for (const client of round.clients) {
      const delivery = round.server.sharesFor(client.index);
      if (client.index !== 4) {
        round.server.receiveMaskedInput(
          client.maskInput(delivery, round.u2, round.fixture.inputs[client.index - 1]!),
        );
        continue;
      }
      const boxes = delivery.encryptedShares.map((box) => {
        if (box.peer !== 5) return box;
        const ciphertext = box.ciphertext.slice();
        ciphertext[20]! ^= 1;
        return { ...box, ciphertext };
      });
      const tampered = () =>
        client.maskInput({ encryptedShares: boxes }, round.u2, round.fixture.inputs[3]!);
      expect(tampered).toThrow(CoordinatorTamperingError);
      expect(tampered).toThrow(PhaseOrderError); // it stays stopped
    }
    round.server.closeMaskedInputCollection();
    const messages = round.unmaskMessages();
    messages.forEach((message) => round.server.receiveUnmasking(message));
    const result = round.server.finishUnmasking();
    expect(result.sum).toEqual(modularSum(round.fixture.inputs, [1, 2, 3, 5, 6], 32));
    expect(result.misbehaving).toEqual([]);
  });

  it('stops, naming the coordinator, when it re-seals a box under a sealing key of its own (valid shares, its own signatures)', () => {
    const round = new ManualRound();
    const advertised = round.advertise();
    round.share();
    const { context, curve, random } = round.fixture;
    // The coordinator's box "from 5" to 4: valid shares at x = 4, sealed to 4's advertised key
    // under a sealing key it made, signed with keys it holds (it cannot sign as 5).
    const seed = random(32);
    const sealing = { seed, publicKey: curve.ed25519PublicKey(seed) };
    const forgerIdentity = random(32);
    const plaintext = new Uint8Array(2 * SHARE_BYTES);
    plaintext.set(encodeShare({ x: 4, y: 77n }), 0);
    plaintext.set(encodeShare({ x: 4, y: 78n }), SHARE_BYTES);
    const forged = sealShareBoxes(
      context.binding,
      5,
      [{ recipient: 4, publicKey: advertised[3]!.encryptionPublicKey, plaintext }],
      sealing,
      forgerIdentity,
      curve,
      random,
    );
    const [box] = signedShareBoxes(
      context.binding,
      { sender: 5, selfMaskCommitment: random(32), ...forged },
      sealing.publicKey,
      curve.ed25519PublicKey(forgerIdentity),
      () => advertised[3]!.encryptionPublicKey,
      curve,
    )!;
    const delivery = round.server.sharesFor(4);
    const boxes = delivery.encryptedShares.map((honest) => (honest.peer === 5 ? box! : honest));
    const client = round.clients[3]!;
    const tampered = () =>
      client.maskInput({ encryptedShares: boxes }, round.u2, round.fixture.inputs[3]!);
    // It opens only under the key 5 advertised (and signed), never the one the box carries.
    expect(tampered).toThrow(CoordinatorTamperingError);
    expect(tampered).toThrow(PhaseOrderError);
  });

  it('a good box whose relayed signature or path was altered still opens under its sender’s advertised key: it is the sender’s, and the sum is right', () => {
    const round = new ManualRound();
    round.advertise();
    round.share();
    for (const client of round.clients) {
      const delivery = round.server.sharesFor(client.index);
      const altered = delivery.encryptedShares.map((box) => ({
        ...box,
        signature: new Uint8Array(64),
        path: [],
      }));
      round.server.receiveMaskedInput(
        client.maskInput(
          { encryptedShares: altered },
          round.u2,
          round.fixture.inputs[client.index - 1]!,
        ),
      );
    }
    round.server.closeMaskedInputCollection();
    round.unmaskMessages().forEach((message) => round.server.receiveUnmasking(message));
    const result = round.server.finishUnmasking();
    expect(result.sum).toEqual(modularSum(round.fixture.inputs, [1, 2, 3, 4, 5, 6], 32));
    expect(result.misbehaving).toEqual([]);
  });

  it('never answers a second unmasking request (it would reveal the other secret of a peer)', () => {
    const round = new ManualRound();
    round.advertise();
    round.share();
    round.mask([6]);
    const request = round.server.unmaskingRequest();
    const client = round.clients[0]!;
    const answer = client.unmask(request, round.u3);
    expect(answer.maskingKeyShares.map((s) => s.owner)).toEqual([6]);
    expect(answer.selfMaskShares.map((s) => s.owner)).not.toContain(6);
    // A server that now claims 6 survived (to get b_6 as well) is refused.
    expect(() =>
      client.unmask({ survivors: [1, 2, 3, 4, 5, 6], signatures: [] }, round.u3),
    ).toThrow(PhaseOrderError);
  });

  it('never reveals both shares of one peer within a single answer', () => {
    const round = new ManualRound();
    round.advertise();
    round.share();
    round.mask([2, 5]);
    for (const answer of round.unmaskMessages()) {
      const selfOwners = new Set(answer.selfMaskShares.map((s) => s.owner));
      expect(answer.maskingKeyShares.filter((s) => selfOwners.has(s.owner))).toEqual([]);
    }
  });

  it('refuses to sign or unmask a survivor set other than the committed U3 (semi-malicious)', () => {
    const round = new ManualRound('semi-malicious', 4);
    round.advertise();
    round.share();
    round.mask([6]);
    const check = round.server.consistencyCheckRequest();
    expect(() =>
      round.clients[4]!.signSurvivors({ survivors: [1, 2, 3, 4, 5, 6] }, round.u3),
    ).toThrow(
      /differs from the committed U3 \(not committed: \[6\]; committed but not served: \[\]\)/,
    );
    const signatures = round.clients
      .slice(0, 4)
      .map((client) => client.signSurvivors(check, round.u3));
    const client = round.clients[0]!;
    expect(() => client.unmask({ survivors: [1, 2, 3, 4], signatures }, round.u3)).toThrow(
      LedgerMismatchError,
    );
  });

  it('refuses to unmask on fewer than t valid signatures of the survivor set (semi-malicious)', () => {
    const round = new ManualRound('semi-malicious', 4);
    round.advertise();
    round.share();
    round.mask([6]);
    const check = round.server.consistencyCheckRequest();
    const signatures = round.clients
      .slice(0, 5)
      .map((client) => client.signSurvivors(check, round.u3));
    const forged = { ...signatures[1]!, signature: signatures[2]!.signature };
    expect(() =>
      round.clients[0]!.unmask(
        {
          survivors: check.survivors,
          signatures: [signatures[0]!, forged, signatures[3]!, signatures[4]!],
        },
        round.u3,
      ),
    ).toThrow(InvalidSignatureError);
    expect(() =>
      round.clients[3]!.unmask(
        { survivors: check.survivors, signatures: signatures.slice(0, 3) },
        round.u3,
      ),
    ).toThrow(/only 3 clients signed the survivor set, threshold is 4/);
  });

  it('refuses a survivor set that omits itself or lists a client it never heard from', () => {
    const round = new ManualRound();
    round.advertise();
    round.share();
    round.mask([6]);
    expect(() =>
      round.clients[0]!.unmask({ survivors: [2, 3, 4, 5], signatures: [] }, round.u3),
    ).toThrow(/survivor set that differs from the committed U3/);
  });

  it('rejects a client constructed with an identity key that is not its roster key', () => {
    const fixture = roundFixture({ clients: 4, degree: 3, threshold: 2, dimension: 4 });
    expect(
      () =>
        new SecAggClient({
          context: fixture.context,
          index: 1,
          identitySecretKey: fixture.identitySecretKeys[1]!,
          curve: fixture.curve,
          random: fixture.random,
        }),
    ).toThrow(/does not match the roster key of client 1/);
  });
});
