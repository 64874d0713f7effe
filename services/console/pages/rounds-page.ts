import type { LedgerIndex, RoundEntry, RoundFilter } from '../ledger-index.ts';
import type { KeyDecryptionRecord } from '../../../ledger/records.ts';
import { cite, hash, html, time, type Html } from '../html.ts';
import { ckksDecryptionsSection } from './ckks-decryptions.ts';

export const ROUNDS_PER_PAGE = 50;

export function roundRows(rounds: readonly RoundEntry[]): Html {
  return html`<thead>
      <tr>
        <th scope="col">Round</th>
        <th scope="col">Model</th>
        <th scope="col">Mode</th>
        <th scope="col">Status</th>
        <th scope="col">Included</th>
        <th scope="col">Dropouts</th>
        <th scope="col">Opened</th>
        <th scope="col">On the ledger</th>
      </tr>
    </thead>
    <tbody>
      ${rounds.map(
        ({ record, opened }) =>
          html`<tr>
            <td><a href="/rounds/${encodeURIComponent(record.roundId)}">${record.roundId}</a></td>
            <td>${record.modelId}</td>
            <td>${record.manifest?.mode ?? '—'}</td>
            <td>${record.status}</td>
            <td>
              ${record.status === 'closed' ? `${record.included.length} of ${record.roster.length}` : `— of ${record.roster.length}`}
            </td>
            <td>${record.dropoutCount ?? '—'}</td>
            <td>${time(record.openedAt)}</td>
            <td>${cite(opened)}</td>
          </tr>`,
      )}
    </tbody>`;
}

export interface RoundsQuery extends RoundFilter {
  readonly page: number;
}

/** Parses the rounds page's query string; bad values are ignored, never an error page. */
export function roundsQuery(search: URLSearchParams): RoundsQuery {
  const text = (name: string) => {
    const value = search.get(name)?.trim();
    return value ? value : undefined;
  };
  const date = (name: string, endOfDay: boolean) => {
    const value = text(name);
    if (value === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
    const ms = Date.parse(`${value}T00:00:00Z`);
    return Number.isNaN(ms) ? undefined : ms + (endOfDay ? 86_400_000 : 0);
  };
  const status = text('status');
  const page = Number(search.get('page') ?? '1');
  return {
    ...(text('model') ? { model: text('model')! } : {}),
    ...(text('member') ? { member: text('member')! } : {}),
    ...(status === 'open' || status === 'closed' ? { status } : {}),
    ...(date('from', false) !== undefined ? { from: date('from', false)! } : {}),
    ...(date('to', true) !== undefined ? { to: date('to', true)! } : {}),
    page: Number.isSafeInteger(page) && page >= 1 ? page : 1,
  };
}

export function roundsPage(index: LedgerIndex, search: URLSearchParams): Html {
  const query = roundsQuery(search);
  const all = index.listRounds(query);
  const pages = Math.max(1, Math.ceil(all.length / ROUNDS_PER_PAGE));
  const page = Math.min(query.page, pages);
  const shown = all.slice((page - 1) * ROUNDS_PER_PAGE, page * ROUNDS_PER_PAGE);
  const models = [...new Set([...index.rounds.values()].map((r) => r.record.modelId))].sort();
  const members = [...index.members.keys()].sort();
  const link = (target: number) => {
    const next = new URLSearchParams(search);
    next.set('page', String(target));
    return `/rounds?${next.toString()}`;
  };
  const option = (value: string, selected: string | undefined) =>
    html`<option value="${value}" ${value === selected ? html` selected` : ''}>${value}</option>`;
  return html` <form method="get" action="/rounds" class="filters" aria-label="Filter rounds">
      <label
        >Model
        <select name="model">
          <option value="">any</option>
          ${models.map((m) => option(m, query.model))}
        </select></label
      >
      <label
        >Member
        <select name="member">
          <option value="">any</option>
          ${members.map((m) => option(m, query.member))}
        </select></label
      >
      <label
        >Status
        <select name="status">
          <option value="">any</option>
          ${option('open', query.status)}${option('closed', query.status)}
        </select></label
      >
      <label
        >Opened from <input type="date" name="from" value="${search.get('from') ?? ''}"
      /></label>
      <label>to <input type="date" name="to" value="${search.get('to') ?? ''}" /></label>
      <button type="submit">Filter</button>
    </form>
    <p role="status">${all.length} rounds match; page ${page} of ${pages}.</p>
    ${
      shown.length === 0
        ? html`<p>
            ${index.rounds.size === 0 ? 'No round has been opened on the ledger yet.' : html`No round matches these filters. <a href="/rounds">Show every round</a>.`}
          </p>`
        : html`<table>
            <caption>
              Rounds, newest first
            </caption>
            ${roundRows(shown)}
          </table>`
    }
    <nav aria-label="Pages" class="pager">
      ${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous page</a>` : ''}
      ${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next page</a>` : ''}
    </nav>`;
}

/** A round's page; `decryptions`: its CKKS key's decryption records (none for SecAgg). */
export function roundPage(
  index: LedgerIndex,
  roundId: string,
  decryptions: readonly KeyDecryptionRecord[] = [],
): Html | undefined {
  const entry = index.rounds.get(roundId);
  if (entry === undefined) return undefined;
  const { record, opened, closed, phases, misbehaviour, modelVersions } = entry;
  const manifest = record.manifest ?? null;
  const indexOf = (position: number) => record.roster[position - 1] ?? `#${position}`;
  const phaseRow = (phase: 'advertised' | 'shared' | 'masked', label: string) => {
    const committed = phases[phase];
    return html`<tr>
      <th scope="row">${label}</th>
      <td>${committed ? committed.record.members.map(indexOf).join(', ') : 'not committed'}</td>
      <td>${committed ? cite(committed.at) : '—'}</td>
    </tr>`;
  };
  const dropped =
    record.status === 'closed' ? record.roster.filter((m) => !record.included.includes(m)) : [];
  return html` <section aria-labelledby="manifest">
      <h2 id="manifest">Manifest</h2>
      <dl class="facts">
        <dt>Model</dt>
        <dd>${record.modelId}, round ${record.roundNumber}</dd>
        <dt>Opened</dt>
        <dd>${time(record.openedAt)} (${cite(opened)})</dd>
        <dt>Parameters hash</dt>
        <dd>${hash(record.paramsHash)}</dd>
        ${
          manifest === null
            ? html`<dt>Manifest</dt>
                <dd>none recorded</dd>`
            : html`<dt>Mode</dt>
                <dd>${manifest.mode}</dd>
                <dt>Dimension</dt>
                <dd>${manifest.dimension}</dd>
                <dt>Threat model</dt>
                <dd>
                  ${manifest.adversary ?? 'CKKS (keyholders decrypt only the committed aggregate)'};
                  corruption rate γ = ${manifest.corruptionRate}, dropout rate δ =
                  ${manifest.dropoutRate}
                </dd>
                <dt>Graph degree k / threshold t</dt>
                <dd>${manifest.degree} / ${manifest.threshold}</dd>
                <dt>Minimum contributors</dt>
                <dd>${manifest.minContributors}</dd>
                ${
                  manifest.quantization
                    ? html`<dt>Quantization</dt>
                        <dd>
                          clip ±${manifest.quantization.clipRange},
                          ${manifest.quantization.levelBits}-bit levels, sum modulo
                          2^${manifest.quantization.modulusBits}
                        </dd>`
                    : ''
                }
                <dt>CKKS key</dt>
                <dd>${manifest.ckksKeySha256 ? hash(manifest.ckksKeySha256) : '—'}</dd>`
        }
        <dt>Graph seed</dt>
        <dd>${hash(record.graphSeed ?? null)}</dd>
      </dl>
    </section>
    <section aria-labelledby="roster">
      <h2 id="roster">Roster</h2>
      <table>
        <caption>
          Members, their identity keys and the consent each contributes under
        </caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Member</th>
            <th scope="col">Identity key (Ed25519)</th>
            <th scope="col">Consent</th>
            <th scope="col">Dataset</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          ${record.roster.map((member, i) => {
            const consent = record.consents.find((c) => c.memberId === member);
            const outcome =
              record.status !== 'closed'
                ? 'round open'
                : record.included.includes(member)
                  ? 'included'
                  : 'dropped out';
            return html`<tr>
              <td>${i + 1}</td>
              <td>${member}</td>
              <td>${hash(manifest?.identityKeys[i] ?? null)}</td>
              <td>
                ${consent ? html`<a href="/consents?member=${encodeURIComponent(member)}#${consent.consentId}">${consent.consentId}</a>` : '—'}
              </td>
              <td>${consent?.datasetId ?? '—'}</td>
              <td>${outcome}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </section>
    <section aria-labelledby="phases">
      <h2 id="phases">Committed survivor sets</h2>
      <table>
        <caption>
          U1–U3 as committed on the ledger
        </caption>
        <tbody>
          ${phaseRow('advertised', 'U1: advertised keys')}${phaseRow('shared', 'U2: shared keys')}${phaseRow('masked', 'U3: sent masked input')}
        </tbody>
      </table>
      <p>
        Dropouts:
        ${record.status === 'closed' ? html`${record.dropoutCount} (${dropped.length ? dropped.join(', ') : 'none'})` : 'round still open'}.
      </p>
    </section>
    <section aria-labelledby="misbehaviour">
      <h2 id="misbehaviour">Misbehaviour records</h2>
      ${
        misbehaviour.length === 0
          ? html`<p>None recorded.</p>`
          : html`<table>
              <caption>
                Members named for misbehaviour in this round
              </caption>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Evidence SHA-256</th>
                  <th scope="col">On the ledger</th>
                </tr>
              </thead>
              <tbody>
                ${misbehaviour.map(
                  ({ record: m, at }) =>
                    html`<tr>
                      <td>${m.memberId}</td>
                      <td>${m.reason}</td>
                      <td>${hash(m.evidenceSha256)}</td>
                      <td>${cite(at)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>
    <section aria-labelledby="commitments">
      <h2 id="commitments">Commitments</h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>${record.status}${closed ? html` (${cite(closed)})` : ''}</dd>
        <dt>Closed</dt>
        <dd>${time(record.closedAt)}</dd>
        <dt>Aggregate SHA-256</dt>
        <dd>${hash(record.aggregateHash)}</dd>
        <dt>Merkle root of uploads</dt>
        <dd>${hash(record.uploadsMerkleRoot)}</dd>
        <dt>Participant set commitment</dt>
        <dd>${hash(record.participantSetCommitment)}</dd>
        <dt>Signed upload receipts</dt>
        <dd>${record.receipts?.length ?? 0}</dd>
        <dt>Model versions from this round</dt>
        <dd>
          ${modelVersions.length === 0 ? 'none' : modelVersions.map(({ record: v }) => html`<a href="/lineage?model=${v.modelHash}">${hash(v.modelHash)}</a> `)}
        </dd>
        <dt>Duration</dt>
        <dd>
          ${record.closedAt ? `${((record.closedAt - record.openedAt) / 1000).toFixed(1)} s from RoundOpened to RoundClosed` : '—'}
        </dd>
      </dl>
      ${record.uploadsMerkleRoot ? html`<p><a href="/verify?round=${encodeURIComponent(record.roundId)}">Verify a member's upload against this round's root</a></p>` : ''}
    </section>
    ${manifest?.ckksKeySha256 ? ckksDecryptionsSection(record.roundId, manifest.ckksKeySha256, record.aggregateHash ?? null, decryptions) : ''}`;
}
