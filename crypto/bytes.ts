// Byte-string helpers used to build unambiguous (length-prefixed) encodings for KDF info strings,
// signature payloads and AEAD associated data.

const encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array => encoder.encode(text);

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function u32be(value: number): Uint8Array {
  const word = value >>> 0;
  return Uint8Array.of(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
}

/** Length-prefixed concatenation: no two distinct field lists encode to the same bytes. */
export function encodeFields(...fields: readonly (Uint8Array | string | number)[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const field of fields) {
    const bytes =
      typeof field === 'string' ? utf8(field) : typeof field === 'number' ? u32be(field) : field;
    parts.push(u32be(bytes.length), bytes);
  }
  return concatBytes(...parts);
}

/** Constant-time comparison of two byte strings of public length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error(`not a hex string: ${hex.slice(0, 16)}…`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
