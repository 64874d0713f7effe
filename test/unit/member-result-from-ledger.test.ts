/* eslint-disable @typescript-eslint/require-await -- fakes of async clients that answer at once */
import { afterEach, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { MemberServiceClient, type ResultChunk } from '../../proto/gen/veilsum/v1/member.ts';
import { Mode, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { serveMemberService } from '../support/member-service-server.ts';
import { resultRound } from '../../services/member/result-round.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { Round } from '../../proto/gen/veilsum/v1/round.ts';

/**
 * Attack (the coordinator): GetResult reads the round's mode from the coordinator's Round, and
 * the CKKS bound's key from the ledger manifest's `ckksKeySha256 ?? the key the coordinator
 * names`. A SecAgg round's manifest has ckksKeySha256 = null. So the coordinator serves a
 * SecAgg round (closed on the bank's ledger with its aggregate hash) as CKKS:
 * - the DATA_LOSS check against the ledger's aggregate hash is skipped (CKKS has "nothing to
 *   compare"), so any forged float64 sum streams with status OK;
 * - the error bound comes from whichever registered key the coordinator names (here one attested
 *   with a tiny flooding σ), not from anything in the round's manifest.
 * Control: the same forged aggregate served as SecAgg ends DATA_LOSS.
 */
describe("review: GetResult's mode and CKKS key come from the bank's ledger, not the coordinator", () => {
  let server: grpc.Server | undefined;
  afterEach(() => server?.forceShutdown());

  const dimension = 1024;
  const honestLevels = Buffer.alloc(dimension * 4, 1);
  const honestHash = createHash('sha256').update(honestLevels).digest('hex');
  const forged = Buffer.from(new Float64Array(dimension).fill(123.456).buffer);
  const keyOfChoice = createHash('sha256').update('a registered key with tiny sigma').digest();

  const ledger = {
    // The bank's view: a SecAgg round, closed with the honest aggregate's hash.
    getRound: async () => ({
      roundId: 'm/round-1',
      status: 'closed',
      included: ['bank-a', 'bank-b'],
      aggregateHash: honestHash,
      manifest:
        manifestKey === undefined
          ? { mode: 'secagg', dimension, ckksKeySha256: null }
          : { mode: 'ckks', dimension, ckksKeySha256: manifestKey },
    }),
    getCollectiveKey: async (sha: string) => {
      keysAsked.push(sha);
      // The coordinator's key of choice was attested with a tiny σ; the manifest's with a real one.
      const sigma = sha === keyOfChoice.toString('hex') ? 1e-30 : 2 ** 30;
      return { threshold: 2, limits: { parameterSet: 'sum-8192', floodingSigma: sigma } };
    },
  };
  let keysAsked: string[] = [];
  let manifestKey: string | undefined;

  async function getResult(
    mode: Mode,
    coordinator: { included?: number[]; data?: Buffer } = {},
  ): Promise<{ status: string; bound?: number; sum?: number }> {
    keysAsked = [];
    const round = {
      roundId: 'm/round-1',
      phase: Phase.PHASE_DONE,
      roster: [{ memberId: 'bank-a' }, { memberId: 'bank-b' }],
      included: coordinator.included ?? [1, 2],
      aggregateSha256: new Uint8Array(32),
      missing: [],
      params: {
        modelId: 'm',
        mode,
        dimension,
        quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
        ckks: { parameterSet: 'sum-8192', keySha256: keyOfChoice, clipRange: 1 },
      },
    };
    const client = {
      getRound: async () => round,
      aggregateChunks: async function* () {
        // CKKS: float64 values; SecAgg: uint32 levels (the same forged bytes, half the values).
        yield {
          offsetWords: 0,
          data:
            coordinator.data ??
            (mode === Mode.MODE_CKKS ? forged : forged.subarray(0, dimension * 4)),
        };
      },
    };
    const started = await serveMemberService({
      memberId: 'bank-a',
      queue: { all: () => [] },
      follower: { views: new Map() },
      client,
      callers: { bindCall: () => ({ commonName: 'reader', read: true, submit: [] }) },
      ledger,
    });
    server = started.server;
    const port = started.port;
    const reader = new MemberServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const outcome = await new Promise<{ status: string; bound?: number; sum?: number }>(
      (resolve) => {
        let bound: number | undefined;
        let sum: number | undefined;
        const call = reader.getResult({ roundId: 'm/round-1' });
        call.on('data', (chunk: ResultChunk) => {
          if (chunk.part?.$case === 'header') bound = chunk.part.value.errorBound;
          if (chunk.part?.$case === 'sum' && sum === undefined)
            sum = Buffer.from(chunk.part.value).readDoubleLE(0);
        });
        call.on('error', (error: grpc.ServiceError) =>
          resolve({ status: grpc.status[error.code] }),
        );
        call.on('end', () => resolve({ status: 'OK', bound, sum }));
      },
    );
    reader.close();
    server.forceShutdown();
    server = undefined;
    return outcome;
  }

  it("control: a CKKS round whose manifest names key K: the bound is K's, whatever key the coordinator names", async () => {
    manifestKey = createHash('sha256').update('the manifest key').digest('hex');
    try {
      const outcome = await getResult(Mode.MODE_CKKS);
      expect(keysAsked).toEqual([manifestKey]);
      // K (σ 2^30) gives ~1e-18; the coordinator's key of choice (σ 1e-30) gave 4e-28.
      expect(outcome.bound).toBeGreaterThan(1e-20);
    } finally {
      manifestKey = undefined;
    }
  }, 20_000);

  it('control: the forged aggregate served as SecAgg ends DATA_LOSS', async () => {
    expect((await getResult(Mode.MODE_SECAGG)).status).toBe('DATA_LOSS');
  }, 20_000);

  it("the same SecAgg round served as CKKS is refused (its manifest names no CKKS key), not streamed with a bound of the coordinator's key", async () => {
    const outcome = await getResult(Mode.MODE_CKKS);
    expect({ ...outcome, keysAsked }).toEqual({
      status: expect.not.stringMatching(/^OK$/),
      keysAsked: [],
    });
  }, 20_000);

  it("a SecAgg sum decodes with the ledger's count of included members, not the coordinator's", async () => {
    // The honest levels (they hash to the ledger's aggregate), decoded as a sum of 2: each value
    // is level·2c/L − 2c. The coordinator says 1 contributor: every value shifts by +c.
    const honest = await getResult(Mode.MODE_SECAGG, { data: honestLevels });
    const shifted = await getResult(Mode.MODE_SECAGG, { data: honestLevels, included: [1] });
    expect(honest.status).toBe('OK');
    const shift = (shifted.sum ?? NaN) - honest.sum!;
    // Defence: refused, or decoded with the ledger's 2 contributors (no shift).
    const defended = shifted.status !== 'OK' || shift === 0;
    expect({ status: shifted.status, shift, defended }).toEqual({
      status: shifted.status,
      shift,
      defended: true,
    });
  }, 20_000);

  it("a round the ledger view has not closed is refused, not decoded with the coordinator's count", async () => {
    const open = { getRound: async () => ({ roundId: 'm/round-1', status: 'open', included: [] }) };
    const round = {
      roundId: 'm/round-1',
      included: [1, 2],
      params: { mode: Mode.MODE_SECAGG, dimension },
    } as unknown as Round;
    await expect(resultRound(round, open as unknown as Ledger, 0)).rejects.toThrow(
      /not closed on the bank's ledger view/,
    );
  });
});
