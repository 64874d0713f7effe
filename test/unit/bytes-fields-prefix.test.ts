import { describe, expect, it } from '@jest/globals';
import { encodeFields, encodeFieldsAfter, fieldsPrefix } from '../../crypto/bytes.ts';

describe('fieldsPrefix and encodeFieldsAfter', () => {
  it('encode exactly the bytes of encodeFields over the whole list', () => {
    const binding = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    expect(
      encodeFieldsAfter(fieldsPrefix(binding, 'label/a', 'purpose'), 7, 300000, key, 'kind', ''),
    ).toEqual(encodeFields('label/a', 'purpose', binding, 7, 300000, key, 'kind', ''));
    expect(encodeFieldsAfter(fieldsPrefix('round-1', 'label'))).toEqual(
      encodeFields('label', 'round-1'),
    );
  });

  it('never serves a prefix for another binding, labels, or a caller buffer changed since', () => {
    const binding = new Uint8Array(32).fill(1);
    const before = fieldsPrefix(binding, 'label');
    binding[31] = 2;
    expect(fieldsPrefix(binding, 'label')).toEqual(encodeFields('label', binding));
    expect(fieldsPrefix(binding, 'label')).not.toEqual(before);
    expect(fieldsPrefix(binding, 'label', 'x')).toEqual(encodeFields('label', 'x', binding));
    // A string round and the same text's bytes are different fields lists but the same encoding.
    expect(fieldsPrefix('ab', 'label')).toEqual(encodeFields('label', 'ab'));
    expect(fieldsPrefix('a', 'label')).not.toEqual(fieldsPrefix('ab', 'label'));
  });
});
