import { describe, expect, it } from '@jest/globals';
import { SubmitUpdateRequest } from '../../proto/gen/veilsum/v1/member.ts';
import { decodeSubmitUpdateRequest } from '../../services/member/chunk-deserializer.ts';

const encoded = (message: SubmitUpdateRequest): Buffer =>
  Buffer.from(SubmitUpdateRequest.encode(message).finish());

describe("SubmitUpdate's request decoder", () => {
  it('answers a chunk message with a view of the received bytes, equal to the generated decoding', () => {
    for (const length of [0, 1, 127, 128, 16_384, 4 * 1024 * 1024]) {
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i += 997) bytes[i] = i % 251;
      const wire = encoded({ part: { $case: 'chunk', value: bytes } });
      const decoded = decodeSubmitUpdateRequest(wire).part;
      const generated = SubmitUpdateRequest.decode(wire).part;
      expect(decoded?.$case).toBe('chunk');
      expect(generated?.$case).toBe('chunk');
      const chunk = decoded!.value as Uint8Array;
      expect(Buffer.from(chunk).equals(Buffer.from(generated!.value as Uint8Array))).toBe(true);
      // No copy: the values are the received buffer's own bytes.
      expect(chunk.buffer).toBe(wire.buffer);
    }
  });

  it('decodes headers, repeated fields, trailing bytes and cut-short lengths as the generated decoder does', () => {
    const header = encoded({
      part: {
        $case: 'header',
        value: {
          target: { $case: 'modelId', value: 'fraud' },
          values: 4,
          sha256: Buffer.alloc(32, 7),
          tensors: [],
          idempotencyKey: 'k',
          trainedFrom: '',
        },
      },
    });
    const chunk = encoded({ part: { $case: 'chunk', value: Buffer.from([1, 2, 3, 4]) } });
    // The last field wins in protobuf: a chunk followed by a header is a header.
    for (const wire of [header, Buffer.concat([chunk, header]), Buffer.concat([chunk, chunk])])
      expect(decodeSubmitUpdateRequest(wire)).toEqual(SubmitUpdateRequest.decode(wire));
    // A length past the end: both refuse.
    const cut = chunk.subarray(0, chunk.length - 1);
    expect(() => decodeSubmitUpdateRequest(cut)).toThrow();
    expect(() => SubmitUpdateRequest.decode(cut)).toThrow();
  });
});
