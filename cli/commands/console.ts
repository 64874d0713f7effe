import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { z } from 'zod';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { openLedger, parseLedgerOption } from '../../ledger/ledger-factory.ts';
import { ComplianceConsole } from '../../services/console/console-server.ts';
import {
  bundleSha256,
  verifyEvidenceBundle,
  type EvidenceBundle,
} from '../../services/console/evidence-bundle.ts';
import {
  FabricEvidenceBuilder,
  pemCertificates,
  verifyFabricEvidenceBundle,
  type FabricEvidenceBundle,
  type FabricTrust,
} from '../../services/console/fabric-evidence.ts';
import { EmbeddedHistory, FabricHistory } from '../../services/console/ledger-history.ts';
import { checkedPins, trustFromProfile } from '../../ledger/fabric/fabric-trust-profile.ts';

/** What `pki init` writes for the console: its TLS material, the ledger and its reading identity. */
const consoleConfigSchema = z.object({
  listen: z.string().default('127.0.0.1:8443'),
  ledger: z.string().optional(),
  identity: z.string().default('veilsum-auditor'),
  tls: z.object({ caCertificate: z.string(), certificate: z.string(), privateKey: z.string() }),
});

export interface ConsoleStartOptions {
  readonly ledger: string;
  readonly listen: string;
  readonly identity: string;
  readonly caCertificate: string;
  readonly certificate: string;
  readonly privateKey: string;
}

/** Opens the console's own ledger view read-only and starts the console on it. */
export async function startConsole(options: ConsoleStartOptions): Promise<ComplianceConsole> {
  const config = parseLedgerOption(options.ledger, options.identity);
  let console_: ComplianceConsole;
  if ('fabric' in config) {
    const opened = openLedger(config, options.identity, options.identity);
    const fabric = opened.fabric!;
    console_ = new ComplianceConsole({
      listen: options.listen,
      tls: tlsOf(options),
      ledger: opened.ledger,
      history: new FabricHistory(fabric),
      // Blocks from the console's own peer only (as its pages are).
      fabricEvidence: new FabricEvidenceBuilder({
        channel: fabric.channelName,
        chaincode: fabric.chaincodeName,
        height: async () => (await fabric.chainInfo({ ownPeer: true })).height,
        blockBytes: (number) => fabric.blockBytes(number),
      }),
      ledgerDescription: opened.description,
      onError: logError,
    });
  } else {
    if (!existsSync(config.path))
      throw new Error(
        `no ledger file at ${config.path}: check --ledger (the console never creates one)`,
      );
    const database = new EmbeddedLedgerDatabase(config.path, readFileSync(options.caCertificate), {
      // What the console shows and exports as evidence: every signature checked.
      everySignature: true,
    });
    const ledger = new Ledger(database.reader(options.identity));
    console_ = new ComplianceConsole({
      listen: options.listen,
      tls: tlsOf(options),
      ledger,
      history: new EmbeddedHistory(database),
      ledgerDescription: `the embedded ledger ${config.path} (verified), as ${options.identity}`,
      blocks: () => database.verifiedBlocksAfter(0),
      onError: logError,
    });
  }
  const roles = await consoleRoles(console_, options.identity);
  if (!roles.includes('auditor')) {
    await console_.stop();
    throw new Error(
      `the console reads the ledger as ${options.identity}, which does not hold the auditor role (it has ${roles.join(', ') || 'none'}); register it as an auditor or pass --as <auditor identity>`,
    );
  }
  await console_.start();
  return console_;
}

/** What a page could not read, for the operator (the page itself says only that it failed). */
function logError(error: unknown): void {
  console.error(
    `veilsum console: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
}

async function consoleRoles(
  console_: ComplianceConsole,
  identity: string,
): Promise<readonly string[]> {
  try {
    return (await console_.ledgerView.getMember(identity)).roles;
  } catch {
    return [];
  }
}

function tlsOf(options: ConsoleStartOptions) {
  return {
    ca: readFileSync(options.caCertificate),
    certificate: readFileSync(options.certificate),
    privateKey: readFileSync(options.privateKey),
  };
}

export function consoleCommand(): Command {
  return new Command('console')
    .description(
      'Serve the read-only compliance console over HTTPS: rounds, lineage, consents, inclusion proofs checked in the browser, evidence export. Callers need a consortium client certificate whose organisation holds the auditor role',
    )
    .option('--config <path>', 'console config written by pki init (console.json)')
    .option('--ledger <ledger>', 'the ledger file, or fabric:<connection file>[@<peer>]')
    .option('--listen <host:port>', 'address to serve on (default 127.0.0.1:8443)')
    .option('--as <identity>', 'identity the console reads the ledger as (needs the auditor role)')
    .option('--ca <path>', 'consortium CA bundle (callers must present a certificate it issued)')
    .option('--cert <path>', "the console's TLS server certificate")
    .option('--key <path>', "the console's TLS private key")
    .action(async (options) => {
      const file = options.config
        ? consoleConfigSchema.parse(JSON.parse(readFileSync(options.config, 'utf8')))
        : undefined;
      const base = options.config ? dirname(resolve(options.config)) : process.cwd();
      const path = (value: string | undefined, name: string) => {
        if (value === undefined) throw new Error(`give ${name} (or --config <console.json>)`);
        return resolve(base, value);
      };
      const ledger = options.ledger ?? file?.ledger;
      if (ledger === undefined) throw new Error('give --ledger <file | fabric:connection.json>');
      const running = await startConsole({
        ledger: ledger.startsWith('fabric:') ? ledger : path(ledger, '--ledger'),
        listen: options.listen ?? file?.listen ?? '127.0.0.1:8443',
        identity: options.as ?? file?.identity ?? 'veilsum-auditor',
        caCertificate: options.ca ? resolve(options.ca) : path(file?.tls.caCertificate, '--ca'),
        certificate: options.cert ? resolve(options.cert) : path(file?.tls.certificate, '--cert'),
        privateKey: options.key ? resolve(options.key) : path(file?.tls.privateKey, '--key'),
      });
      console.log(`compliance console: https://127.0.0.1:${running.port}/ (Ctrl-C stops it)`);
      const stop = () => void running.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--bank BankAMSP=banka-ca.pem` (repeated): MSP id → the CA certificates in the file. */
function pinnedMsps(values: readonly string[], flag: string): Record<string, X509Certificate[]> {
  const pinned: Record<string, X509Certificate[]> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0)
      throw new Error(`${flag} takes <MSP id>=<CA certificate file>, e.g. ${flag} BankAMSP=ca.pem`);
    const mspId = value.slice(0, at);
    const certificates = pemCertificates(readFileSync(value.slice(at + 1), 'utf8'));
    if (certificates.length === 0)
      throw new Error(`${flag} ${value}: no PEM certificate in the file`);
    pinned[mspId] = [...(pinned[mspId] ?? []), ...certificates];
  }
  return pinned;
}

/** What `verify-bundle` pins for a Fabric bundle: the trust profile, or the pins given one by one. */
function fabricTrustOf(options: {
  profile?: string;
  channel?: string;
  chaincode?: string;
  genesis?: string;
  orderer: string[];
  bank: string[];
  trust: string[];
}): FabricTrust {
  const pinFlags = [
    ['--channel', options.channel !== undefined],
    ['--chaincode', options.chaincode !== undefined],
    ['--genesis', options.genesis !== undefined],
    ['--orderer', options.orderer.length > 0],
    ['--bank', options.bank.length > 0],
    ['--trust', options.trust.length > 0],
  ].flatMap(([flag, given]) => (given ? [flag as string] : []));
  if (options.profile !== undefined) {
    if (pinFlags.length > 0)
      throw new Error(
        `give either --profile or the pins (${pinFlags.join(', ')}), not both: two sources of trust that might disagree`,
      );
    return trustFromProfile(readFileSync(options.profile, 'utf8'), options.profile);
  }
  if (options.orderer.length === 0 || options.bank.length === 0)
    throw new Error(
      "a Fabric bundle needs --profile <the consortium's trust profile>, or --orderer <MSP>=<CA file> and --bank <MSP>=<CA file> for each organisation (and --trust for the channel's other members): the CAs it carries are the bundle maker's word, not yours",
    );
  if (options.channel === undefined)
    throw new Error('a Fabric bundle needs --channel <the channel it must come from>');
  return checkedPins(
    {
      channel: options.channel,
      chaincode: options.chaincode ?? 'veilsum',
      ...(options.genesis !== undefined ? { genesis: options.genesis } : {}),
      orderers: pinnedMsps(options.orderer, '--orderer'),
      banks: pinnedMsps(options.bank, '--bank'),
      others: pinnedMsps(options.trust, '--trust'),
    },
    'the pins given (--orderer, --bank, --trust)',
  );
}

/** `veilsum audit verify-bundle`: checks an exported evidence bundle offline. */
export function verifyBundleCommand() {
  return new Command('verify-bundle')
    .description(
      "Check an evidence bundle exported from the console, offline. Embedded ledger (--ca): block hashes, writer signatures against the consortium CA, the chain of links to the head. Fabric (--channel, --orderer, --bank, --trust): every envelope of the pinned channel, block data hashes and header links from the genesis block to an orderer-signed head, each block's orderer signature from an MSP you name as orderer, every MSP's root CAs in the channel config exactly the ones you pin for that MSP id, each transaction's creator and endorsements (a majority of the banks you pin) not revoked. Both: the lineage records (the model version's round and its consents) against what the blocks wrote, and the inclusion proofs",
    )
    .argument('<bundle>', 'the JSON bundle')
    .option('--ca <path>', 'the consortium CA certificate (embedded-ledger bundles)')
    .option(
      '--profile <file>',
      "Fabric bundles: the consortium's trust profile (veilsum-fabric-trust/1: channel, chaincode, genesis hash and each organisation's CA certificates by role; the Fabric network's bring-up writes it as trust-profile.json). Instead of --channel, --chaincode, --genesis, --orderer, --bank and --trust",
    )
    .option('--channel <name>', 'Fabric bundles: the channel the evidence must come from')
    .option(
      '--chaincode <name>',
      'Fabric bundles: the chaincode whose writes count (default veilsum)',
    )
    .option(
      '--genesis <sha256>',
      "Fabric bundles: the channel's genesis block hash (block 0's header hash), checked if given",
    )
    .option(
      '--orderer <msp=pem>',
      'Fabric bundles, repeatable: an ordering organisation and its CA certificate(s), e.g. OrdererMSP=orderer-ca.pem; only these sign blocks',
      collect,
      [] as string[],
    )
    .option(
      '--bank <msp=pem>',
      'Fabric bundles, repeatable: a bank and its CA certificate(s), e.g. BankAMSP=banka-ca.pem; a majority of these must endorse every transaction',
      collect,
      [] as string[],
    )
    .option(
      '--trust <msp=pem>',
      "Fabric bundles, repeatable: another member of the channel (the coordinator's, the auditor's organisation) and its CA certificate(s). Every MSP of the channel's config must be pinned with --orderer, --bank or --trust",
      collect,
      [] as string[],
    )
    .option('--json', 'print JSON')
    .action((bundlePath, options) => {
      const bundle = JSON.parse(readFileSync(bundlePath, 'utf8')) as
        EvidenceBundle | FabricEvidenceBundle;
      try {
        let summary: { blocks: number; head: number; rounds: number; proofs: number };
        let signedBlocks: number;
        if (bundle.format === 'veilsum-fabric-evidence/1') {
          const fabricSummary = verifyFabricEvidenceBundle(bundle, fabricTrustOf(options));
          summary = fabricSummary;
          signedBlocks = fabricSummary.signedBlocks;
        } else {
          if (options.ca === undefined) throw new Error('this bundle needs --ca <consortium CA>');
          summary = verifyEvidenceBundle(bundle, readFileSync(options.ca));
          signedBlocks = summary.blocks;
        }
        // The model version as the verified records name it: the lineage ends with it (earlier
        // versions come first; checkLineage ties the last one to the bundle's).
        const modelHash = bundle.lineage.at(-1)!.modelVersion.modelHash;
        const result = { ok: true, sha256: bundleSha256(bundle), modelHash, ...summary };
        console.log(
          options.json
            ? JSON.stringify(result)
            : `evidence bundle verified: model version ${modelHash}, ${summary.rounds} rounds, ${signedBlocks} signed blocks, chain of ${summary.head} blocks to its head, ${summary.proofs} inclusion proofs (bundle SHA-256 ${result.sha256})`,
        );
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (options.json) console.log(JSON.stringify({ ok: false, reason }));
        else console.error(`evidence bundle NOT verified: ${reason}`);
        process.exitCode = 1;
      }
    });
}

/** Writes the console config `pki init` hands an auditor's bank. */
export function writeConsoleConfig(
  path: string,
  config: z.input<typeof consoleConfigSchema>,
): void {
  writeFileSync(path, JSON.stringify(consoleConfigSchema.parse(config), null, 2) + '\n');
}
