import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxLevel, quantize, type QuantizationParams } from '../../crypto/quantize.ts';
import { seededRandom } from '../../crypto/random.ts';
import { digestOfQuantizedFrom } from '../../sdk/quantized-origin.ts';
import { UnmaskJournal, updateDigest } from '../../sdk/unmask-journal.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Round } from '../../proto/gen/veilsum/v1/round.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * Review of "ParticipateOptions.updateSha256 checked against quantizedFrom" (threat-model row:
 * a data scientist's code or a bank insider names the update so that the re-run journal files it
 * under another name and a re-run collects it twice).
 *
 * Attacks played against the SDK's own journal, with a member's real VeilsumClient:
 * 1. the exact levels that already went into a round, shown with floats a few ulps away from the
 *    ones they were quantized from (every level still one of the two roundings): a new digest;
 * 2. the same levels again without quantizedFrom (the journal's default name, the levels'
 *    digest, is not the float digest the first participation claimed);
 * 3. a Float32Array subclass whose `buffer`/`byteOffset` getters point the hash at other floats
 *    than the ones the rounding check reads: any digest at all passes.
 * Each is measured by whether the journal lets the call past its check (dropBefore
 * 'advertise-keys' stops the SDK right after it, so nothing of the member's update is sent).
 */

let consortium: Consortium;
let coordinator: MaliciousCoordinator;
let roundId: string;
let journalDir: string;

beforeAll(async () => {
  consortium = await createConsortium(8, 'review-qfrom');
  coordinator = new MaliciousCoordinator(consortium, {}, 'review-qfrom');
  await coordinator.start();
  const opened = await coordinator.open({
    members: consortium.members,
    degree: 7,
    threshold: 5,
    adversary: 'semi-malicious',
    corruptionRate: 0.05,
    dropoutRate: 0.125,
    ledger: false,
  });
  roundId = opened.roundId;
  journalDir = mkdtempSync(join(tmpdir(), 'review-qfrom-journal-'));
});
afterAll(async () => {
  await coordinator.stop();
  rmSync(consortium.directory, { recursive: true, force: true });
  rmSync(journalDir, { recursive: true, force: true });
});

/** Float32 values a few ulps from `floats`, each with the same floor level (so the same levels pass). */
function nudged(floats: Float32Array, params: QuantizationParams): Float32Array {
  const scale = maxLevel(params) / (2 * params.clipRange);
  const floorOf = (v: number) => Math.floor((v + params.clipRange) * scale);
  const out = new Float32Array(floats.length);
  const bits = new Int32Array(out.buffer);
  for (let i = 0; i < floats.length; i++) {
    out[i] = floats[i]!;
    const original = bits[i]!;
    bits[i] = original + 1;
    if (floorOf(out[i]!) !== floorOf(floats[i]!)) bits[i] = original - 1;
    expect(floorOf(out[i]!)).toBe(floorOf(floats[i]!));
    expect(out[i]).not.toBe(floats[i]);
  }
  return out;
}

const member = () => consortium.members[3]!;

function client(): VeilsumClient {
  return VeilsumClient.connect({
    ...consortium.profile(member(), coordinator.port),
    retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
    journal: journalDir,
  });
}

/** 'journal-refused' or 'past-journal' (the call would have gone on to advertise keys). */
async function journalVerdict(
  round: Round,
  levels: Uint32Array,
  options: { updateSha256?: string; quantizedFrom?: () => Iterable<Float32Array> },
): Promise<string> {
  const c = client();
  try {
    return await c
      .participateQuantized(round, levels, { ...options, dropBefore: 'advertise-keys' })
      .then(
        () => 'past-journal',
        (error: unknown) =>
          /already went into|re-run|journal|another round/i.test((error as Error).message)
            ? 'journal-refused'
            : 'other: INVALID_ARGUMENT expected',
      );
  } finally {
    c.close();
  }
}

describe('review: the same levels twice past the journal once quantizedFrom names them', () => {
  const floats = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i + 1) / 3);

  it('an exact copy of levels already in a round, shown with floats a few ulps away or without floats, is refused', async () => {
    const c = client();
    const round = await c.getRound(roundId);
    c.close();
    const params = round.params!.quantization!;
    const levels = quantize(floats, params, seededRandom(7));
    // Round 1: the update went in under the digest of its floats and that of its levels, as the
    // SDK records it before the masked upload (participateQuantized with quantizedFrom: the
    // peer's path).
    new UnmaskJournal(journalDir).record({
      modelId: round.params!.modelId,
      roundNumber: 1,
      roundId: 'earlier-round',
      updateSha256: digestOfQuantizedFrom(levels, [floats], params),
      alsoNamed: [updateDigest(levels)],
    });
    // Control: the same floats again are refused (the defence the change added).
    expect(await journalVerdict(round, levels, { quantizedFrom: () => [floats] })).toBe(
      'journal-refused',
    );
    // Attack 1: the very same levels, floats 1 ulp away (a re-serialised checkpoint does this
    // without malice); every level is still a rounding of its float.
    const near = nudged(floats, params);
    expect(digestOfQuantizedFrom(levels, [near], params)).not.toBe(updateDigest(floats));
    const viaNear = await journalVerdict(round, levels, { quantizedFrom: () => [near] });
    // Attack 2: the very same levels, named by default (the levels' digest).
    const viaLevels = await journalVerdict(round, levels, {});
    // Measured: both go past the journal, so the identical levels enter a second sum and the
    // difference of the two sums is this member's update exactly.
    expect({ viaNear, viaLevels }).toEqual({
      viaNear: 'journal-refused',
      viaLevels: 'journal-refused',
    });
  });

  it('a Float32Array whose buffer getter shows the hash other floats than the check reads cannot name another update', async () => {
    const c = client();
    const round = await c.getRound(roundId);
    c.close();
    const params = round.params!.quantization!;
    const mine = Float32Array.from({ length: 16 }, (_, i) => Math.cos(i) / 4);
    const levels = quantize(mine, params, seededRandom(9));
    const chosen = Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 100); // any 64 bytes
    class TwoFaced extends Float32Array {
      override get buffer(): ArrayBuffer {
        return chosen.buffer;
      }
    }
    const twoFaced = new TwoFaced(mine);
    // The SDK's check reads `mine` element by element, the hash reads `chosen`'s bytes.
    let digest: string | Error;
    try {
      digest = digestOfQuantizedFrom(levels, [twoFaced], params);
    } catch (error) {
      digest = error as Error;
    }
    const verdict = await journalVerdict(round, levels, {
      updateSha256: updateDigest(chosen),
      quantizedFrom: () => [twoFaced],
    });
    // Defence would be: refused (INVALID_ARGUMENT) or the digest of `mine`.
    expect({ namesChosenFloats: digest === updateDigest(chosen), verdict }).toEqual({
      namesChosenFloats: false,
      verdict: 'other: INVALID_ARGUMENT expected',
    });
  });
});

describe('review: levels that pass "one of the two roundings" but bias the sum (poisoning, open list)', () => {
  it('always rounding up passes the check and shifts each coordinate by +0.5 level on average', () => {
    const params = { clipRange: 1, levelBits: 16, modulusBits: 32 };
    const floats = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 0.9);
    const scale = maxLevel(params) / 2;
    const up = Uint32Array.from(floats, (v) =>
      Math.min(Math.floor((v + 1) * scale) + 1, maxLevel(params)),
    );
    expect(() => digestOfQuantizedFrom(up, [floats], params)).not.toThrow();
    let bias = 0;
    for (let i = 0; i < floats.length; i++) bias += up[i]! - (floats[i]! + 1) * scale;
    // Unbiased rounding gives E = 0; the check accepts a deterministic +0.5 level (≈ 1.5e-5 per
    // value at clip 1, 16 bits) — within what a member may already send (a wrong value under the
    // right key is poisoning, not privacy).
    expect(bias / floats.length).toBeGreaterThan(0.4);
  });
});

describe('review: quantizedFrom read once, each slice checked and hashed before the next is read (holds)', () => {
  it('a reader that reuses one buffer and rewrites it after each yield (as UpdateQueue.slices does) cannot swap checked floats for others', () => {
    const params = { clipRange: 1, levelBits: 16, modulusBits: 32 };
    const floats = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) / 2);
    const levels = quantize(floats, params, seededRandom(3));
    let reads = 0;
    function* reader(): Generator<Float32Array> {
      reads++;
      const buffer = new Float32Array(16);
      for (let at = 0; at < 64; at += 16) {
        buffer.set(floats.subarray(at, at + 16));
        yield buffer;
        // After the consumer took the slice: scribble on it (a time-of-use change).
        buffer.fill(0.999);
      }
    }
    const iterable = { [Symbol.iterator]: reader };
    expect(digestOfQuantizedFrom(levels, iterable, params)).toBe(updateDigest(floats));
    expect(reads).toBe(1);
  });
});
