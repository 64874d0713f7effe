import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { status, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { UpdateState } from '../../proto/gen/veilsum/v1/member.ts';
import { Adversary, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { MEMBER_NODE_OPTIONS } from '../../services/member/node-options.ts';
import { ADMIN } from '../support/consortium.ts';
import {
  floatBytes,
  getResult,
  headerFor,
  isFinal,
  memberClient,
  MemberPeerProcess,
  type MemberPeerSet,
  PeerClients,
  sampleUpdate,
  secAggRoundParams,
  startMemberPeers,
  submitMessages,
  submitUpdate,
  watchUntil,
} from '../support/member-peers.ts';

const DIMENSION = 1_000;

const updateOf = (seed: number) => sampleUpdate(DIMENSION, seed);

describe("a bank's aggregation peer (veilsum member start) on real processes", () => {
  let set: MemberPeerSet;
  let admin: VeilsumClient;
  const clients = new PeerClients(() => set);
  const scientistOf = (i: number) => clients.of(i);

  beforeAll(async () => {
    set = await startMemberPeers({ members: 3 });
    admin = VeilsumClient.connect(set.consortium.profile(ADMIN, set.coordinator.port));
  }, 120_000);

  afterAll(async () => {
    clients.closeAll();
    admin?.close();
    await set?.stop();
  });

  it('three banks submit over MemberService; the SecAgg round sums them and GetResult gives the float sum', async () => {
    const members = set.consortium.members;
    // Queued before the round exists: each waits for the model's next round listing its bank.
    const updates = [1, 2, 3].map(updateOf);
    const submitted = await Promise.all(
      updates.map((values, i) =>
        submitUpdate(
          scientistOf(i),
          values,
          headerFor(values, { modelId: 'fraud' }, 'fraud-model-v0'),
        ),
      ),
    );
    for (const response of submitted)
      expect(response.update).toMatchObject({
        state: UpdateState.UPDATE_STATE_QUEUED,
        values: DIMENSION,
      });
    const round = await admin.openRound(secAggRoundParams(members, 'fraud', 1, DIMENSION));
    const watched = await Promise.all(
      submitted.map((response, i) =>
        watchUntil(scientistOf(i), response.update!.updateId, isFinal),
      ),
    );
    for (const states of watched) {
      expect(states.map((u) => u.state)).toContain(UpdateState.UPDATE_STATE_IN_ROUND);
      expect(states.at(-1)).toMatchObject({
        state: UpdateState.UPDATE_STATE_INCLUDED,
        roundId: round.roundId,
      });
    }
    const { header, sum } = await getResult(scientistOf(0), round.roundId);
    expect(header).toMatchObject({
      roundId: round.roundId,
      modelId: 'fraud',
      contributors: 3,
      values: DIMENSION,
    });
    const exact = Array.from(
      { length: DIMENSION },
      (_, i) => updates[0]![i]! + updates[1]![i]! + updates[2]![i]!,
    );
    // Stochastic rounding: each contribution is within one quantisation step.
    expect(header.errorBound).toBeCloseTo((3 * 2 * 4) / 65535, 10);
    let worst = 0;
    for (let i = 0; i < DIMENSION; i++) worst = Math.max(worst, Math.abs(sum[i]! - exact[i]!));
    expect(worst).toBeLessThanOrEqual(header.errorBound);
    expect(worst).toBeGreaterThan(0);
  }, 120_000);

  it('a re-run with a near copy trained from the same model version: each peer drops out before uploading (trained_from)', async () => {
    // The coordinator opens another round (under another model id: the names are its choice) and
    // asks for updates again; the data scientists, retraining from the same global model v0,
    // queue near copies of fraud/round-1's updates. Two sums of near copies would give each
    // bank's update away by subtraction.
    const nearCopies = [1, 2, 3].map((seed) => updateOf(seed).map((value) => value + 1e-6));
    const submitted = await Promise.all(
      nearCopies.map((values, i) =>
        submitUpdate(
          scientistOf(i),
          values,
          headerFor(values, { modelId: 'fraud-rerun' }, 'fraud-model-v0'),
        ),
      ),
    );
    await admin.openRound(secAggRoundParams(set.consortium.members, 'fraud-rerun', 1, DIMENSION));
    for (const [i, response] of submitted.entries()) {
      const states = await watchUntil(scientistOf(i), response.update!.updateId, isFinal);
      expect(states.map((u) => u.state)).not.toContain(UpdateState.UPDATE_STATE_UPLOADED);
      expect(states.at(-1)).toMatchObject({
        state: UpdateState.UPDATE_STATE_DROPPED,
        roundId: 'fraud-rerun/round-1',
        detail: expect.stringContaining(
          'an update trained from fraud-model-v0 already went into round fraud/round-1',
        ),
      });
    }
    expect((await admin.getRound('fraud-rerun/round-1')).masked).toEqual([]);
  }, 120_000);

  /** The refusal a call ended with, as status and message. */
  async function refusal(call: Promise<unknown>): Promise<{ code: number; details: string }> {
    try {
      await call;
    } catch (error) {
      const { code, details } = error as ServiceError;
      return { code, details };
    }
    throw new Error('the call was not refused');
  }

  /** What the peer holds on disk: its updates, and any half-received stream. */
  const stored = (i: number) => ({
    updates: readdirSync(join(set.peers[i]!.dataDir, 'updates')).sort(),
    incoming: readdirSync(join(set.peers[i]!.dataDir, 'incoming')),
  });

  it('refuses bad tensors with INVALID_ARGUMENT and a sentence to act on, queuing nothing', async () => {
    const client = scientistOf(0);
    const members = set.consortium.members;
    const round = await admin.openRound(secAggRoundParams(members, 'edge-model', 1, DIMENSION));
    const before = stored(0);
    const good = updateOf(7);
    const target = { modelId: 'edge-model' };
    const chunk = (values: Float32Array) => ({
      part: { $case: 'chunk' as const, value: floatBytes(values) },
    });
    const header = (values: Float32Array, overrides = {}) => ({
      part: { $case: 'header' as const, value: { ...headerFor(values, target), ...overrides } },
    });

    // Wrong length against a known round: refused from the header, before any value is read.
    const short = good.subarray(0, DIMENSION - 1);
    expect(
      await refusal(submitUpdate(client, short, headerFor(short, { roundId: round.roundId }))),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `the update has ${DIMENSION - 1} values but round ${round.roundId} of model edge-model takes ${DIMENSION}: flatten the model's parameters to ${DIMENSION} float32 values`,
    });
    // Fewer values than the header announced.
    expect(await refusal(submitMessages(client, [header(good), chunk(short)]))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `the stream carried ${DIMENSION - 1} values but the header announced ${DIMENSION}: set header.values to the update's length`,
    });
    const withNaN = good.slice();
    withNaN[17] = Number.NaN;
    expect(await refusal(submitUpdate(client, withNaN, headerFor(withNaN, target)))).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'value 17 is NaN: every value must be finite (check the training step for a diverged loss)',
    });
    const withInf = good.slice();
    withInf[999] = Number.NEGATIVE_INFINITY;
    expect(await refusal(submitUpdate(client, withInf, headerFor(withInf, target)))).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'value 999 is -Inf: every value must be finite (check the training step for a diverged loss)',
    });
    const other = updateOf(8);
    const wrongDigest = headerFor(other, target).sha256;
    expect(
      await refusal(submitMessages(client, [header(good, { sha256: wrongDigest }), chunk(good)])),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `the SHA-256 of the values (${Buffer.from(headerFor(good, target).sha256).toString('hex')}) does not match the header's (${Buffer.from(wrongDigest).toString('hex')}): hash exactly the little-endian float32 bytes sent`,
    });
    expect(await refusal(submitMessages(client, [chunk(good)]))).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'the first message must be the header (SubmitHeader: round_id or model_id, values, sha256), not a chunk of values',
    });
    expect(await refusal(submitMessages(client, []))).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'the stream ended before its header: send a SubmitHeader (round_id or model_id, values, sha256) first',
    });
    const split = floatBytes(good);
    expect(
      await refusal(
        submitMessages(client, [
          header(good),
          { part: { $case: 'chunk', value: split.subarray(0, 6) } },
          { part: { $case: 'chunk', value: split.subarray(6) } },
        ]),
      ),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'chunk 1 has 6 bytes, not a whole number of float32 values (4 bytes each): split the stream on value boundaries',
    });
    // A round that no longer takes updates (the first test's, done).
    expect(
      await refusal(submitUpdate(client, good, headerFor(good, { roundId: 'fraud/round-1' }))),
    ).toEqual({
      code: status.FAILED_PRECONDITION,
      details:
        "round fraud/round-1 is in phase DONE and takes no more updates: submit for the model's next round (model_id fraud) instead",
    });
    expect(
      await refusal(submitUpdate(client, good, headerFor(good, { roundId: 'no-such/round' }))),
    ).toEqual({
      code: status.NOT_FOUND,
      details: 'round no-such/round is unknown to the coordinator: check the round id',
    });
    expect(stored(0)).toEqual(before);
    expect(before.incoming).toEqual([]);
  }, 60_000);

  it('a retried submission with the same idempotency key returns the first update; reads before the round is done say what to wait for', async () => {
    const client = scientistOf(1);
    const values = updateOf(50);
    const header = {
      ...headerFor(values, { modelId: 'retry-model' }),
      idempotencyKey: 'nb-7-cell-3',
    };
    const first = await submitUpdate(client, values, header);
    const retried = await submitUpdate(client, values, header);
    expect(retried.update!.updateId).toBe(first.update!.updateId);
    const changed = updateOf(51);
    expect(
      await refusal(
        submitUpdate(client, changed, {
          ...headerFor(changed, { modelId: 'retry-model' }),
          idempotencyKey: 'nb-7-cell-3',
        }),
      ),
    ).toEqual({
      code: status.ALREADY_EXISTS,
      details: `idempotency key nb-7-cell-3 already queued update ${first.update!.updateId} with other values: use a fresh key for a new update`,
    });
    expect(stored(1).updates.filter((id) => id === first.update!.updateId)).toHaveLength(1);
    const round = await admin.openRound(
      secAggRoundParams(set.consortium.members, 'pending-model', 1, DIMENSION),
    );
    expect(await refusal(getResult(client, round.roundId))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: `round ${round.roundId} is in phase ADVERTISE_KEYS, not done: watch the update (WatchUpdate) and ask again when it is INCLUDED`,
    });
    expect(await refusal(watchUntil(client, 'no-such-update'))).toEqual({
      code: status.NOT_FOUND,
      details: 'no update no-such-update on this peer: check the update id',
    });
  }, 60_000);

  it('refuses callers without the right certificate or role (UNAUTHENTICATED / PERMISSION_DENIED), queuing nothing', async () => {
    const before = stored(0);
    const values = updateOf(9);
    const header = headerFor(values, { modelId: 'fraud' });
    const outsider = clients.of(0, 'outsider');
    const reader = clients.of(0, 'reader');
    const otherModel = clients.of(0, 'otherModel');
    expect(await refusal(submitUpdate(outsider, values, header))).toEqual({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(
        /^the client certificate \(subject CN=bank-01, O=bank-01\) was issued by CN=veilsum development CA, O=veilsum-dev, not by this bank's caller CA \(CN=bank-01 caller CA, O=bank-01\): ask the operator of the bank's peer for a caller certificate \(a consortium certificate is not one\)$/,
      ),
    });
    expect(await refusal(submitUpdate(reader, values, header))).toEqual({
      code: status.PERMISSION_DENIED,
      details:
        "caller CN=reader may only read: ask the peer's operator for a submit role for the model",
    });
    expect(await refusal(submitUpdate(otherModel, values, header))).toEqual({
      code: status.PERMISSION_DENIED,
      details:
        "caller CN=other-model-scientist may submit for other-model only, not model fraud: ask the peer's operator for a submit role for it",
    });
    // Reading is refused to the outsider too; the reader reads.
    expect(
      await refusal(
        new Promise((resolve, reject) =>
          outsider.listRounds({ modelId: '' }, (e, r) => (e ? reject(e) : resolve(r))),
        ),
      ),
    ).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    const listed = await new Promise<{ rounds: { roundId: string }[] }>((resolve, reject) =>
      reader.listRounds({ modelId: 'fraud' }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(listed.rounds.map((round) => round.roundId)).toEqual(['fraud/round-1']);
    expect(stored(0)).toEqual(before);
  }, 60_000);

  it("a round below the bank's threat-model floor: the update is DROPPED with the policy's reason", async () => {
    const client = scientistOf(1);
    const values = updateOf(10);
    const { update } = await submitUpdate(
      client,
      values,
      headerFor(values, { modelId: 'downgraded' }),
    );
    await admin.openRound({
      ...secAggRoundParams(set.consortium.members, 'downgraded', 1, DIMENSION),
      adversary: Adversary.ADVERSARY_SEMI_HONEST,
    });
    const states = await watchUntil(client, update!.updateId, isFinal);
    expect(states.at(-1)).toMatchObject({
      state: UpdateState.UPDATE_STATE_DROPPED,
      roundId: 'downgraded/round-1',
      detail: expect.stringMatching(
        /^the bank left round downgraded\/round-1: .*adversary model semi-honest is a downgrade this member refuses without a ledger that is an agreement channel/,
      ),
    });
  }, 60_000);

  it('while the round waits for a bank with nothing queued, the others watch it named as missing, then the round ends without it', async () => {
    const members = set.consortium.members;
    const submitted = await Promise.all(
      [0, 1].map((i) =>
        submitUpdate(
          scientistOf(i),
          updateOf(20 + i),
          headerFor(updateOf(20 + i), { modelId: 'waiting' }),
        ),
      ),
    );
    // Bank 3 has nothing queued for this model: its peer never joins.
    await admin.openRound(secAggRoundParams(members, 'waiting', 1, DIMENSION, 3_000));
    const states = await watchUntil(scientistOf(0), submitted[0]!.update!.updateId, isFinal);
    expect(states).toContainEqual(
      expect.objectContaining({
        state: UpdateState.UPDATE_STATE_IN_ROUND,
        roundPhase: Phase.PHASE_ADVERTISE_KEYS,
        missing: [{ memberId: members[2], reason: 'no message yet' }],
      }),
    );
    // Final: no longer waiting for anyone.
    expect(states.at(-1)).toMatchObject({ state: UpdateState.UPDATE_STATE_DROPPED, missing: [] });
  }, 60_000);

  it('a bank starts its peer from one file: member init-config, then member start; health, metrics and reads answer', async () => {
    const folder = join(set.directory, 'bank-01-own-peer');
    const init = spawnSync(
      process.execPath,
      [
        'cli/veilsum.ts',
        'member',
        'init-config',
        '--profile',
        set.consortium.profilePath('bank-01', set.coordinator.port),
        '--dir',
        folder,
        '--listen',
        '127.0.0.1:0',
        '--metrics-listen',
        '127.0.0.1:0',
        '--caller',
        'alice=fraud',
        '--caller',
        'auditor=read',
        '--json',
      ],
      { encoding: 'utf8' },
    );
    expect(init.stderr).toBe('');
    const created = JSON.parse(init.stdout) as {
      config: string;
      callerCa: string;
      callers: Record<string, { certificate: string; privateKey: string }>;
    };
    expect(Object.keys(created.callers)).toEqual(['alice', 'auditor']);
    // P-256 leaves: the Python client (BoringSSL) cannot present or accept Ed25519 keys in TLS.
    const config = JSON.parse(readFileSync(created.config, 'utf8')) as {
      tls: { certificate: string };
    };
    for (const certificate of [
      join(folder, config.tls.certificate),
      ...Object.values(created.callers).map((files) => files.certificate),
    ]) {
      const key = new X509Certificate(readFileSync(certificate)).publicKey;
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    }
    const auditor = created.callers.auditor!;
    const peer = new MemberPeerProcess('bank-01', created.config, join(folder, 'peer-data'), {
      caCertificate: created.callerCa,
      scientist: created.callers.alice!,
      reader: auditor,
      otherModel: auditor,
      outsider: auditor,
    });
    await peer.start();
    const Health = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
    const health = new Health(
      peer.address,
      grpc.credentials.createSsl(
        readFileSync(created.callerCa),
        readFileSync(auditor.privateKey),
        readFileSync(auditor.certificate),
      ),
    );
    const reader = memberClient(peer, auditor);
    try {
      // `member start` re-executed itself (same pid) with the Node options a peer runs with.
      const commandLine = readFileSync(`/proc/${peer.child!.pid}/cmdline`, 'utf8').split('\0');
      expect(commandLine).toEqual(
        expect.arrayContaining([...MEMBER_NODE_OPTIONS, 'member', 'start']),
      );
      const served = await new Promise<{ status: string }>((resolve, reject) =>
        (
          health as unknown as {
            check: (r: object, d: (e: Error | null, v?: { status: string }) => void) => void;
          }
        ).check({ service: '' }, (error, value) => (error ? reject(error) : resolve(value!))),
      );
      expect(served.status).toBe('SERVING');
      const listed = await new Promise<{ rounds: { roundId: string }[] }>((resolve, reject) =>
        reader.listRounds({ modelId: 'fraud' }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(listed.rounds.map((round) => round.roundId)).toEqual(['fraud/round-1']);
      // The auditor may read, not submit.
      const values = updateOf(40);
      expect(
        await refusal(submitUpdate(reader, values, headerFor(values, { modelId: 'fraud' }))),
      ).toEqual({
        code: status.PERMISSION_DENIED,
        details:
          "caller CN=auditor may only read: ask the peer's operator for a submit role for the model",
      });
      const started = peer.events().find((event) => event.event === 'started')!;
      const metrics = await (
        await fetch(`http://127.0.0.1:${String(started.metricsPort)}/metrics`)
      ).text();
      expect(metrics).toMatch(/veilsum_member_requests_total\{method="ListRounds",code="OK"\} 1/);
      expect(metrics).toMatch(/veilsum_member_updates\{state="UPDATE_STATE_QUEUED"\} 0/);
    } finally {
      health.close();
      reader.close();
      await peer.stop();
    }
  }, 60_000);
});
