import type { KeyDecryptionRecord } from '../../../ledger/records.ts';
import { hash, html, time, type Html } from '../html.ts';

/** KL divergence as the contract states it: a power of two. */
const kl = (value: number): string => (value > 0 ? `2^${Math.log2(value).toFixed(1)}` : '0');

/** The KL charged per distinct aggregate, as the contract counts it (once, the largest). */
function chargesOf(decryptions: readonly KeyDecryptionRecord[]): Map<string, number> {
  const charged = new Map<string, number>();
  for (const record of decryptions)
    charged.set(
      record.aggregateSha256,
      Math.max(charged.get(record.aggregateSha256) ?? 0, record.kl),
    );
  return charged;
}

/**
 * A CKKS round's decryptions (which keyholders answered, for which aggregate) and what its key
 * has spent, from the key's decryption records on the ledger: each keyholder writes one before
 * it releases its partial decryption, and the contract charges each distinct aggregate once.
 */
export function ckksDecryptionsSection(
  roundId: string,
  keySha256: string,
  committedAggregate: string | null,
  decryptions: readonly KeyDecryptionRecord[],
): Html {
  const mine = decryptions.filter((record) => record.roundId === roundId);
  const charged = chargesOf(decryptions);
  const spent = [...charged.values()].reduce((total, charge) => total + charge, 0);
  const roundCharge = [...chargesOf(mine).values()].reduce((total, charge) => total + charge, 0);
  return html`<section aria-labelledby="decryptions">
    <h2 id="decryptions">CKKS decryptions</h2>
    ${
      mine.length === 0
        ? html`<p>No keyholder has recorded a decryption for this round.</p>`
        : html`<p>
              Responders: ${mine.map((record) => record.keyholder).join(', ')} (each recorded its
              decryption on the ledger before releasing its share).
            </p>
            <table>
              <caption>
                Decryptions recorded for this round
              </caption>
              <thead>
                <tr>
                  <th scope="col">Keyholder</th>
                  <th scope="col">Aggregate SHA-256</th>
                  <th scope="col">The committed aggregate?</th>
                  <th scope="col">Ciphertexts</th>
                  <th scope="col">Contributors</th>
                  <th scope="col">Privacy cost (KL)</th>
                  <th scope="col">Recorded</th>
                </tr>
              </thead>
              <tbody>
                ${mine.map(
                  (record) =>
                    html`<tr>
                      <td>${record.keyholder}</td>
                      <td>${hash(record.aggregateSha256)}</td>
                      <td>
                        ${
                          record.aggregateSha256 === committedAggregate
                            ? 'yes'
                            : 'NO: not the aggregate the round committed'
                        }
                      </td>
                      <td>${record.ciphertexts}</td>
                      <td>${record.contributors}</td>
                      <td>${kl(record.kl)}</td>
                      <td>${time(record.recordedAt)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }
    <h3>Key budget</h3>
    <p>
      Key ${hash(keySha256)} has decrypted ${charged.size}
      ${charged.size === 1 ? 'aggregate' : 'aggregates'} in all, spending KL ${kl(spent)} of its
      noise-flooding budget${mine.length > 0 ? html`, of which this round ${kl(roundCharge)}` : ''}.
      Each aggregate is charged once, whichever keyholders answer; the keyholders refuse a
      decryption past their configured key life or budget.
    </p>
  </section>`;
}
