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

/**
 * Length-prefixed concatenation: no two distinct field lists encode to the same bytes. Written
 * into one buffer (a round encodes thousands of these: KDF info, commitments, leaves), with the
 * UTF-8 of short strings — labels, a handful per protocol — kept after their first use.
 */
export function encodeFields(...fields: readonly (Uint8Array | string | number)[]): Uint8Array {
  let total = 0;
  const encoded: (Uint8Array | number)[] = [];
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const bytes = typeof field === 'string' ? utf8Label(field) : field;
    encoded.push(bytes);
    total += 4 + (typeof bytes === 'number' ? 4 : bytes.length);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const bytes of encoded) {
    if (typeof bytes === 'number') {
      writeU32be(out, offset, 4);
      writeU32be(out, offset + 4, bytes);
      offset += 8;
    } else {
      writeU32be(out, offset, bytes.length);
      out.set(bytes, offset + 4);
      offset += 4 + bytes.length;
    }
  }
  return out;
}

/**
 * encodeFields(...labels, binding), remembered for the last few: a round encodes thousands of
 * payloads that start with the same labels and round binding (KDF info, share commitments,
 * associated data), and that prefix is most of each. The binding is kept as a copy of its bytes
 * (`new Uint8Array`, which copies a Node Buffer too, where `Buffer.slice` would be a view) and
 * compared on every hit, so a caller that reuses its buffer never gets a stale prefix. The cached
 * encoding never leaves this module: `fieldsPrefix` hands out a copy, `encodePrefixed` writes it
 * into a fresh buffer.
 */
function cachedPrefix(binding: Uint8Array | string, labels: readonly string[]): Uint8Array {
  for (const entry of prefixes) {
    if (
      entry.labels.length === labels.length &&
      entry.labels.every((label, i) => label === labels[i]) &&
      (typeof binding === 'string'
        ? entry.binding === binding
        : typeof entry.binding !== 'string' && equalBytes(entry.binding, binding))
    )
      return entry.prefix;
  }
  const entry = {
    labels: [...labels],
    binding: typeof binding === 'string' ? binding : new Uint8Array(binding),
    prefix: encodeFields(...labels, binding),
  };
  if (prefixes.length >= PREFIX_CACHE_LIMIT) prefixes.shift();
  prefixes.push(entry);
  return entry.prefix;
}

/** encodeFields(...labels, binding), as a buffer of the caller's own. */
export function fieldsPrefix(binding: Uint8Array | string, ...labels: string[]): Uint8Array {
  return new Uint8Array(cachedPrefix(binding, labels));
}

/**
 * encodeFields(...labels, binding, ...fields) in one fresh buffer, the labels' and binding's
 * part written from the cache (cachedPrefix).
 */
export function encodePrefixed(
  labels: readonly string[],
  binding: Uint8Array | string,
  ...fields: readonly (Uint8Array | string | number)[]
): Uint8Array {
  return encodeFieldsAfter(cachedPrefix(binding, labels), ...fields);
}
const PREFIX_CACHE_LIMIT = 32;
const prefixes: { labels: string[]; binding: Uint8Array | string; prefix: Uint8Array }[] = [];

/**
 * prefix ‖ encodeFields(...fields) in one buffer: encodeFields(a, b, c, d) is exactly
 * encodeFields(a, b) ‖ encodeFields(c, d), so with `fieldsPrefix(b, a)` the bytes are the same.
 */
export function encodeFieldsAfter(
  prefix: Uint8Array,
  ...fields: readonly (Uint8Array | string | number)[]
): Uint8Array {
  let total = prefix.length;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    total +=
      4 +
      (typeof field === 'number'
        ? 4
        : typeof field === 'string'
          ? utf8Label(field).length
          : field.length);
  }
  const out = new Uint8Array(total);
  out.set(prefix, 0);
  let offset = prefix.length;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (typeof field === 'number') {
      writeU32be(out, offset, 4);
      writeU32be(out, offset + 4, field);
      offset += 8;
    } else {
      const bytes = typeof field === 'string' ? utf8Label(field) : field;
      writeU32be(out, offset, bytes.length);
      out.set(bytes, offset + 4);
      offset += 4 + bytes.length;
    }
  }
  return out;
}

function writeU32be(out: Uint8Array, offset: number, value: number): void {
  const word = value >>> 0;
  out[offset] = word >>> 24;
  out[offset + 1] = (word >>> 16) & 0xff;
  out[offset + 2] = (word >>> 8) & 0xff;
  out[offset + 3] = word & 0xff;
}

const LABEL_CACHE_LIMIT = 256;
const labels = new Map<string, Uint8Array>();
/** utf8(text), remembered for short strings (the encoding is never handed out: copied by set). */
function utf8Label(text: string): Uint8Array {
  if (text.length > 96) return utf8(text);
  let bytes = labels.get(text);
  if (bytes === undefined) {
    bytes = utf8(text);
    if (labels.size >= LABEL_CACHE_LIMIT) labels.delete(labels.keys().next().value!);
    labels.set(text, bytes);
  }
  return bytes;
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
