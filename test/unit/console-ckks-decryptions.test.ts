import { describe, expect, it } from '@jest/globals';
import type { KeyDecryptionRecord } from '../../ledger/records.ts';
import { ckksDecryptionsSection } from '../../services/console/pages/ckks-decryptions.ts';

const KEY = 'ab'.repeat(32);
const AGGREGATE = 'cd'.repeat(32);
const OTHER = 'ef'.repeat(32);

const record = (
  keyholder: string,
  roundId: string,
  aggregateSha256: string,
  kl: number,
): KeyDecryptionRecord => ({
  keySha256: KEY,
  keyholder,
  aggregateSha256,
  roundId,
  ciphertexts: 3,
  contributors: 4,
  kl,
  recordedAt: Date.UTC(2026, 11, 7, 3, 0, 0),
});

/** The section as a screen reader reads it: text only, whitespace collapsed. */
const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

describe("the console's CKKS decryptions and key budget on a round page", () => {
  it("names the responders, flags an aggregate that is not the round's, and totals the key's budget", () => {
    const decryptions = [
      record('kh-1', 'fraud/round-2', AGGREGATE, 2 ** -40),
      record('kh-2', 'fraud/round-2', OTHER, 2 ** -40),
      record('kh-1', 'fraud/round-1', OTHER.replace('e', '0'), 2 ** -41),
    ];
    const shown = text(ckksDecryptionsSection('fraud/round-2', KEY, AGGREGATE, decryptions).text);
    expect(shown).toBe(
      'CKKS decryptions Responders: kh-1, kh-2 (each recorded its decryption on the ledger before releasing its share). ' +
        'Decryptions recorded for this round Keyholder Aggregate SHA-256 The committed aggregate? Ciphertexts Contributors Privacy cost (KL) Recorded ' +
        `kh-1 cdcdcdcdcdcd…cdcdcd yes 3 4 2^-40.0 2026-12-07 03:00:00 UTC ` +
        `kh-2 efefefefefef…efefef NO: not the aggregate the round committed 3 4 2^-40.0 2026-12-07 03:00:00 UTC ` +
        'Key budget Key abababababab…ababab has decrypted 3 aggregates in all, spending KL 2^-38.7 of its noise-flooding budget, of which this round 2^-39.0. ' +
        'Each aggregate is charged once, whichever keyholders answer; the keyholders refuse a decryption past their configured key life or budget.',
    );
  });

  it('says so when no keyholder has decrypted the round yet', () => {
    expect(text(ckksDecryptionsSection('fraud/round-3', KEY, null, []).text)).toBe(
      'CKKS decryptions No keyholder has recorded a decryption for this round. Key budget ' +
        'Key abababababab…ababab has decrypted 0 aggregates in all, spending KL 0 of its noise-flooding budget. ' +
        'Each aggregate is charged once, whichever keyholders answer; the keyholders refuse a decryption past their configured key life or budget.',
    );
  });
});
