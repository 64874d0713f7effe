import type { Lineage } from '../../../ledger/records.ts';
import type { LedgerIndex } from '../ledger-index.ts';
import { cite, hash, html, time, type Html } from '../html.ts';

export interface GraphNode {
  readonly id: string;
  readonly label: string;
  readonly kind: 'version' | 'round' | 'member' | 'dataset' | 'consent';
  readonly href: string;
  readonly x: number;
  readonly y: number;
}
export interface LineageGraph {
  readonly nodes: GraphNode[];
  /**
   * `round` marks a round → member edge (a contribution) with its round's node: the browser
   * draws the chosen version's at once and earlier versions' on request (100 versions of 100
   * banks are 10 000 of them).
   */
  readonly edges: { readonly source: string; readonly target: string; readonly round?: string }[];
  /** The chosen (last) version's round node. */
  readonly focus: string | null;
}

const COLUMN = { version: 0, round: 1, member: 2, dataset: 3, consent: 4 } as const;

/**
 * Model versions → rounds → members → datasets → consents, laid out in five columns (positions
 * computed here, so the browser draws without a layout pass: a 100-version graph stays fast).
 */
export function lineageGraph(lineages: readonly Lineage[]): LineageGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, { source: string; target: string; round?: string }>();
  const rows = { version: 0, round: 0, member: 0, dataset: 0, consent: 0 };
  const node = (kind: GraphNode['kind'], key: string, label: string, href: string) => {
    const id = `${kind}:${key}`;
    if (!nodes.has(id))
      nodes.set(id, { id, label, kind, href, x: COLUMN[kind] * 260, y: rows[kind]++ * 60 });
    return id;
  };
  const edge = (source: string, target: string, round?: string) =>
    edges.set(`${source}>${target}`, { source, target, ...(round ? { round } : {}) });
  let previous: string | undefined;
  let focus: string | null = null;
  for (const { modelVersion, round, contributions } of lineages) {
    const version = node(
      'version',
      modelVersion.modelHash,
      `model ${modelVersion.modelHash.slice(0, 10)}…`,
      `/lineage?model=${modelVersion.modelHash}`,
    );
    if (previous !== undefined) edge(previous, version);
    previous = version;
    const roundNode = node(
      'round',
      round.roundId,
      round.roundId,
      `/rounds/${encodeURIComponent(round.roundId)}`,
    );
    edge(version, roundNode);
    focus = roundNode;
    for (const { memberId, consent } of contributions) {
      const member = node(
        'member',
        memberId,
        memberId,
        `/consents?member=${encodeURIComponent(memberId)}`,
      );
      const dataset = node(
        'dataset',
        `${memberId}/${consent.datasetId}`,
        consent.datasetId,
        `/consents?member=${encodeURIComponent(memberId)}`,
      );
      const consentNode = node(
        'consent',
        consent.consentId,
        consent.consentId,
        `/consents?member=${encodeURIComponent(memberId)}#${consent.consentId}`,
      );
      edge(roundNode, member, roundNode);
      edge(member, dataset);
      edge(dataset, consentNode);
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()], focus };
}

/** The lineages of every version of the model up to `modelHash`, through the contract. */
export async function lineagesUpTo(
  index: LedgerIndex,
  modelHash: string,
  lineage: (hash: string) => Promise<Lineage>,
): Promise<Lineage[]> {
  const out: Lineage[] = [];
  for (const version of index.versionsUpTo(modelHash))
    out.push(await lineage(version.record.modelHash));
  return out;
}

export function lineagePage(
  index: LedgerIndex,
  modelHash: string | null,
  lineages: readonly Lineage[],
): Html {
  const versions = [...index.modelVersions.values()].sort((a, b) => b.at.block - a.at.block);
  const picker = html`<form
    method="get"
    action="/lineage"
    class="filters"
    aria-label="Choose a model version"
  >
    <label
      >Model version
      <select name="model">
        ${versions.map(({ record }) => html`<option value="${record.modelHash}" ${record.modelHash === modelHash ? html` selected` : ''}>${record.modelId} from ${record.roundId} (${record.modelHash.slice(0, 12)}…)</option>`)}
      </select></label
    >
    <button type="submit">Show lineage</button>
  </form>`;
  if (versions.length === 0)
    return html`<p>No model version has been recorded on the ledger yet.</p>`;
  if (modelHash === null || lineages.length === 0) return picker;
  const target = lineages.at(-1)!;
  return html`${picker}
    <p>
      Model version ${hash(target.modelVersion.modelHash)} of
      <strong>${target.modelVersion.modelId}</strong>, recorded
      ${time(target.modelVersion.recordedAt)}
      (${cite(index.modelVersions.get(target.modelVersion.modelHash)?.at)}), comes from
      ${lineages.length} round${lineages.length === 1 ? '' : 's'}. The graph links the banks to this
      version's round; point at an earlier round (or use the button) to draw its contributions too.
      Drag to pan, scroll or use the buttons to zoom, click a node to open it.
    </p>
    <div class="graph-tools">
      <button type="button" id="zoom-in">Zoom in</button>
      <button type="button" id="zoom-out">Zoom out</button>
      <button type="button" id="zoom-fit">Fit</button>
      ${lineages.length > 1 ? html`<button type="button" id="all-contributions" aria-pressed="false">Draw earlier versions' contributions</button>` : ''}
    </div>
    <div
      id="lineage-graph"
      role="img"
      aria-label="Lineage graph: model versions, rounds, members, datasets and consents"
      data-model="${target.modelVersion.modelHash}"
    ></div>
    <p id="lineage-status" role="status"></p>
    <h2>Contributions to this version</h2>
    <table>
      <caption>
        Which banks, datasets and consents fed ${target.modelVersion.modelHash.slice(0, 12)}…
        (${target.round.roundId}); earlier versions are in the graph and listed below
      </caption>
      <thead>
        <tr>
          <th scope="col">Member</th>
          <th scope="col">Dataset</th>
          <th scope="col">Consent</th>
          <th scope="col">Consent state</th>
        </tr>
      </thead>
      <tbody>
        ${target.contributions.map(
          ({ memberId, consent }) =>
            html`<tr>
              <td>${memberId}</td>
              <td>${consent.datasetId}</td>
              <td>
                <a href="/consents?member=${encodeURIComponent(memberId)}#${consent.consentId}"
                  >${consent.consentId}</a
                >
              </td>
              <td>
                ${consent.revokedAt === null ? 'not revoked' : html`revoked ${time(consent.revokedAt)}`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Earlier versions of ${target.modelVersion.modelId}</h2>
    <ul>
      ${lineages
        .slice(0, -1)
        .reverse()
        .map(
          ({ modelVersion, round }) =>
            html`<li>
              <a href="/lineage?model=${modelVersion.modelHash}">${hash(modelVersion.modelHash)}</a>
              from <a href="/rounds/${encodeURIComponent(round.roundId)}">${round.roundId}</a>
              (${round.included.length} contributions)
            </li>`,
        )}
    </ul>`;
}
