import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { systemRandom } from '../../crypto/random.ts';
import { encodeShare, SHARE_BYTES, splitSecret } from '../../crypto/shamir.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Adversary, Mode, Phase, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
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
import { maliciousMember } from '../support/malicious-member.ts';
import { recoverable } from '../support/secagg-dropped-dealer.ts';

/**
 * The second reveal through the real stack (issue 17): the coordinator's gRPC services on
 * 127.0.0.1 with its embedded ledger, five honest SDK members on their default path (they wait
 * for the result, so they take part in a second reveal), and member 6, which deals every holder a
 * box that opens with consistent, committed shares of a wrong s^SK, then drops after ShareKeys.
 * Before, Unmasking could not remove member 6's masks and the round aborted (naming it); now its
 * neighbours reveal their pairwise secrets with it in PHASE_PAIRWISE_REVEAL and the round
 * completes. "Recoverable" is computed from every message the coordinator stored (AdvertiseKeys,
 * Unmask, RevealPairwise events).
 */
const DIMENSION = 64;
const MEMBERS = 6;
const LIAR = 6;

describe('SecAgg+ second reveal over gRPC', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let database: EmbeddedLedgerDatabase;
  let admin: VeilsumClient;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'sr');
    const ledgerPath = join(consortium.directory, 'ledger.db');
    coordinator = new Coordinator(
      {
        ...consortium.config,
        listen: '127.0.0.1:0',
        ledger: { path: ledgerPath, identity: 'veilsum-coordinator' },
      },
      pino({ level: 'silent' }),
    );
    await coordinator.start();
    database = new EmbeddedLedgerDatabase(
      ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    for (const member of consortium.members) {
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `data-${member}`,
        'sr-model',
        Date.now() + 86_400_000,
      );
    }
    admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
  });

  afterAll(async () => {
    admin.close();
    database.close();
    await coordinator.stop();
  });

  const params = (): RoundParams => ({
    modelId: 'sr-model',
    roundNumber: 1,
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
      // Member 6 never uploads: this phase runs to its deadline.
      maskedInputMs: 6_000,
      consistencyCheckMs: 20_000,
      unmaskingMs: 20_000,
    },
    corruptionRate: 0.05,
    dropoutRate: 0.2,
    minContributors: 0,
    ckks: undefined,
  });

  it('a member dealing consistent shares of a wrong s^SK drops after ShareKeys: the round completes with the sum of the others, names only it, and the coordinator can recover nobody', async () => {
    const inputs = Array.from({ length: MEMBERS }, (_, i) =>
      new Uint32Array(DIMENSION).fill(1000 * (i + 1)),
    );
    const round = await admin.openRound(params());
    const honest = consortium.members.slice(0, MEMBERS - 1).map((member) =>
      VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        ledger: new Ledger(database.as(consortium.local.ledgerWriter(member))),
      }),
    );
    try {
      const liar = consortium.members[LIAR - 1]!;
      const [outcomes] = await Promise.all([
        Promise.allSettled(
          honest.map((client, i) => client.participateQuantized(round, inputs[i]!)),
        ),
        maliciousMember(
          consortium,
          liar,
          coordinator.port,
          new Ledger(database.as(consortium.local.ledgerWriter(liar))),
          round.roundId,
          inputs[LIAR - 1]!,
          {
            dropAfterShareKeys: true,
            // Boxes that open, each share committed to in the box it signs: nobody complains.
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
        ),
      ]);
      expect(
        outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${i + 1}: ${o.reason}`] : [])),
      ).toEqual([]);
      const finished = await admin.waitForResult(round.roundId);
      expect(finished.abortReason).toBe('');
      expect(finished.phase).toBe(Phase.PHASE_DONE);
      expect(finished.included).toEqual([1, 2, 3, 4, 5]);
      const expected = new Uint32Array(DIMENSION).fill(1000 * (1 + 2 + 3 + 4 + 5));
      expect(await admin.getAggregate(finished.roundId)).toEqual(expected);
      expect(finished.misbehaving.map((m) => [m.memberId, m.reason])).toEqual([
        [liar, expect.stringMatching(/shares of its masking key agree, but not with what it/)],
      ]);

      // Everything the coordinator received and stored, as an attacker would read it.
      const store = new RoundStore(consortium.config.dataDir);
      const events = store.events(round.roundId);
      store.close();
      const maskingKeys = new Map(
        events
          .filter((event) => event.kind === 'advertise')
          .map((event) => [
            event.sender!,
            new Uint8Array(AdvertiseKeysRequest.decode(event.payload!).maskingPublicKey),
          ]),
      );
      const unmaskings = events
        .filter((event) => event.kind === 'unmask')
        .map((event) => unmaskFromWire(event.sender!, UnmaskRequest.decode(event.payload!)));
      const secondReveals = events
        .filter((event) => event.kind === 'reveal-pairwise')
        .map((event) =>
          revealPairwiseFromWire(event.sender!, RevealPairwiseRequest.decode(event.payload!)),
        );
      expect(
        secondReveals
          .map((m) => [m.sender, m.pairwiseSecrets.map((p) => p.peer)])
          .sort(([a], [b]) => (a as number) - (b as number)),
      ).toEqual([1, 2, 3, 4, 5].map((member) => [member, [LIAR]]));
      expect(
        recoverable({
          survivors: finished.included,
          unmaskings,
          secondReveals,
          maskingKeys,
        }),
      ).toEqual([]);
    } finally {
      for (const client of honest) client.close();
    }
  }, 120_000);
});
