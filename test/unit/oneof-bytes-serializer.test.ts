import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CkksServiceService,
  EncryptedUploadChunk,
  KeyholderServiceService,
  PartialDecryptionRequest,
  PrepareDecryptionRequest,
} from '../../proto/gen/veilsum/v1/ckks.ts';
import { oneofBytesSerializer } from '../../sdk/oneof-bytes-serializer.ts';

// The field numbers the SDK and the coordinator install (sdk/veilsum-client.ts,
// services/keyholder/keyholder-client.ts): each must give the generated encoder's exact bytes.
const cases = [
  {
    name: 'EncryptedUploadChunk',
    fields: { ciphertext: 2, proof: 3 },
    serialize: CkksServiceService.uploadEncrypted.requestSerialize,
    decode: (bytes: Buffer) => EncryptedUploadChunk.decode(bytes),
  },
  {
    name: 'PrepareDecryptionRequest',
    fields: { ciphertext: 3, proof: 4 },
    serialize: KeyholderServiceService.prepareDecryption.requestSerialize,
    decode: (bytes: Buffer) => PrepareDecryptionRequest.decode(bytes),
  },
  {
    name: 'PartialDecryptionRequest',
    fields: { ciphertext: 2 },
    serialize: KeyholderServiceService.partialDecrypt.requestSerialize,
    decode: (bytes: Buffer) => PartialDecryptionRequest.decode(bytes),
  },
] as const;

// Lengths around every varint boundary a message can reach, and random ones.
const lengths = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 212_992, 2_097_151, 2_097_152),
  fc.nat({ max: 300_000 }),
);

describe('oneofBytesSerializer', () => {
  for (const { name, fields, serialize, decode } of cases)
    it(`writes ${name}'s bytes cases exactly as the generated encoder, and decodes back`, () => {
      const fast = oneofBytesSerializer(fields, serialize as (message: unknown) => Buffer);
      fc.assert(
        fc.property(
          fc.constantFrom(...Object.keys(fields)),
          lengths,
          fc.integer(),
          ($case, length, seed) => {
            const value = Buffer.alloc(length, seed & 0xff);
            if (length > 0) value[length - 1] = (seed >>> 8) & 0xff;
            const message = { content: { $case, value } } as never;
            const bytes = fast(message);
            expect(bytes.equals(serialize(message))).toBe(true);
            const back = decode(bytes) as { content?: { $case: string; value: Uint8Array } };
            expect(back.content?.$case).toBe($case);
            expect(Buffer.from(back.content!.value).equals(value)).toBe(true);
          },
        ),
        { numRuns: 60 },
      );
    });

  it('hands every other case to the generated encoder', () => {
    const calls: unknown[] = [];
    const fallback = (message: unknown) => {
      calls.push(message);
      return Buffer.from('fallback');
    };
    const fast = oneofBytesSerializer({ ciphertext: 3 }, fallback);
    const header = { content: { $case: 'header', value: { roundId: 'r' } } };
    expect(fast(header).toString()).toBe('fallback');
    expect(fast({}).toString()).toBe('fallback');
    expect(calls).toEqual([header, {}]);
    expect(fast({ content: { $case: 'ciphertext', value: Buffer.from([7]) } })).toEqual(
      Buffer.from([26, 1, 7]),
    );
  });

  it('refuses field numbers that need a tag of more than one byte', () => {
    expect(() => oneofBytesSerializer({ big: 16 }, () => Buffer.alloc(0))).toThrow(RangeError);
    expect(() => oneofBytesSerializer({ zero: 0 }, () => Buffer.alloc(0))).toThrow(RangeError);
  });
});
