import type { LedgerIndex } from '../ledger-index.ts';
import { cite, html, time, type Html } from '../html.ts';

/**
 * Per member and dataset, each consent's grant, revocation and expiry in order, the rounds that
 * used it, and the ledger's commit time beside the transaction's own time.
 */
export function consentsPage(index: LedgerIndex, search: URLSearchParams, now: number): Html {
  const members = [...new Set([...index.consents.values()].map((c) => c.record.memberId))].sort();
  const chosen = search.get('member') ?? '';
  const shown = chosen && members.includes(chosen) ? [chosen] : members;
  return html` <form method="get" action="/consents" class="filters" aria-label="Choose a member">
      <label
        >Member
        <select name="member">
          <option value="">all members</option>
          ${members.map((m) => html`<option value="${m}" ${m === chosen ? html` selected` : ''}>${m}</option>`)}
        </select></label
      >
      <button type="submit">Show</button>
    </form>
    ${shown.map((member) => {
      const entries = index.consentsOf(member);
      return html`<section aria-labelledby="member-${member}">
        <h2 id="member-${member}">${member}</h2>
        <ol class="timeline">
          ${entries.map(({ record, granted, revoked, usedBy }) => {
            const state =
              record.revokedAt !== null
                ? 'revoked'
                : record.expiresAt <= now
                  ? 'expired'
                  : 'in force';
            return html`<li id="${record.consentId}" class="consent ${state.replace(' ', '-')}">
              <h3>
                Consent ${record.consentId} — dataset ${record.datasetId}, purpose
                ${record.purpose}: <span class="state">${state}</span>
              </h3>
              <ul>
                <li>Granted ${time(record.grantedAt)} (transaction time); ${cite(granted)}</li>
                ${record.revokedAt !== null ? html`<li>Revoked ${time(record.revokedAt)} (transaction time); ${cite(revoked)}</li>` : ''}
                <li>
                  ${record.expiresAt <= now ? 'Expired' : 'Expires'} ${time(record.expiresAt)}
                </li>
                <li>
                  Used by
                  ${usedBy.length === 0 ? 'no round' : usedBy.map((roundId, i) => html`${i ? ', ' : ''}<a href="/rounds/${encodeURIComponent(roundId)}">${roundId}</a>`)}
                </li>
              </ul>
            </li>`;
          })}
        </ol>
      </section>`;
    })}`;
}
