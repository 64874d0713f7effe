import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * REVIEW (ckks-compact, THREAT-REVIEW Q8): memory per in-flight upload. The coordinator counts
 * what an upload stream stages against the member's and everyone's upload limits
 * (UploadLimits: 1 GiB per member, 8 GiB in all) — but only ciphertext bytes: a proof message
 * is handled as zero bytes (`data` returns an empty array), and every verified proof is kept in
 * memory (`proofs`) until the stream ends. A member may prove its upload in batches of ONE
 * ciphertext: each batch's proof is ≈ 1.09–1.21 MB beside a 142 KB compact ciphertext (VSP2
 * made the batch-of-one proof no smaller than ~1 MB), so a stream of one 10⁶-parameter upload
 * (123 ciphertexts) holds ~140 MB of proofs that no limit sees: 8 streams per member (each may
 * carry the same valid upload and proofs, reused: they bind round, member and bytes, not the
 * stream), 512 in all, each kept open up to 10 minutes by sending before the 30 s idle cut.
 * The member needs real proofs here (it has its witnesses); the proof check is stood in by a
 * verifier that accepts, as it would accept the member's valid proofs.
 *
 * The sound behaviour asserted: what a stream holds in memory for proofs is counted against the
 * upload limits (usage.bytes covers ciphertexts AND proofs received).
 */
jest.unstable_mockModule('../../services/compute/ckks-verify-pool.ts', () => ({
  CkksVerifyPool: class {
    verify(): Promise<void> {
      return Promise.resolve();
    }
  },
}));
const { CkksEngine } = await import('../../crypto/ckks/engine.ts');
const { maxProofLength, PROOF_HEADER_BYTES } =
  await import('../../crypto/ckks/encryption-proof.ts');
const { SUM_8192 } = await import('../../crypto/ckks/parameters.ts');
const { standInProof, standInUploadHandler, zeroCiphertext } =
  await import('../support/ckks-upload-stand-in.ts');

const engine = await CkksEngine.create(SUM_8192);
const directory = mkdtempSync(join(tmpdir(), 'review-ckks-proof-memory-'));

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('a member proves its upload one ciphertext per proof', () => {
  it('the proofs a stream holds count against the upload limits', async () => {
    const count = 32;
    const { call, result, send, uploads } = standInUploadHandler(engine, count, directory);
    const ciphertext = zeroCiphertext(engine);
    const proofLength = maxProofLength(engine, 1);
    let ciphertextBytes = 0;
    let proofBytes = 0;
    try {
      for (let k = 0; k < count; k++) {
        send({ $case: 'ciphertext', value: ciphertext });
        ciphertextBytes += ciphertext.length;
        const proof = standInProof(engine, k);
        expect(proofLength).toBeGreaterThan(PROOF_HEADER_BYTES);
        send({ $case: 'proof', value: proof });
        proofBytes += proof.length;
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Every batch was taken (the verifier accepted it) and the stream stays open.
      expect(result.answered).toBe('not yet');
      const held = uploads.usage.bytes;
      // Today: 32 ciphertexts (6.8 MB) counted, 32 proofs (38.8 MB) not.
      expect(held).toBeGreaterThanOrEqual(ciphertextBytes);
      expect(proofBytes).toBeGreaterThan(5 * ciphertextBytes);
      // SOUND: the proofs held are counted too.
      expect(held).toBeGreaterThanOrEqual(ciphertextBytes + proofBytes);
    } finally {
      call.emit('cancelled');
    }
    expect(uploads.usage).toEqual({ streams: 0, bytes: 0 });
    expect(readdirSync(directory)).toEqual([]);
  });
});
