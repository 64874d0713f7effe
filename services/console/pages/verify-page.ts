import { merkleProof, merkleRoot } from '../../../crypto/merkle.ts';
import type { RoundRecord } from '../../../ledger/records.ts';
import type { LedgerIndex } from '../ledger-index.ts';
import { cite, hash, html, type Html } from '../html.ts';

/** An inclusion proof as `veilsum audit prove-inclusion --json` prints it (hex strings). */
export interface InclusionProofJson {
  readonly round: string;
  readonly member: string;
  readonly uploadSha256: string;
  readonly path: readonly { readonly sibling: string; readonly siblingOnLeft: boolean }[];
}

/**
 * The proof for `member`'s upload, built from the round's signed upload receipts when the
 * ledger holds them (CKKS rounds) and only if their tree gives the root the ledger recorded:
 * otherwise nothing (the member fetches its proof with `veilsum audit prove-inclusion`).
 */
export function proofFromReceipts(
  round: RoundRecord,
  member: string,
): InclusionProofJson | undefined {
  const receipts = round.receipts ?? [];
  const position = receipts.findIndex((receipt) => receipt.memberId === member);
  if (position < 0 || round.uploadsMerkleRoot === null) return undefined;
  const leaves = receipts.map(
    (receipt) => new Uint8Array(Buffer.from(receipt.uploadSha256, 'hex')),
  );
  if (Buffer.from(merkleRoot(leaves)).toString('hex') !== round.uploadsMerkleRoot) return undefined;
  return {
    round: round.roundId,
    member,
    uploadSha256: receipts[position]!.uploadSha256,
    path: merkleProof(leaves, position).map((step) => ({
      sibling: Buffer.from(step.sibling).toString('hex'),
      siblingOnLeft: step.siblingOnLeft,
    })),
  };
}

export function verifyPage(index: LedgerIndex, search: URLSearchParams): Html {
  const closed = index.listRounds({ status: 'closed' }).filter((r) => r.record.uploadsMerkleRoot);
  const roundId = search.get('round') ?? '';
  const member = search.get('member') ?? '';
  const entry = index.rounds.get(roundId);
  const proof = entry && member ? proofFromReceipts(entry.record, member) : undefined;
  if (closed.length === 0)
    return html`<p>
      No round has closed with a Merkle root of its uploads yet: there is nothing to verify an
      upload against. Rounds appear here once they close.
    </p>`;
  return html` <p>
      A bank's upload is committed to a round by a Merkle tree whose root is written on the ledger
      when the round closes. Your browser checks the proof itself: it hashes the upload's
      fingerprint up the tree with the proof's steps and compares the result with the root read from
      the ledger. Nothing is sent back to the server.
    </p>
    <form method="get" action="/verify" class="filters" aria-label="Choose a round and member">
      <label
        >Round
        <select name="round">
          ${closed.map(({ record }) => html`<option value="${record.roundId}" ${record.roundId === roundId ? html` selected` : ''}>${record.roundId}</option>`)}
        </select></label
      >
      <label
        >Member
        <select name="member">
          <option value="">paste a proof below</option>
          ${(entry?.record.included ?? []).map((m) => html`<option value="${m}" ${m === member ? html` selected` : ''}>${m}</option>`)}
        </select></label
      >
      <button type="submit">Load</button>
    </form>
    ${
      entry === undefined || !entry.record.uploadsMerkleRoot
        ? html`<p>
            ${roundId && entry === undefined ? html`The ledger has no round ${roundId}. ` : ''}
            ${entry !== undefined ? html`Round ${roundId} has not closed with a Merkle root of its uploads. ` : ''}
            Choose a closed round.
          </p>`
        : html`<dl class="facts">
              <dt>Round</dt>
              <dd>
                <a href="/rounds/${encodeURIComponent(entry.record.roundId)}"
                  >${entry.record.roundId}</a
                >
              </dd>
              <dt>Merkle root on the ledger</dt>
              <dd>
                <code id="ledger-root" data-root="${entry.record.uploadsMerkleRoot ?? ''}"
                  >${entry.record.uploadsMerkleRoot ?? ''}</code
                >
                ${entry.closed ? cite(entry.closed) : ''}
              </dd>
            </dl>
            ${member && proof === undefined ? html`<p>The ledger holds no signed receipts for this round, so the console cannot build ${member}'s proof: ask the bank for it (<code>veilsum audit prove-inclusion --json</code>) and paste it below.</p>` : ''}
            <form id="verify-form" aria-label="Inclusion proof">
              <label for="proof">Inclusion proof (JSON)</label>
              <textarea id="proof" name="proof" rows="10" cols="100" spellcheck="false">
${proof ? JSON.stringify(proof, null, 2) : ''}</textarea>
              <button type="submit">Verify in this browser</button>
            </form>
            <div id="verify-result" role="status" aria-live="polite"></div>
            <p>
              Upload fingerprint in the proof: ${proof ? hash(proof.uploadSha256) : 'as pasted'}.
            </p>`
    }`;
}
