import PDFDocument from 'pdfkit';
import type { EvidenceBundle } from './evidence-bundle.ts';
import { bundleSha256 } from './evidence-bundle.ts';
import type { FabricEvidenceBundle } from './fabric-evidence.ts';

const iso = (ms: number | null): string =>
  ms === null || !Number.isFinite(ms) || Number.isNaN(new Date(ms).getTime())
    ? '—'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');

/**
 * The bundle as a report a regulator reads: which banks, datasets and consents fed the model
 * version, through which rounds, with which commitments, when. Dated by the ledger's head (not the
 * clock), so the same ledger gives the same PDF bytes; the bundle's SHA-256 ties the two together.
 */
export function evidenceReportPdf(bundle: EvidenceBundle | FabricEvidenceBundle): Promise<Buffer> {
  const last = bundle.lineage.at(-1);
  const fabric = bundle.format === 'veilsum-fabric-evidence/1';
  // Fabric blocks carry no time: the latest time the lineage's records hold (the ledger's own).
  const headTime = fabric
    ? bundle.lineage.reduce(
        (latest, { modelVersion, round }) =>
          Math.max(latest, modelVersion.recordedAt, round.closedAt ?? 0),
        0,
      )
    : bundle.blocks.reduce((latest, block) => Math.max(latest, block.timestamp), 0);
  const document = new PDFDocument({
    size: 'A4',
    margin: 56,
    info: {
      Title: `veilsum evidence for model version ${bundle.modelHash}`,
      Author: 'veilsum compliance console',
      CreationDate: new Date(headTime),
      ModDate: new Date(headTime),
    },
  });
  const chunks: Buffer[] = [];
  document.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve) =>
    document.on('end', () => resolve(Buffer.concat(chunks))),
  );

  document.fontSize(18).text('Evidence report: model lineage and consent');
  document.moveDown(0.5).fontSize(10);
  document.text(`Model: ${last?.modelVersion.modelId ?? '—'}`);
  document.text(`Model version (SHA-256): ${bundle.modelHash}`);
  document.text(`Ledger head: block ${bundle.head.number}, hash ${bundle.head.hash}`);
  document.text(`Evidence bundle SHA-256: ${bundleSha256(bundle)}`);
  document.text(
    fabric
      ? `This report summarises the evidence bundle with the same SHA-256, from the Fabric channel ${bundle.channel}. Check the bundle with "veilsum audit verify-bundle <file> --channel ${bundle.channel} --chaincode <chaincode> --orderer <MSP>=<CA file> --bank <MSP>=<CA file> (each bank) --trust <MSP>=<CA file> (each other member)", pinning each organisation's CA certificate as you know it: it recomputes every block hash and the chain's links from the genesis block to the orderer-signed head, checks that the channel's configuration names exactly those CAs for each organisation, and checks the orderer's signature on each block and each transaction's creator and endorsers (a majority of the banks) against them.`
      : `This report summarises the evidence bundle with the same SHA-256. Check the bundle with "veilsum audit verify-bundle <file> --ca <consortium CA>": it recomputes every block hash, checks each writer's signature against the consortium CA and the chain's links up to the head.`,
  );
  for (const { modelVersion, round, contributions } of bundle.lineage) {
    document.moveDown(1).fontSize(13).text(`Round ${round.roundId}`);
    document.fontSize(10);
    document.text(
      `Opened ${iso(round.openedAt)}, closed ${iso(round.closedAt)}; mode ${round.manifest?.mode ?? '—'}`,
    );
    document.text(`Members on the roster: ${round.roster.join(', ')}`);
    document.text(
      `Included: ${round.included.join(', ')} (${round.dropoutCount ?? 0} dropped out)`,
    );
    document.text(`Aggregate SHA-256: ${round.aggregateHash ?? '—'}`);
    document.text(`Merkle root of uploads: ${round.uploadsMerkleRoot ?? '—'}`);
    document.text(
      `Produced model version ${modelVersion.modelHash}, recorded ${iso(modelVersion.recordedAt)}`,
    );
    document
      .moveDown(0.3)
      .text('Contributions (bank, dataset, consent, granted, expires, revoked):');
    for (const { memberId, consent } of contributions)
      document.text(
        `  ${memberId}: dataset ${consent.datasetId}, consent ${consent.consentId} for "${consent.purpose}", granted ${iso(consent.grantedAt)}, expires ${iso(consent.expiresAt)}, ${consent.revokedAt === null ? 'not revoked' : `revoked ${iso(consent.revokedAt)}`}`,
      );
  }
  document.end();
  return done;
}
