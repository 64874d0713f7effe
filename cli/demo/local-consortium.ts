import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContractError } from '../../ledger/contract.ts';
import { openLedger, type LedgerConfig } from '../../ledger/ledger-factory.ts';
import type { CoordinatorConfig } from '../../services/coordinator/config.ts';
import type { KeyholderConfig } from '../../services/keyholder/config.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';
import type { ConnectOptions } from '../../sdk/veilsum-client.ts';
import { type LedgerWriter, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';

export const ADMIN = 'veilsum-admin';
/** The compliance officers' identity (auditor role) and the console's server certificate. */
export const AUDITOR = 'veilsum-auditor';
export const CONSOLE = 'veilsum-console';

/**
 * A consortium on one machine (127.0.0.1), for the demo, the benchmarks and the tests: a
 * development PKI, the coordinator's config, each keyholder's config and sealing passphrase
 * (mode 600), and a connection profile per identity. Ports are chosen at start (listen :0).
 */
export interface LocalConsortium {
  readonly directory: string;
  readonly pki: DevPki;
  readonly members: string[];
  readonly keyholders: string[];
  readonly coordinatorConfig: CoordinatorConfig;
  profile(identity: string, port: number): ConnectOptions;
  keyholderConfig(keyholder: string): KeyholderConfig;
  /** Signs ledger blocks as `identity` (a member, the admin, a keyholder or veilsum-coordinator). */
  ledgerWriter(identity: string): LedgerWriter;
  /**
   * Registers the keyholders on the ledger with the keyholder role (as the coordinator, which
   * bootstraps an empty ledger), so that they can attest the key their ceremony makes.
   */
  registerKeyholders(): Promise<void>;
}

export async function createLocalConsortium(options: {
  directory: string;
  members: string[];
  keyholders?: string[];
  extraIdentities?: string[];
  ledgerPath?: string;
  /** The ledger each identity uses (e.g. its Fabric identity); default: the embedded file. */
  ledgerFor?: (identity: string) => LedgerConfig;
  maskThreads?: number;
  /**
   * The keyholders' δ (config ckksDropoutRate, default 0.05): they decrypt only rounds whose min
   * contributors reach max(2, ⌈(1 − δ)·n⌉). A small demo consortium that expects dropouts sets it.
   */
  keyholderDropoutRate?: number;
}): Promise<LocalConsortium> {
  const { directory, members } = options;
  const keyholders = options.keyholders ?? [];
  const pki = await createDevPki(
    join(directory, 'pki'),
    [...members, ADMIN, ...(options.extraIdentities ?? [])],
    keyholders,
    undefined,
    { servers: [CONSOLE], officers: [AUDITOR] },
  );
  const tls = (identity: { certificatePath: string; privateKeyPath: string }) => ({
    caCertificate: pki.caCertificatePath,
    certificate: identity.certificatePath,
    privateKey: identity.privateKeyPath,
  });
  const coordinatorConfig: CoordinatorConfig = {
    listen: '127.0.0.1:0',
    dataDir: join(directory, 'coordinator-data'),
    tls: tls(pki.server),
    members: members.map((id) => ({ id, certificate: pki.members[id]!.certificatePath })),
    admins: [ADMIN],
    auditors: [AUDITOR],
    identityCertificates: [{ id: ADMIN, certificate: pki.members[ADMIN]!.certificatePath }],
    logLevel: 'info',
    maskThreads: options.maskThreads ?? 1,
    ...(options.ledgerFor
      ? { ledger: options.ledgerFor('veilsum-coordinator') }
      : options.ledgerPath
        ? { ledger: { path: options.ledgerPath, identity: 'veilsum-coordinator' } }
        : {}),
  };
  const registerKeyholders = async () => {
    if (coordinatorConfig.ledger === undefined) throw new Error('keyholders need the ledger');
    const opened = openLedger(
      coordinatorConfig.ledger,
      'veilsum-coordinator',
      undefined,
      coordinatorConfig.tls,
    );
    try {
      const roles = async (id: string) => {
        try {
          return (await opened.ledger.getMember(id)).roles;
        } catch (error) {
          if (error instanceof ContractError && error.kind === 'not-found') return undefined;
          throw error;
        }
      };
      if ((await roles(opened.memberId)) === undefined)
        await opened.ledger.registerMember(opened.memberId, ['coordinator']);
      for (const id of keyholders) {
        const held = await roles(id);
        if (held === undefined || !held.includes('keyholder'))
          await opened.ledger.registerMember(id, [...(held ?? []), 'keyholder']);
      }
    } finally {
      opened.close();
    }
  };
  return {
    directory,
    pki,
    members,
    keyholders,
    coordinatorConfig,
    registerKeyholders,
    profile: (identity, port) => {
      const issued = pki.members[identity] ?? pki.keyholders[identity];
      if (issued === undefined) throw new Error(`no certificate for ${identity}`);
      // Members pin the consortium's keyholders, as `pki init` writes into their profiles, and
      // its member list (rosters may list only these, each once).
      const pinned = members.includes(identity) && keyholders.length > 0;
      return {
        address: `127.0.0.1:${port}`,
        ...tls(issued),
        consortiumMembers: [...members],
        ...(pinned ? { threatModel: { pinnedKeyholders: [...keyholders] } } : {}),
      };
    },
    ledgerWriter: (identity) => {
      const issued =
        identity === 'veilsum-coordinator'
          ? pki.server
          : (pki.members[identity] ?? pki.keyholders[identity]);
      if (issued === undefined) throw new Error(`no certificate for ${identity}`);
      return ledgerWriter(issued.certificatePath, issued.privateKeyPath);
    },
    keyholderConfig: (keyholder) => {
      const passphraseFile = join(directory, `passphrase-${keyholder}`);
      writeFileSync(passphraseFile, `dev passphrase of ${keyholder}\n`, { mode: 0o600 });
      const ledger = options.ledgerFor
        ? options.ledgerFor(keyholder)
        : options.ledgerPath
          ? { path: options.ledgerPath }
          : undefined;
      if (ledger === undefined) throw new Error('keyholders need the ledger');
      return {
        listen: '127.0.0.1:0',
        dataDir: join(directory, `keyholder-${keyholder}`),
        tls: tls(pki.keyholders[keyholder]!),
        passphraseFile,
        admins: [ADMIN],
        coordinators: ['veilsum-coordinator'],
        identityCertificates: [
          { id: ADMIN, certificate: pki.members[ADMIN]!.certificatePath },
          { id: 'veilsum-coordinator', certificate: pki.server.certificatePath },
        ],
        ledger,
        precision: 5e-5,
        keyLifeRounds: 1000,
        ckksDropoutRate: options.keyholderDropoutRate ?? 0.05,
        logLevel: 'info',
      };
    },
  };
}
