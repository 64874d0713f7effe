import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { majorityVerdict, type PeerOutcome } from '../../ledger/fabric/majority-read.ts';

/**
 * A member whose own peer is down reads through the other banks' peers: one lying (or colluding)
 * bank's peer must not be able to make it accept an answer, and a peer that is merely down must
 * not count as disagreement. Four banks: a majority is three.
 */
const answer = (mspId: string, text: string): PeerOutcome => ({
  mspId,
  result: Buffer.from(text),
});
const refusal = (mspId: string, text: string): PeerOutcome => ({
  mspId,
  error: Object.assign(new Error('2 UNKNOWN: evaluate call to endorser returned error'), {
    code: status.UNKNOWN,
    details: [{ mspId, address: 'x', message: `chaincode response 500, ${text}` }],
  }),
});
const down = (mspId: string): PeerOutcome => ({
  mspId,
  error: Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), {
    code: status.UNAVAILABLE,
    details: [],
  }),
});
const U3 = JSON.stringify({ members: [1, 2, 3, 4] });
const FORGED = JSON.stringify({ members: [2] });

describe('a read through peers the reader does not trust alone', () => {
  it('takes the answer three of four banks give, not the lone forged one', () => {
    const verdict = majorityVerdict(
      [down('BankA'), answer('BankB', FORGED), answer('BankC', U3), answer('BankD', U3)],
      3,
    );
    expect(verdict.kind).toBe('disagree');
    const agreed = majorityVerdict(
      [answer('BankA', U3), answer('BankB', FORGED), answer('BankC', U3), answer('BankD', U3)],
      3,
    );
    expect(agreed).toMatchObject({ kind: 'agreed', outcome: { mspId: 'BankA' } });
    expect(
      Buffer.from((agreed as { outcome: { result: Uint8Array } }).outcome.result).toString(),
    ).toBe(U3);
  });

  it('counts banks, not peers: two peers of one bank are one voice', () => {
    const verdict = majorityVerdict(
      [
        answer('BankB', FORGED),
        answer('BankB', FORGED),
        answer('BankB', FORGED),
        answer('BankC', U3),
      ],
      3,
    );
    expect(verdict.kind).toBe('disagree');
  });

  it("returns the contract's refusal when a majority refuses alike", () => {
    const verdict = majorityVerdict(
      [
        down('BankA'),
        refusal('BankB', '[not-found] no round r'),
        refusal('BankC', '[not-found] no round r'),
        refusal('BankD', '[not-found] no round r'),
      ],
      3,
    );
    expect(verdict).toMatchObject({ kind: 'agreed', outcome: { mspId: 'BankB' } });
  });

  it('reports an outage, not a disagreement, when too few peers answer', () => {
    const verdict = majorityVerdict(
      [down('BankA'), down('BankB'), answer('BankC', U3), answer('BankD', U3)],
      3,
    );
    expect(verdict.kind).toBe('unreachable');
  });
});
