import { ledgerParamsHash } from '../../proto/round-wire.ts';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { verifyMerkleProof } from '../../crypto/merkle.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Adversary, Mode, Phase, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

const DIMENSION = 64;

describe('coordinator with the embedded ledger: consent, commitments, inclusion, lineage', () => {
  let consortium: Consortium;
  let coordinator: Coordinator;
  let ledgerFile: EmbeddedLedgerDatabase;
  let clients: Map<string, VeilsumClient>;
  let admin: VeilsumClient;
  const ledgerAs = (id: string) => new Ledger(ledgerFile.as(consortium.local.ledgerWriter(id)));
  const params = (roundNumber: number): RoundParams => ({
    modelId: 'fraud-model',
    roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: DIMENSION,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 3,
    degree: 3,
    adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
    members: consortium.members,
    deadlines: {
      advertiseKeysMs: 3_000,
      shareKeysMs: 3_000,
      maskedInputMs: 3_000,
      consistencyCheckMs: 3_000,
      unmaskingMs: 3_000,
    },
    corruptionRate: 0,
    dropoutRate: 0.25,
    minContributors: 0,
    ckks: undefined,
  });
  const update = (seed: number) =>
    Float32Array.from({ length: DIMENSION }, (_, i) => Math.sin(seed + i) / 2);

  beforeAll(async () => {
    consortium = await createConsortium(4, 'led');
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
    // A second connection to the same file, as the CLI would open it next to the coordinator.
    ledgerFile = new EmbeddedLedgerDatabase(
      ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
    for (const [i, member] of consortium.members.slice(0, 3).entries()) {
      await ledgerAs(member).grantConsent(
        `consent-${member}`,
        `cards-${i + 1}`,
        'fraud-model',
        Date.now() + 86_400_000,
      );
    }
    clients = new Map(
      consortium.members.map((m) => [
        m,
        // Each member checks the round on its own view of the ledger (the file, opened as itself).
        VeilsumClient.connect({
          ...consortium.profile(m, coordinator.port),
          ledger: ledgerAs(m),
        }),
      ]),
    );
    admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
  });

  afterAll(async () => {
    for (const client of clients.values()) client.close();
    admin.close();
    ledgerFile.close();
    await coordinator.stop();
  });

  it('opens no round with a member without consent, closes the round on the ledger with its commitments, and proves inclusion', async () => {
    // The contract refuses the roster while led-04 has no consent: nothing starts.
    await expect(admin.openRound(params(1))).rejects.toThrow(
      /every roster member needs a consent in force for fraud-model; none for led-04 \(it never granted one for fraud-model\)/,
    );
    expect(await admin.listRounds()).toHaveLength(0);
    await ledgerAs('led-04').grantConsent(
      'consent-led-04',
      'cards-4',
      'fraud-model',
      Date.now() + 86_400_000,
    );
    const round = await admin.openRound(params(1));
    const onLedger = await ledgerAs('veilsum-coordinator').getRound(round.roundId);
    expect(onLedger.consents.map((c) => c.memberId)).toEqual(consortium.members);
    expect(onLedger.paramsHash).toBe(Buffer.from(ledgerParamsHash(round.params!)).toString('hex'));
    // The graph seed is the ledger's, derived from the RoundOpened transaction.
    expect(onLedger.graphSeed).toBe(Buffer.from(round.graphSeed).toString('hex'));
    expect(onLedger.manifest).toMatchObject({
      mode: 'secagg',
      degree: 3,
      threshold: 3,
      minContributors: 3,
    });

    // led-04 stays silent: a dropout of this round.
    const results = await Promise.all(
      consortium.members
        .slice(0, 3)
        .map((m, i) => clients.get(m)!.participate(round.roundId, update(i))),
    );
    expect(results.every((r) => r.included)).toBe(true);
    const finished = await admin.getRound(round.roundId);
    expect(finished.phase).toBe(Phase.PHASE_DONE);

    let closed = await ledgerAs('veilsum-coordinator').getRound(round.roundId);
    for (let i = 0; i < 50 && closed.status !== 'closed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      closed = await ledgerAs('veilsum-coordinator').getRound(round.roundId);
    }
    expect(closed).toMatchObject({
      status: 'closed',
      included: consortium.members.slice(0, 3),
      dropoutCount: 1,
    });
    expect(closed.aggregateHash).toBe(Buffer.from(finished.aggregateSha256).toString('hex'));

    for (const [i, member] of consortium.members.slice(0, 3).entries()) {
      const proof = await clients.get(member)!.proveInclusion(round.roundId);
      expect(proof.memberId).toBe(member);
      expect(Buffer.from(proof.uploadSha256)).toEqual(Buffer.from(results[i]!.uploadSha256!));
      const path = proof.path.map((s) => ({
        sibling: new Uint8Array(s.sibling),
        siblingOnLeft: s.siblingOnLeft,
      }));
      expect(
        verifyMerkleProof(
          new Uint8Array(proof.uploadSha256),
          path,
          Buffer.from(closed.uploadsMerkleRoot!, 'hex'),
        ),
      ).toBe(true);
    }
    await expect(clients.get('led-04')!.proveInclusion(round.roundId)).rejects.toThrow(
      /led-04 has no upload in the aggregate/,
    );

    const modelHash = createHash('sha256').update('weights after round 1').digest();
    await admin.recordModelVersion(round.roundId, modelHash);
    const lineage = await ledgerAs('veilsum-coordinator').lineage(modelHash.toString('hex'));
    expect(
      lineage.contributions.map((c) => [c.memberId, c.consent.datasetId, c.consent.consentId]),
    ).toEqual([
      ['led-01', 'cards-1', 'consent-led-01'],
      ['led-02', 'cards-2', 'consent-led-02'],
      ['led-03', 'cards-3', 'consent-led-03'],
    ]);
    expect(ledgerFile.verify()).toMatchObject({ ok: true });
  }, 60_000);

  it('a consent revoked after the round opened blocks that member’s next submission, naming the consent', async () => {
    const round = await admin.openRound(params(2));
    await ledgerAs('led-02').revokeConsent('consent-led-02');
    await expect(clients.get('led-02')!.participate(round.roundId, update(2))).rejects.toThrow(
      /consent consent-led-02 of member led-02 for dataset cards-2 was revoked at .*; led-02 cannot submit to round fraud-model\/round-2/,
    );
    // The next round does not open with led-02 on its roster: the contract names the consent.
    await expect(admin.openRound(params(3))).rejects.toThrow(
      /none for led-02 \(its latest, consent consent-led-02, was revoked at /,
    );
  }, 60_000);
});
