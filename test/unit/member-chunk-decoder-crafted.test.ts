import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { SubmitHeader, SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { decodeSubmitUpdateRequest } from '../../services/member/chunk-deserializer.ts';

/**
 * Attack (a bank insider calling the peer): craft SubmitUpdate messages whose first byte is the
 * chunk tag (0x12) so that the hand-written zero-copy decoder and the generated decoder disagree —
 * a chunk the generated decoder would read as a header or as other bytes, a view past the field,
 * a length that wraps. The promise: "the result is the same message either way".
 */

type Outcome = { error: true } | { error: false; kind: string | undefined; bytes: string };

function outcome(decode: () => SubmitUpdateRequest): Outcome {
  try {
    const part = decode().part;
    if (part?.$case === 'chunk')
      return { error: false, kind: 'chunk', bytes: Buffer.from(part.value).toString('hex') };
    return { error: false, kind: part?.$case, bytes: JSON.stringify(part?.value ?? null) };
  } catch {
    return { error: true };
  }
}

const same = (wire: Buffer) =>
  expect(outcome(() => decodeSubmitUpdateRequest(wire))).toEqual(
    outcome(() => SubmitUpdateRequest.decode(wire)),
  );

const header = Buffer.from(
  SubmitUpdateRequest.encode({
    part: {
      $case: 'header',
      value: SubmitHeader.fromPartial({
        target: { $case: 'modelId', value: 'fraud' },
        values: 4,
        sha256: Buffer.alloc(32, 7),
      }),
    } as never,
  }).finish(),
);

describe('crafted chunk messages decode as the generated decoder decodes them', () => {
  it('non-minimal, 5-byte, 6-byte and high-bit varints; overruns; zero length; a following field', () => {
    const payload = Buffer.from([1, 2, 3, 4]);
    const cases: Buffer[] = [
      Buffer.from([0x12]), // tag, no length
      Buffer.from([0x12, 0x00]), // empty chunk
      Buffer.from([0x12, 0x80, 0x00]), // length 0, two bytes
      Buffer.concat([Buffer.from([0x12, 0x84, 0x80, 0x80, 0x80, 0x00]), payload]), // 4 in 5 bytes
      Buffer.concat([Buffer.from([0x12, 0x84, 0x80, 0x80, 0x80, 0x10]), payload]), // 4 + 2^32
      Buffer.concat([Buffer.from([0x12, 0x84, 0x80, 0x80, 0x80, 0x70]), payload]), // 4 + 7·2^32
      Buffer.concat([Buffer.from([0x12, 0x84, 0x80, 0x80, 0x80, 0x80, 0x00]), payload]), // 6 bytes
      Buffer.concat([Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), payload]), // 2^32 − 1
      Buffer.concat([Buffer.from([0x12, 0x05]), payload]), // overrun by one
      Buffer.concat([Buffer.from([0x12, 0x03]), payload]), // one trailing byte
      Buffer.concat([Buffer.from([0x12, 0x04]), payload, header]), // chunk then a header
      Buffer.concat([Buffer.from([0x12, 0x04]), payload, Buffer.from([0x12, 0x00])]), // chunk, empty chunk
      Buffer.concat([Buffer.from([0x12, 0x04]), payload, Buffer.from([0x18, 0x01])]), // + unknown varint field 3
      Buffer.concat([Buffer.from([0x12, header.length]), header]), // a header's encoding as chunk bytes
      Buffer.concat([Buffer.from([0x12, 0x04 + 2]), payload, Buffer.from([0x0a, 0x00])]), // nested-looking
      Buffer.from([0x12, 0x80]), // cut varint
      Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 10-byte varint
    ];
    for (const wire of cases) same(wire);
  });

  it('a disguised header (chunk bytes that are themselves a header) stays a chunk, as the generated decoder says', () => {
    const wire = Buffer.concat([Buffer.from([0x12, header.length]), header]);
    const part = decodeSubmitUpdateRequest(wire).part;
    expect(part?.$case).toBe('chunk');
  });

  it('2,000 random messages starting with the chunk tag decode the same', () => {
    for (let i = 0; i < 2_000; i++) {
      const body = randomBytes(i % 40);
      // Bias lengths toward "exactly the rest", and one off either side.
      const declared = body.length + ((i % 3) - 1);
      const varint: number[] = [];
      let left = Math.max(declared, 0);
      do {
        varint.push((left & 0x7f) | (left > 0x7f ? 0x80 : 0));
        left >>>= 7;
      } while (left > 0);
      same(Buffer.concat([Buffer.from([0x12, ...varint]), body]));
      same(Buffer.concat([Buffer.from([0x12]), randomBytes(i % 12)]));
    }
  });

  it('the view handed on is only the field: it cannot read bytes before or after it', () => {
    const before = Buffer.concat([
      Buffer.alloc(16, 0xaa),
      Buffer.from([0x12, 0x04, 1, 2, 3, 4]),
      Buffer.alloc(16, 0xbb),
    ]);
    const wire = before.subarray(16, 22);
    const part = decodeSubmitUpdateRequest(wire).part;
    expect(part?.$case).toBe('chunk');
    const chunk = part!.value as Uint8Array;
    expect(chunk.length).toBe(4);
    expect(Buffer.from(chunk).toString('hex')).toBe('01020304');
    expect(chunk.byteOffset).toBe(wire.byteOffset + 2);
  });
});
