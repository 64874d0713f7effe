import type { ChainHealth } from '../ledger-history.ts';
import type { LedgerIndex } from '../ledger-index.ts';
import { cite, hash, html, time, type Html } from '../html.ts';
import { roundRows } from './rounds-page.ts';

/** Members and roles, keyholders and attested keys, chain health, the latest rounds, live events. */
export function overviewPage(index: LedgerIndex, health: ChainHealth): Html {
  const members = [...index.members.values()].sort((a, b) => (a.mspId < b.mspId ? -1 : 1));
  const keys = [...index.keys.values()].sort((a, b) => b.at.block - a.at.block);
  return html` <section aria-labelledby="health">
      <h2 id="health">Chain health</h2>
      <dl class="facts">
        <dt>Backend</dt>
        <dd>${health.backend}</dd>
        <dt>Height</dt>
        <dd data-testid="height">${health.height}</dd>
        <dt>Head block hash</dt>
        <dd data-testid="head">
          ${health.headHash ? hash(health.headHash) : 'not exposed by the peer'}
        </dd>
        <dt>Last verification</dt>
        <dd>${time(health.verifiedAt)}: ${health.verification}</dd>
      </dl>
    </section>
    <section aria-labelledby="members">
      <h2 id="members">Members and roles</h2>
      <table>
        <caption>
          Identities registered on the ledger (${members.length})
        </caption>
        <thead>
          <tr>
            <th scope="col">Identity</th>
            <th scope="col">Roles</th>
            <th scope="col">Registered</th>
          </tr>
        </thead>
        <tbody>
          ${members.map(
            (member) =>
              html`<tr>
                <td>${member.mspId}</td>
                <td>${member.roles.join(', ')}</td>
                <td>${time(member.registeredAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>
    <section aria-labelledby="keys">
      <h2 id="keys">Attested CKKS keys</h2>
      ${
        keys.length === 0
          ? html`<p>No collective key has been attested.</p>`
          : html`<table>
              <caption>
                Collective keys and the keyholders who attested them
              </caption>
              <thead>
                <tr>
                  <th scope="col">Key SHA-256</th>
                  <th scope="col">Threshold</th>
                  <th scope="col">Keyholders</th>
                  <th scope="col">Attested by</th>
                  <th scope="col">On the ledger</th>
                </tr>
              </thead>
              <tbody>
                ${keys.map(
                  ({ record, at }) =>
                    html`<tr>
                      <td>${hash(record.keySha256)}</td>
                      <td>${record.threshold} of ${record.participants.length}</td>
                      <td>${record.participants.join(', ')}</td>
                      <td>${record.attestedBy.join(', ')}</td>
                      <td>${cite(at)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>
    <section aria-labelledby="latest">
      <h2 id="latest">Latest rounds</h2>
      <div id="latest-rounds">${latestRoundsTable(index)}</div>
    </section>
    <section aria-labelledby="live">
      <h2 id="live">Live ledger events</h2>
      <p id="live-status">Waiting for new blocks…</p>
      <ol id="live-events" aria-live="polite" aria-labelledby="live"></ol>
    </section>`;
}

export function latestRoundsTable(index: LedgerIndex): Html {
  const latest = index.listRounds().slice(0, 10);
  if (latest.length === 0) return html`<p>No round has been opened.</p>`;
  return html`<table>
    <caption>
      The ten most recent rounds
    </caption>
    ${roundRows(latest)}
  </table>`;
}
