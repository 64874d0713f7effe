import type { MaskJob } from '../../crypto/secagg/masks.ts';

/**
 * Mask jobs as one byte buffer for the trip to a mask worker, transferred, not cloned: a
 * structured clone of a client's k ≈ 80 jobs (five small Uint8Arrays and two arrays each) cost
 * ~0.3 ms each way, more than the jobs' key agreements' share of a worker's time, and the server
 * sends thousands. Layout per job: kind (0 seed, 1 pairwise), sign (0 for −1, 1 for +1), then for
 * a seed its bytes, for a pairwise job the secret key, the peer's public key, the binding, both
 * public keys and the pair; each byte field is a u16 length and its bytes, each index a u32.
 */
export function encodeMaskJobs(jobs: readonly MaskJob[]): Uint8Array {
  let length = 4;
  for (const job of jobs) {
    length += 2;
    if (job.kind === 'seed') length += 2 + job.seed.length;
    else
      length +=
        10 +
        job.secretKey.length +
        job.peerPublicKey.length +
        job.binding.length +
        job.publicKeys[0].length +
        job.publicKeys[1].length +
        8;
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let offset = 0;
  const bytes = (field: Uint8Array) => {
    if (field.length > 0xffff) throw new RangeError('a mask job field is longer than 65535 bytes');
    view.setUint16(offset, field.length);
    out.set(field, offset + 2);
    offset += 2 + field.length;
  };
  view.setUint32(offset, jobs.length);
  offset += 4;
  for (const job of jobs) {
    out[offset] = job.kind === 'seed' ? 0 : 1;
    out[offset + 1] = job.sign === 1 ? 1 : 0;
    offset += 2;
    if (job.kind === 'seed') {
      bytes(job.seed);
      continue;
    }
    bytes(job.secretKey);
    bytes(job.peerPublicKey);
    bytes(job.binding);
    bytes(job.publicKeys[0]);
    bytes(job.publicKeys[1]);
    for (const index of job.pair)
      if (!Number.isInteger(index) || index < 0 || index > 0xffffffff)
        throw new RangeError(
          `pair index must be an integer in [0, 4294967295] on the mask workers' wire, got ${index}`,
        );
    view.setUint32(offset, job.pair[0]);
    view.setUint32(offset + 4, job.pair[1]);
    offset += 8;
  }
  return out;
}

/** The jobs of `encodeMaskJobs` (their byte fields are views into `encoded`). */
export function decodeMaskJobs(encoded: Uint8Array): MaskJob[] {
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  let offset = 0;
  const bytes = (): Uint8Array => {
    const length = view.getUint16(offset);
    const field = encoded.subarray(offset + 2, offset + 2 + length);
    if (field.length !== length) throw new RangeError('truncated mask job');
    offset += 2 + length;
    return field;
  };
  const count = view.getUint32(offset);
  offset += 4;
  const jobs: MaskJob[] = [];
  for (let i = 0; i < count; i++) {
    const kind = encoded[offset];
    const signByte = encoded[offset + 1];
    if ((kind !== 0 && kind !== 1) || (signByte !== 0 && signByte !== 1))
      throw new RangeError(
        `mask job ${i} has kind ${kind} and sign ${signByte}: each must be 0 or 1`,
      );
    const sign = signByte === 1 ? 1 : -1;
    offset += 2;
    if (kind === 0) {
      jobs.push({ kind: 'seed', seed: bytes(), sign });
      continue;
    }
    const secretKey = bytes();
    const peerPublicKey = bytes();
    const binding = bytes();
    const publicKeys = [bytes(), bytes()] as const;
    const pair = [view.getUint32(offset), view.getUint32(offset + 4)] as const;
    offset += 8;
    jobs.push({ kind: 'pairwise', secretKey, peerPublicKey, binding, pair, publicKeys, sign });
  }
  if (offset !== encoded.length) throw new RangeError('trailing bytes after the mask jobs');
  return jobs;
}
