import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { systemRandom } from '../../crypto/random.ts';
import { encodeShare, SHARE_BYTES, splitSecret } from '../../crypto/shamir.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import {
  Adversary,
  Mode,
  Phase,
  type Round,
  type RoundParams,
} from '../../proto/gen/veilsum/v1/round.ts';
import {
  AdvertiseKeysRequest,
  RevealPairwiseRequest,
  UnmaskRequest,
} from '../../proto/gen/veilsum/v1/secagg.ts';
import { revealPairwiseFromWire, unmaskFromWire } from '../../proto/secagg-wire.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { RoundStore } from '../../services/coordinator/round-store.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { maliciousMember, type MemberLies } from '../support/malicious-member.ts';
import { recoverable } from '../support/secagg-dropped-dealer.ts';

/**
 * One malicious member against the real coordinator (gRPC services on 127.0.0.1, embedded
 * ledger) and five honest SDK members: its bad share box or false self-mask commitment must
 * not abort the round; the round completes, and the round record and the ledger name it.
 */
const DIMENSION = 64;
const MEMBERS = 6;

describe('SecAgg+ against one malicious member', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let database: EmbeddedLedgerDatabase;
  let admin: VeilsumClient;
  let roundNumber = 0;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'mm');
    const ledgerPath = join(consortium.directory, 'ledger.db');
    coordinator = await startCoordinator();
    database = new EmbeddedLedgerDatabase(
      ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    for (const member of consortium.members) {
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `data-${member}`,
        'mm-model',
        Date.now() + 86_400_000,
      );
    }
    admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
  });

  /** The coordinator on the consortium's data directory (a restart replays its rounds). */
  async function startCoordinator(): Promise<Coordinator> {
    const started = new Coordinator(
      {
        ...consortium.config,
        listen: '127.0.0.1:0',
        ledger: { path: join(consortium.directory, 'ledger.db'), identity: 'veilsum-coordinator' },
      },
      pino({ level: 'silent' }),
    );
    await started.start();
    return started;
  }

  afterAll(async () => {
    admin.close();
    database.close();
    await coordinator.stop();
  });

  const params = (): RoundParams => ({
    modelId: 'mm-model',
    roundNumber: ++roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: DIMENSION,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: MEMBERS - 1,
    adversary: Adversary.ADVERSARY_SEMI_HONEST,
    members: consortium.members,
    deadlines: {
      advertiseKeysMs: 20_000,
      shareKeysMs: 20_000,
      // Closes early once everyone uploaded; a member that drops after ShareKeys waits it out.
      maskedInputMs: 10_000,
      consistencyCheckMs: 20_000,
      unmaskingMs: 20_000,
    },
    corruptionRate: 0.05,
    dropoutRate: 0.2,
    minContributors: 0,
    ckks: undefined,
  });

  const inputs = Array.from({ length: MEMBERS }, (_, i) =>
    new Uint32Array(DIMENSION).fill(1000 * (i + 1)),
  );
  const sumOf = (members: number[]) =>
    new Uint32Array(DIMENSION).fill(members.reduce((total, m) => total + 1000 * m, 0));

  /**
   * Five honest SDK members and the malicious member 6 run one round. `lies`: member 6's (a
   * rewrite of its ShareKeys message alone, or more); `waitForResult`: whether the honest members
   * wait for the result, as a default member does (they then take part in a second reveal).
   */
  async function roundWith(
    lies: NonNullable<MemberLies['shares']> | MemberLies,
    waitForResult = false,
  ): Promise<{ finished: Round; misbehaviour: { memberId: string; reason: string }[] }> {
    const round = await admin.openRound(params());
    const honest = consortium.members.slice(0, MEMBERS - 1).map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        ledger: new Ledger(database.as(consortium.local.ledgerWriter(member))),
      }),
    );
    try {
      await Promise.all([
        ...honest.map((client, i) =>
          client.participateQuantized(round, inputs[i]!, { waitForResult }),
        ),
        maliciousMember(
          consortium,
          consortium.members[MEMBERS - 1]!,
          coordinator.port,
          new Ledger(database.as(consortium.local.ledgerWriter(consortium.members[MEMBERS - 1]!))),
          round.roundId,
          inputs[MEMBERS - 1]!,
          typeof lies === 'function' ? { shares: lies } : lies,
        ),
      ]);
      const finished = await admin.waitForResult(round.roundId);
      const ledger = new Ledger(database.as(consortium.local.ledgerWriter('veilsum-coordinator')));
      let misbehaviour = await ledger.roundMisbehaviour(round.roundId);
      for (let i = 0; i < 100 && misbehaviour.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        misbehaviour = await ledger.roundMisbehaviour(round.roundId);
      }
      return { finished, misbehaviour };
    } finally {
      for (const client of honest) client.close();
    }
  }

  it('an undecryptable share box, signed by its sender (its ephemeral key’s proof no longer matching), excludes that sender; the round completes with the others and names it', async () => {
    const { finished, misbehaviour } = await roundWith((message, { resign }) =>
      resign({
        ...message,
        encryptedShares: message.encryptedShares.map((box, i) => {
          if (i !== 0) return box;
          const ciphertext = box.ciphertext.slice();
          ciphertext[30]! ^= 0xff;
          return { ...box, ciphertext };
        }),
      }),
    );
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving).toEqual([
      expect.objectContaining({
        index: 6,
        memberId: 'mm-06',
        reason: expect.stringMatching(
          /its signed share box for client 1 carries an ephemeral key that is unproven or not a point of prime order/,
        ),
      }),
    ]);
    expect(misbehaviour).toEqual([expect.objectContaining({ memberId: 'mm-06' })]);
  }, 60_000);

  it('a share box that opens but holds no valid share (x = 0) excludes its sender, verified with the revealed key', async () => {
    const { finished, misbehaviour } = await roundWith((message, { sealFor, sign }) =>
      sign({
        ...message,
        encryptedShares: message.encryptedShares.map((box, i) =>
          i === 1 ? sealFor(box.peer, new Uint8Array(2 * SHARE_BYTES)) : box,
        ),
      }),
    );
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      [
        'mm-06',
        expect.stringMatching(
          /its signed share box for client 2 does not open, or holds no valid share, under the proven key/,
        ),
      ],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);

  it('a false self-mask commitment does not abort the round: the member is named, its shares decide', async () => {
    const { finished, misbehaviour } = await roundWith((message) => ({
      ...message,
      selfMaskCommitment: new Uint8Array(32).fill(0xaa),
    }));
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    // Its masked input is already in the sum when the lie shows; its b is what its shares say.
    expect(finished.included).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5, 6]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      [
        'mm-06',
        expect.stringMatching(
          /shares of its self-mask seed agree, but not with what it committed to/,
        ),
      ],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);

  it("every share box of member 6 signed but undecryptable (too few valid shares of its s^SK): the round completes without it, its masks removed with its neighbours' proven pairwise secrets", async () => {
    const { finished, misbehaviour } = await roundWith((message, { sign }) =>
      sign({
        ...message,
        encryptedShares: message.encryptedShares.map((box) => {
          const ciphertext = box.ciphertext.slice();
          ciphertext[30]! ^= 0xff;
          return { ...box, ciphertext };
        }),
      }),
    );
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving.map((m) => m.memberId)).toEqual(['mm-06']);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);

  it("one holder's self-mask share off member 6's polynomial, in a box that opens: the round completes with it, only member 6 is named", async () => {
    const { finished, misbehaviour } = await roundWith((message, { sealFor, sign }) =>
      sign({
        ...message,
        encryptedShares: message.encryptedShares.map((box, i) => {
          if (i !== 0) return box;
          const plaintext = new Uint8Array(2 * SHARE_BYTES);
          plaintext.set(encodeShare({ x: box.peer, y: 123456789n }), 0);
          plaintext.set(encodeShare({ x: box.peer, y: 987654321n }), SHARE_BYTES);
          return sealFor(box.peer, plaintext);
        }),
      }),
    );
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5, 6]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      ['mm-06', expect.stringMatching(/dealt shares of its self-mask seed off its polynomial/)],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);
  }, 60_000);

  /**
   * The second reveal through the real stack: member 6 deals every holder a box that opens with
   * consistent, committed shares of a wrong s^SK, then drops after ShareKeys. Before, Unmasking
   * could not remove its masks and the round aborted (naming it); now its neighbours, on the SDK's
   * default path, reveal their pairwise secrets with it in PHASE_PAIRWISE_REVEAL. "Recoverable" is
   * computed from every message the coordinator stored (AdvertiseKeys, Unmask, RevealPairwise).
   */
  it('a member dealing consistent shares of a wrong s^SK drops after ShareKeys: the round completes with the others in a second reveal, names only it, and the coordinator can recover nobody', async () => {
    const { finished, misbehaviour } = await roundWith(
      {
        dropAfterShareKeys: true,
        shares: (message, { sealFor, sign, index }) => {
          const holders = [...message.encryptedShares.map((box) => box.peer), index].sort(
            (a, b) => a - b,
          );
          const wrong = splitSecret(new Uint8Array(32).fill(0x33), 3, holders, systemRandom);
          const b = splitSecret(systemRandom(32), 3, holders, systemRandom);
          return sign({
            ...message,
            encryptedShares: message.encryptedShares.map((box) => {
              const plaintext = new Uint8Array(2 * SHARE_BYTES);
              plaintext.set(encodeShare(wrong[holders.indexOf(box.peer)]!), 0);
              plaintext.set(encodeShare(b[holders.indexOf(box.peer)]!), SHARE_BYTES);
              return sealFor(box.peer, plaintext);
            }),
          });
        },
      },
      true,
    );
    expect(finished.abortReason).toBe('');
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.included).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
      ['mm-06', expect.stringMatching(/shares of its masking key agree, but not with what it/)],
    ]);
    expect(misbehaviour.map((m) => m.memberId)).toEqual(['mm-06']);

    // Everything the coordinator received and stored, as an attacker would read it.
    const store = new RoundStore(consortium.config.dataDir);
    const events = store.events(finished.roundId);
    store.close();
    const decoded = <T>(kind: string, decode: (sender: number, payload: Uint8Array) => T) =>
      events
        .filter((event) => event.kind === kind)
        .map((event) => decode(event.sender!, event.payload!));
    const maskingKeys = new Map(
      decoded('advertise', (sender, payload) => [
        sender,
        new Uint8Array(AdvertiseKeysRequest.decode(payload).maskingPublicKey),
      ]),
    );
    const unmaskings = decoded('unmask', (sender, payload) =>
      unmaskFromWire(sender, UnmaskRequest.decode(payload)),
    );
    const secondReveals = decoded('reveal-pairwise', (sender, payload) =>
      revealPairwiseFromWire(sender, RevealPairwiseRequest.decode(payload)),
    );
    expect(
      secondReveals
        .map((m) => [m.sender, m.pairwiseSecrets.map((p) => p.peer)] as const)
        .sort(([a], [b]) => a - b),
    ).toEqual([1, 2, 3, 4, 5].map((member) => [member, [6]]));
    expect(
      recoverable({ survivors: finished.included, unmaskings, secondReveals, maskingKeys }),
    ).toEqual([]);

    // A restart replays the second reveal's events (the phase's close, each RevealPairwise) into
    // the same finished round.
    await coordinator.stop();
    coordinator = await startCoordinator();
    const restarted = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      const replayed = await restarted.getRound(finished.roundId);
      expect([replayed.phase, replayed.included, replayed.abortReason]).toEqual([
        Phase.PHASE_DONE,
        [1, 2, 3, 4, 5],
        '',
      ]);
      expect(await restarted.getAggregate(finished.roundId)).toEqual(sumOf([1, 2, 3, 4, 5]));
    } finally {
      restarted.close();
    }
  }, 90_000);
});
