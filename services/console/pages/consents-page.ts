import type { ConsentEntry, LedgerIndex } from '../ledger-index.ts';
import { cite, html, time, type Html } from '../html.ts';

/**
 * Per member and dataset, each consent's grant, revocation and expiry in order, the rounds that
 * used it, and the ledger's commit time beside the transaction's own time.
 */
const stateOf = (record: ConsentEntry['record'], now: number) =>
  record.revokedAt !== null ? 'revoked' : record.expiresAt <= now ? 'expired' : 'in force';

export function consentsPage(index: LedgerIndex, search: URLSearchParams, now: number): Html {
  const members = [...new Set([...index.consents.values()].map((c) => c.record.memberId))].sort();
  const chosen = members.includes(search.get('member') ?? '') ? search.get('member')! : members[0];
  const summary = members.map((member) => {
    const entries = index.consentsOf(member);
    const count = (state: string) => entries.filter((e) => stateOf(e.record, now) === state).length;
    return html`<tr>
      <td>
        <a
          href="/consents?member=${encodeURIComponent(member)}"
          ${member === chosen ? html` aria-current="true"` : ''}
          >${member}</a
        >
      </td>
      <td>${count('in force')}</td>
      <td>${count('revoked')}</td>
      <td>${count('expired')}</td>
    </tr>`;
  });
  const entries = chosen === undefined ? [] : index.consentsOf(chosen);
  return html` <table>
      <caption>
        Consents by member (choose one for its timeline)
      </caption>
      <thead>
        <tr>
          <th scope="col">Member</th>
          <th scope="col">In force</th>
          <th scope="col">Revoked</th>
          <th scope="col">Expired</th>
        </tr>
      </thead>
      <tbody>
        ${summary}
      </tbody>
    </table>
    ${
      chosen === undefined
        ? html`<p>No consent has been granted on the ledger.</p>`
        : html`<section aria-labelledby="timeline">
            <h2 id="timeline">Timeline of ${chosen}</h2>
            ${entries.some((entry) => entry.granted.committedAt === null) ? html`<p id="commit-times">This ledger's blocks carry no clock time (Fabric orders transactions into blocks without dating them), so each record shows the block and transaction it was committed in rather than a commit time. Its transaction time is the time its submitter signed, which every endorsing peer checked against its own clock before it endorsed the transaction.</p>` : ''}
            <ol class="timeline">
              ${entries.map(({ record, granted, revoked, usedBy }) => {
                const state = stateOf(record, now);
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
          </section>`
    }`;
}
