import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { maxProofLength, PROOF_HEADER_BYTES } from '../../crypto/ckks/encryption-proof.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { standInUploadHandler, zeroCiphertext } from '../support/ckks-upload-stand-in.ts';

/**
 * REVIEW (ckks-compact, THREAT-REVIEW Q8): what one member's cheapest proof costs the
 * coordinator. VSP2 proofs are variable-length (Rice-coded), so the coordinator buffers a proof's
 * pieces until the header's length has arrived — and on EVERY piece after the 48-byte header it
 * concatenates all the pieces so far (`Buffer.concat(proofPieces)` in ckks-service.ts
 * `receiveProofPiece`) to re-read the header. A member that sends its proof in tiny gRPC messages
 * makes the coordinator copy O(L²/piece) bytes for an L-byte proof: at SUM_8192 (L ≤ 1.44 MB) in
 * 16-byte pieces that is ~6.5·10¹⁰ bytes copied (and 90 000 Buffer objects held) per stream,
 * eight streams per member, all on the coordinator's event loop. Nothing is verified before the
 * last piece, so no proof, key or witness is needed: a member's header, one well-formed
 * ciphertext and a proof header claiming the largest allowed length.
 *
 * The sound behaviour asserted: buffering a proof copies O(L) bytes (here: at most 4× the bytes
 * received), whatever the piece size. The coordinator's real `ckksService` handler runs in this
 * process over a stand-in call (the piece arithmetic does not need TLS), with a stand-in
 * state of one round and one member.
 */
const originalConcat = Buffer.concat.bind(Buffer);
let engine: CkksEngine;
let directory: string;

beforeAll(async () => {
  engine = await CkksEngine.create(SUM_8192);
  directory = mkdtempSync(join(tmpdir(), 'review-ckks-pieces-'));
}, 60_000);

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

/**
 * A member's stream up to its proof: header, one well-formed ciphertext. `calls` records every
 * Buffer.concat the handler makes (bytes out, pieces in) while `attack` sends proof messages;
 * the stream is cancelled afterwards.
 */
function playMember(attack: (send: (piece: Uint8Array) => void) => void) {
  const { call, result, send } = standInUploadHandler(engine, 1, directory);
  send({ $case: 'ciphertext', value: zeroCiphertext(engine) });
  const concat = jest.spyOn(Buffer, 'concat');
  const calls: { bytes: number; pieces: number }[] = [];
  concat.mockImplementation((list, totalLength) => {
    const out = originalConcat(list, totalLength);
    calls.push({ bytes: out.length, pieces: list.length });
    return out;
  });
  try {
    attack((piece) => send({ $case: 'proof', value: piece }));
  } finally {
    concat.mockRestore();
    call.emit('cancelled');
  }
  // Nothing is left on disk by the cancelled stream.
  expect(readdirSync(directory)).toEqual([]);
  return { answered: result.answered, calls };
}

/** A proof header claiming the most a one-ciphertext proof may take (nothing else is checked
 * before the last byte arrives: no key, witness or valid seed is needed). */
function proofHeader(): Uint8Array {
  const header = new Uint8Array(PROOF_HEADER_BYTES);
  header.set([0x56, 0x53, 0x50, 0x32]);
  const view = new DataView(header.buffer);
  view.setUint32(4, 0, true);
  view.setUint32(8, 1, true);
  view.setUint32(12, maxProofLength(engine, 1), true);
  return header;
}

describe('a member streams its proof in tiny pieces', () => {
  it('buffering the proof copies O(proof bytes), not O(bytes² / piece)', () => {
    const piece = 16;
    const pieces = 4000; // 64 kB of the proof: enough to see the growth, cheap to run
    let received = 0;
    const { answered, calls } = playMember((send) => {
      send(proofHeader());
      received += PROOF_HEADER_BYTES;
      for (let k = 0; k < pieces; k++) {
        send(new Uint8Array(piece));
        received += piece;
      }
    });
    // Still buffering (nothing refused): the coordinator waits for the rest of the claimed proof.
    expect(answered).toBe('not yet');
    expect(received).toBeLessThan(maxProofLength(engine, 1));
    // SOUND: a linear amount of copying per byte received. Today: Σ k·16 over 4 000 pieces,
    // ~128 MB copied for 64 kB received (ratio ~2 000), growing linearly with the proof's length.
    const copied = calls.reduce((total, call) => total + call.bytes, 0);
    expect(copied).toBeLessThanOrEqual(4 * received);
  });

  it('empty proof messages before the header are not kept (memory no upload limit counts)', () => {
    // proofBytes stays below 48, so every empty message is pushed and kept until the header.
    const before = 20_000;
    const { answered, calls } = playMember((send) => {
      for (let k = 0; k < before; k++) send(new Uint8Array(0));
      send(proofHeader());
    });
    expect(answered).toBe('not yet');
    // SOUND: refused, or at most a few pieces held whatever the number of empty messages
    // (today: the header's concat walks all 20 001 pieces kept).
    expect(Math.max(0, ...calls.map((call) => call.pieces))).toBeLessThanOrEqual(64);
  });

  it('empty proof messages after the header cost O(1) each, not a walk over every piece', () => {
    const after = 4000;
    const { answered, calls } = playMember((send) => {
      send(proofHeader());
      for (let k = 0; k < after; k++) send(new Uint8Array(0));
    });
    expect(answered).toBe('not yet');
    // SOUND: the work of all concatenations is linear in the messages (today: Σ k ≈ 8·10⁶).
    const work = calls.reduce((total, call) => total + call.pieces, 0);
    expect(work).toBeLessThanOrEqual(4 * (after + 1));
  });
});
