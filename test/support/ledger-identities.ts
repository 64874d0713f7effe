import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LedgerWriter, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { createDevPki } from '../../services/pki/dev-ca.ts';

/**
 * Ledger writers for tests of the embedded ledger: a development CA and one certificate per
 * organisation, so that every block is signed by its writer as in a deployment.
 */
export interface LedgerIdentities {
  readonly caPem: string;
  writer(organisation: string): LedgerWriter;
}

export async function ledgerIdentities(organisations: string[]): Promise<LedgerIdentities> {
  const pki = await createDevPki(mkdtempSync(join(tmpdir(), 'veilsum-ledger-pki-')), organisations);
  const writers = new Map(
    organisations.map((id) => {
      const issued = pki.members[id]!;
      return [id, ledgerWriter(issued.certificatePath, issued.privateKeyPath)];
    }),
  );
  return {
    caPem: readFileSync(pki.caCertificatePath, 'utf8'),
    writer(organisation) {
      const writer = writers.get(organisation);
      if (writer === undefined) throw new Error(`no test certificate for ${organisation}`);
      return writer;
    },
  };
}
