import { describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { DecryptionLog } from '../../services/keyholder/decryption-log.ts';
import type { RequestError } from '../../sdk/common/grpc-errors.ts';

const KEY = 'k'.repeat(64);
const hex = (c: string) => c.repeat(64);
const answer = (aggregate: string, ciphertexts: string[], responders: number[]) => ({
  round: `round-${aggregate}`,
  caller: 'veilsum-coordinator',
  key: KEY,
  aggregateSha256: hex(aggregate),
  ciphertexts: ciphertexts.map(hex),
  responders,
  contributors: 3,
  partialsSha256: hex('p'),
});
const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as RequestError).code;
  }
  return undefined;
};
const freshPath = () => join(mkdtempSync(join(tmpdir(), 'veilsum-log-')), 'decryptions.jsonl');

describe('the keyholder decryption log', () => {
  it('binds every ciphertext to one aggregate and one responder set, across reopening', () => {
    const path = freshPath();
    new DecryptionLog(path).record(answer('a', ['1', '2'], [2, 1]));
    const log = new DecryptionLog(path);
    expect(log.check(KEY, hex('a'), [hex('1'), hex('2')], [1, 2], 10)).toEqual({
      kind: 'repeat',
      partialsSha256: hex('p'),
    });
    expect(codeOf(() => log.check(KEY, hex('a'), [hex('1'), hex('2')], [1, 3], 10))).toBe(
      status.ALREADY_EXISTS,
    );
    // Ciphertext 2 inside another aggregate, even for the same set: refused.
    expect(codeOf(() => log.check(KEY, hex('b'), [hex('3'), hex('2')], [1, 2], 10))).toBe(
      status.ALREADY_EXISTS,
    );
    expect(log.check(KEY, hex('b'), [hex('3'), hex('4')], [1, 3], 10)).toEqual({ kind: 'new' });
  });

  it('counts the rounds a key decrypted and refuses new ones at its life R, repeats still allowed', () => {
    const path = freshPath();
    const log = new DecryptionLog(path);
    log.record(answer('a', ['1'], [1, 2]));
    log.record(answer('b', ['2'], [1, 2]));
    const reopened = new DecryptionLog(path);
    expect(reopened.roundsDecrypted(KEY)).toBe(2);
    expect(codeOf(() => reopened.check(KEY, hex('c'), [hex('3')], [1, 2], 2))).toBe(
      status.RESOURCE_EXHAUSTED,
    );
    expect(reopened.check(KEY, hex('a'), [hex('1')], [1, 2], 2).kind).toBe('repeat');
    expect(reopened.roundsDecrypted('other key')).toBe(0);
  });

  it('drops a torn last line (never fsynced whole, so never sent) and keeps appending cleanly', () => {
    const path = freshPath();
    new DecryptionLog(path).record(answer('a', ['1'], [1, 2]));
    appendFileSync(path, '{"kind":"decryption","round":"torn');
    const log = new DecryptionLog(path);
    expect(readFileSync(path, 'utf8').endsWith('}\n')).toBe(true);
    log.recordVerified({ round: 'r', key: KEY, aggregateSha256: hex('b'), contributors: 2 });
    const reopened = new DecryptionLog(path);
    expect(reopened.isVerified(KEY, hex('b'))).toBe(true);
    expect(reopened.isVerified(KEY, hex('c'))).toBe(false);
    expect(reopened.roundsDecrypted(KEY)).toBe(1);
  });

  it('binds entries written before per-ciphertext binding by their aggregate, and cannot repeat them', () => {
    const path = freshPath();
    appendFileSync(
      path,
      JSON.stringify({
        at: '2026-11-30T00:00:00Z',
        round: 'r',
        caller: 'c',
        aggregateSha256: hex('a'),
        contributors: 3,
        responders: [3, 1, 2],
        key: KEY,
      }) + '\n',
    );
    const log = new DecryptionLog(path);
    const chunks = [hex('1'), hex('2')];
    expect(codeOf(() => log.check(KEY, hex('a'), chunks, [1, 2], 10))).toBe(status.ALREADY_EXISTS);
    // Same set: a "repeat" with no logged hash, which the keyholder can never match (it refuses).
    const same = log.check(KEY, hex('a'), chunks, [1, 2, 3], 10);
    expect(same.kind === 'repeat' && same.partialsSha256).toBeUndefined();
  });
});
