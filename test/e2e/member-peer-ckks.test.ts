import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN } from '../support/consortium.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import {
  getResult,
  headerFor,
  isFinal,
  type MemberPeerSet,
  PeerClients,
  sampleUpdate,
  secAggRoundParams,
  startMemberPeers,
  submitUpdate,
  watchUntil,
} from '../support/member-peers.ts';

const DIMENSION = 1_000;
const updateOf = (seed: number) => sampleUpdate(DIMENSION, seed);

/**
 * Three banks' peers, each reading the embedded ledger as its bank, with CKKS keyholder
 * processes (2 of 3) and a collective key: a CKKS round end to end, and a consent revoked.
 */
describe('member peers with their own ledger view: CKKS rounds and consent', () => {
  let set: MemberPeerSet;
  let admin: VeilsumClient;
  const clients = new PeerClients(() => set);
  const scientistOf = (i: number) => clients.of(i);

  beforeAll(async () => {
    set = await startMemberPeers({
      members: 3,
      ledger: { consentModels: ['ckks-model', 'consent-model'], keyholders: 3 },
      // A peer configured with another precision than its consortium's keyholders use (a
      // stale or careless config): the result's bound must still be theirs (review C6).
      ckksPrecision: 1e-2,
    });
    admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  }, 180_000);

  afterAll(async () => {
    clients.closeAll();
    admin?.close();
    await set?.stop();
  });

  it('three banks submit over MemberService; the CKKS round decrypts their float sum', async () => {
    const updates = [21, 22, 23].map(updateOf);
    const submitted = await Promise.all(
      updates.map((values, i) =>
        submitUpdate(scientistOf(i), values, headerFor(values, { modelId: 'ckks-model' })),
      ),
    );
    const round = await admin.openRound(
      ckksRoundParams({
        modelId: 'ckks-model',
        roundNumber: 1,
        dimension: DIMENSION,
        members: set.consortium.members,
        minContributors: 3,
        uploadDeadlineMs: 30_000,
      }),
    );
    const watched = await Promise.all(
      submitted.map((response, i) =>
        watchUntil(scientistOf(i), response.update!.updateId, isFinal),
      ),
    );
    for (const states of watched) {
      expect(states.at(-1)).toMatchObject({
        state: UpdateState.UPDATE_STATE_INCLUDED,
        roundId: round.roundId,
      });
      // The round clips to ±1 and these updates reach ±1.5: the peer says so as it joins.
      expect(states.find((u) => u.state === UpdateState.UPDATE_STATE_IN_ROUND)?.detail).toMatch(
        /^\d+ of 1000 values \(\d+(\.\d+)?%\) lie outside the round's clip range ±1 and will be clipped, so the aggregate undercounts them; the largest is 1\.\d+ at index \d+\./,
      );
    }
    const { header, sum } = await getResult(scientistOf(2), round.roundId);
    expect(header).toMatchObject({
      modelId: 'ckks-model',
      contributors: 3,
      values: DIMENSION,
      clipRange: 1,
    });
    const clip = (value: number) => Math.max(-1, Math.min(1, value));
    let worst = 0;
    for (let i = 0; i < DIMENSION; i++)
      worst = Math.max(
        worst,
        Math.abs(sum[i]! - (clip(updates[0]![i]!) + clip(updates[1]![i]!) + clip(updates[2]![i]!))),
      );
    // The bound is the keyholders' flooding precision (their default 5e-5, 7σ, from the σ_f and
    // threshold they attested on the ledger) plus each contribution's encoding rounding. Before,
    // it was the peer's own ckksPrecision (here 1e-2) plus the rounding.
    expect(header.errorBound).toBeCloseTo(5e-5 + 3 * 2 ** -92, 15);
    expect(worst).toBeLessThanOrEqual(header.errorBound);
  }, 120_000);

  it("a consent revoked on the bank's ledger: its update is DROPPED with the reason; ListConsents shows it", async () => {
    const members = set.consortium.members;
    const round = await admin.openRound(
      secAggRoundParams(members, 'consent-model', 1, DIMENSION, 10_000),
    );
    // bank-03 revokes its consent after the round opened (the contract dates it after the opening).
    const database = new EmbeddedLedgerDatabase(
      join(set.directory, 'ledger.db'),
      readFileSync(set.consortium.pki.caCertificatePath),
    );
    try {
      await new Ledger(database.as(set.consortium.local.ledgerWriter('bank-03'))).revokeConsent(
        'consent-bank-03-consent-model',
      );
    } finally {
      database.close();
    }
    const values = updateOf(30);
    const client = scientistOf(2);
    const { update } = await submitUpdate(
      client,
      values,
      headerFor(values, { roundId: round.roundId }),
    );
    expect((await watchUntil(client, update!.updateId, isFinal)).at(-1)).toMatchObject({
      state: UpdateState.UPDATE_STATE_DROPPED,
      detail: `bank-03 has no consent in force for model consent-model on its ledger view (granted, not revoked, not expired): the bank stays out of round ${round.roundId}; grant one with \`veilsum consent grant\` for the next round`,
    });
    const consents = await new Promise<{
      memberId: string;
      consents: { consentId: string; inForce: boolean; revokedAtMs: number }[];
    }>((resolve, reject) =>
      client.listConsents({}, (error, response) => (error ? reject(error) : resolve(response))),
    );
    expect(consents.memberId).toBe('bank-03');
    expect(
      consents.consents
        .map(({ consentId, inForce }) => ({ consentId, inForce }))
        .sort((a, b) => a.consentId.localeCompare(b.consentId)),
    ).toEqual([
      { consentId: 'consent-bank-03-ckks-model', inForce: true },
      { consentId: 'consent-bank-03-consent-model', inForce: false },
    ]);
  }, 60_000);
});
