import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { verifyMerkleProof } from '../../crypto/merkle.ts';
import { BlockSignatureVerifier } from '../../ledger/embedded/block-signature.ts';
import { certificatesOf } from '../../crypto/certificate-bundle.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import {
  checkpointBeside,
  describeHead,
  readAnchor,
  signHead,
  writeHeadFile,
} from '../../ledger/embedded/ledger-head.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import {
  type EmbeddedAccess,
  openLedger,
  parseLedgerOption,
  type OpenLedger,
} from '../../ledger/ledger-factory.ts';
import { MAX_CONSENT_MS } from '../../ledger/contract.ts';
import type { Lineage } from '../../ledger/records.ts';
import { loadProfile } from '../../sdk/profile.ts';
import { CONSENT_COLUMNS, consentRow, consentState, csvField, when } from './ledger-format.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';

/**
 * `veilsum consent …` (members) and `veilsum audit …` (compliance officers) against the embedded
 * ledger file or a Fabric network (`--ledger fabric:<connection file>`). On the embedded ledger a
 * member writes with its profile (`--profile`): its certificate names it and its key signs the
 * block; readers give the consortium CA (`--ca`) and every open verifies the file against it (a
 * tampered ledger is refused, naming the first bad block or row). On Fabric `--as` names a
 * client identity of the connection file and the certificate proves it.
 */
const MAX_CONSENT_DAYS = MAX_CONSENT_MS / 86_400_000;

const days = (value: string): number => {
  const parsed = Number(value);
  if (!(parsed > 0)) throw new InvalidArgumentError('expected a positive number of days');
  if (parsed > MAX_CONSENT_DAYS)
    throw new InvalidArgumentError(
      `a consent lasts at most ${MAX_CONSENT_DAYS} days (ten years); grant a new one when it ends`,
    );
  return parsed;
};

const count = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError('expected a positive whole number');
  return parsed;
};

/** The embedded ledger's event checkpoint: the last block whose events were printed. */
function readCheckpoint(path: string): number {
  if (!existsSync(path)) return 0;
  return (JSON.parse(readFileSync(path, 'utf8')) as { block: number }).block;
}

const LEDGER_HELP =
  'the ledger: an embedded ledger file, or fabric:<connection file>[@<peer>] for a Fabric network';

const IDENTITY_ISSUER_HELP =
  "embedded ledger: the CA(s) that issue writers' certificates, when --ca is a bundle of several";

/**
 * The CAs whose certificates may write blocks as a consortium organisation: `--identity-issuer`
 * when given, otherwise `--ca`'s only CA. A `--ca` bundle of several CAs without
 * `--identity-issuer` is refused: any CA of a TLS trust bundle could otherwise sign blocks as any
 * organisation (crypto/certificate-bundle.ts identityIssuersOf, the same rule services apply).
 */
function blockIssuers(options: { ca: string; identityIssuer?: string | undefined }): string {
  const issuers = certificatesOf(readFileSync(options.identityIssuer ?? options.ca));
  if (issuers.length === 0)
    throw new Error(`${options.identityIssuer ?? options.ca} holds no PEM certificate`);
  if (options.identityIssuer === undefined && issuers.length > 1)
    throw new Error(
      `--ca ${options.ca} holds ${issuers.length} CAs: name the one(s) that issue the consortium's writers with --identity-issuer <file>, or give --ca the consortium CA alone`,
    );
  return issuers.map((ca) => ca.toString()).join('');
}

/** How a command reaches the embedded ledger: a member profile to write, or the CA to read. */
function embeddedAccess(options: {
  profile?: string;
  ca?: string | undefined;
  identityIssuer?: string | undefined;
}): EmbeddedAccess | undefined {
  if (options.profile !== undefined) {
    const profile = loadProfile(options.profile);
    return {
      caCertificate: profile.caCertificate,
      certificate: profile.certificate,
      privateKey: profile.privateKey,
      checkpoint: checkpointBeside(options.profile),
    };
  }
  if (options.ca === undefined) return undefined;
  blockIssuers({ ca: options.ca, identityIssuer: options.identityIssuer });
  return { caCertificate: options.ca, identityIssuer: options.identityIssuer };
}

/** Opens `--ledger`: on Fabric as `--as`; the embedded file verified with `access`. */
function openLedgerFor(
  ledgerOption: string,
  identity: string | undefined,
  access: EmbeddedAccess | undefined,
): OpenLedger {
  const fabric = ledgerOption.startsWith('fabric:');
  if (fabric && identity === undefined)
    throw new Error('on Fabric, --as names the client identity of the connection file');
  if (!fabric && access === undefined)
    throw new Error(
      'the embedded ledger is verified against the consortium CA: give --ca <ca.crt> to read, or --profile <member profile> to write',
    );
  return openLedger(
    parseLedgerOption(ledgerOption, identity ?? ''),
    identity ?? '',
    identity,
    access,
  );
}

async function withLedger<T>(
  ledgerOption: string,
  identity: string | undefined,
  access: EmbeddedAccess | undefined,
  work: (ledger: Ledger, opened: OpenLedger) => Promise<T>,
): Promise<T> {
  const opened = openLedgerFor(ledgerOption, identity, access);
  try {
    return await work(opened.ledger, opened);
  } finally {
    opened.close();
  }
}

export function consentCommand(): Command {
  const consent = new Command('consent').description(
    "Grant and revoke a member's data-use consents (list them with `veilsum audit consents` or `audit consent-history`)",
  );
  consent
    .command('grant')
    .description(
      'Record on the ledger, as a member, its consent that a dataset may train a model: rounds of that model open with the member on their roster only while a consent is in force',
    )
    .requiredOption('--ledger <ledger>', `${LEDGER_HELP} (e.g. .veilsum/ledger.db)`)
    .option(
      '--as <member>',
      'Fabric: the client identity in the connection file that grants, i.e. the member (e.g. --as eastlake)',
    )
    .option(
      '--profile <path>',
      "embedded ledger: the granting member's profile from `pki init`; its key signs the block (e.g. .veilsum/profile-bank-a.json)",
    )
    .requiredOption(
      '--consent <id>',
      'a new id for this consent, unique on the ledger; revoke names it (e.g. bank-a-c1)',
    )
    .requiredOption(
      '--dataset <id>',
      'the dataset the consent covers, as lineage and audits name it (e.g. bank-a-cards)',
    )
    .requiredOption(
      '--purpose <model>',
      'the model id the data may train: rounds of this model only (e.g. fraud)',
    )
    .option('--days <n>', 'how long the consent stays in force, in days (e.g. 90)', days, 365)
    .option('--json', 'print the recorded consent as JSON instead of a sentence')
    .addHelpText(
      'after',
      `
Examples:
  embedded ledger, as bank-a:
    veilsum consent grant --ledger .veilsum/ledger.db --profile .veilsum/profile-bank-a.json \\
      --consent bank-a-c1 --dataset bank-a-cards --purpose fraud --days 90
  Fabric, as eastlake through its own peer:
    veilsum consent grant --ledger fabric:network/run/connection.json@peer0.eastlake.veilsum.test \\
      --as eastlake --consent eastlake-c1 --dataset eastlake-cards --purpose fraud
Prints: granted bank-a-c1: bank-a/bank-a-cards for fraud until <date>`,
    )
    .action(async (options) => {
      const record = await withLedger(
        options.ledger,
        options.as,
        embeddedAccess(options),
        (ledger) =>
          ledger.grantConsent(
            options.consent,
            options.dataset,
            options.purpose,
            Date.now() + Math.round(options.days * 86_400_000),
          ),
      );
      console.log(
        options.json
          ? JSON.stringify(record)
          : `granted ${record.consentId}: ${record.memberId}/${record.datasetId} for ${record.purpose} until ${when(record.expiresAt)}`,
      );
    });
  consent
    .command('revoke')
    .description(
      "Revoke, as the member that granted it, a consent on the ledger: no new round opens with the member under it, and a round already open refuses the member's upload",
    )
    .requiredOption('--ledger <ledger>', `${LEDGER_HELP} (e.g. .veilsum/ledger.db)`)
    .option(
      '--as <member>',
      'Fabric: the client identity in the connection file, i.e. the member that granted it (e.g. --as eastlake)',
    )
    .option(
      '--profile <path>',
      "embedded ledger: the granting member's profile; its key signs the block (e.g. .veilsum/profile-bank-a.json)",
    )
    .requiredOption(
      '--consent <id>',
      'the id given to consent grant (e.g. bank-a-c1); `veilsum audit consent-history` lists them',
    )
    .option('--json', 'print the revoked consent as JSON instead of a sentence')
    .addHelpText(
      'after',
      `
Examples:
  embedded ledger, as bank-a:
    veilsum consent revoke --ledger .veilsum/ledger.db --profile .veilsum/profile-bank-a.json --consent bank-a-c1
  Fabric, as eastlake:
    veilsum consent revoke --ledger fabric:network/run/connection.json --as eastlake --consent eastlake-c1
Prints: revoked bank-a-c1 at <date>`,
    )
    .action(async (options) => {
      const record = await withLedger(
        options.ledger,
        options.as,
        embeddedAccess(options),
        (ledger) => ledger.revokeConsent(options.consent),
      );
      console.log(
        options.json
          ? JSON.stringify(record)
          : `revoked ${record.consentId} at ${when(record.revokedAt)}`,
      );
    });
  return consent;
}

function lineageMermaid(lineage: Lineage): string {
  const lines = ['graph LR'];
  const model = `model_${lineage.modelVersion.modelHash.slice(0, 12)}`;
  const round = `round_${lineage.round.roundId.replace(/[^A-Za-z0-9]/g, '_')}`;
  lines.push(
    `  ${model}["model ${lineage.modelVersion.modelHash.slice(0, 12)}…"] --> ${round}["${lineage.round.roundId}"]`,
  );
  for (const { memberId, consent } of lineage.contributions) {
    const member = `member_${memberId.replace(/[^A-Za-z0-9]/g, '_')}`;
    lines.push(`  ${round} --> ${member}["${memberId}"]`);
    lines.push(
      `  ${member} --> consent_${consent.consentId.replace(/[^A-Za-z0-9]/g, '_')}["${consent.datasetId} / consent ${consent.consentId}"]`,
    );
  }
  return lines.join('\n');
}

export function auditCommand(): Command {
  const audit = new Command('audit').description(
    'Questions a compliance officer asks of the ledger',
  );
  audit
    .command('lineage')
    .description('Which datasets, under which consents, fed a model version')
    .requiredOption('--ledger <ledger>', LEDGER_HELP)
    .requiredOption('--model <hash>', 'model version (SHA-256 hex)')
    .option('--ca <path>', 'embedded ledger: the consortium CA certificate it is verified against')
    .option('--identity-issuer <path>', IDENTITY_ISSUER_HELP)
    .option('--as <identity>', 'auditing identity', 'veilsum-coordinator')
    .option('--json', 'print JSON')
    .option('--mermaid', 'print a Mermaid graph')
    .action(async (options) => {
      const lineage = await withLedger(
        options.ledger,
        options.as,
        embeddedAccess(options),
        (ledger) => ledger.lineage(options.model),
      );
      if (options.json) console.log(JSON.stringify(lineage));
      else if (options.mermaid) console.log(lineageMermaid(lineage));
      else {
        const round = lineage.round;
        console.log(
          `model ${lineage.modelVersion.modelHash} (${lineage.modelVersion.modelId}) from ${round.roundId}`,
        );
        console.log(
          `  params ${round.paramsHash}\n  aggregate ${round.aggregateHash}\n  uploads root ${round.uploadsMerkleRoot}\n  dropouts ${round.dropoutCount}`,
        );
        console.log(
          '  member                dataset               consent               granted                   expires',
        );
        for (const { memberId, consent } of lineage.contributions) {
          console.log(
            `  ${memberId.padEnd(21)} ${consent.datasetId.padEnd(21)} ${consent.consentId.padEnd(21)} ${when(consent.grantedAt)}  ${when(consent.expiresAt)}`,
          );
        }
      }
    });
  audit
    .command('consent-history')
    .description("A member's consents, granted and revoked")
    .requiredOption('--ledger <ledger>', LEDGER_HELP)
    .requiredOption('--member <id>', 'member id')
    .option('--ca <path>', 'embedded ledger: the consortium CA certificate it is verified against')
    .option('--identity-issuer <path>', IDENTITY_ISSUER_HELP)
    .option('--as <identity>', 'auditing identity', 'veilsum-coordinator')
    .option('--json', 'print JSON')
    .action(async (options) => {
      const history = await withLedger(
        options.ledger,
        options.as,
        embeddedAccess(options),
        (ledger) => ledger.consentHistory(options.member),
      );
      if (options.json) console.log(JSON.stringify(history));
      else
        for (const consent of history)
          console.log(
            `${consent.consentId}  ${consent.datasetId}  for ${consent.purpose}  granted ${when(consent.grantedAt)}  ${consentState(consent)}`,
          );
    });
  audit
    .command('consents')
    .description("Every member's consents in one listing (auditors and coordinators)")
    .requiredOption('--ledger <ledger>', LEDGER_HELP)
    .option('--ca <path>', 'embedded ledger: the consortium CA certificate it is verified against')
    .option('--identity-issuer <path>', IDENTITY_ISSUER_HELP)
    .option('--as <identity>', 'auditing identity', 'veilsum-coordinator')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV (RFC 4180, one header line)')
    .action(async (options) => {
      if (options.json && options.csv) throw new InvalidArgumentError('give --json or --csv');
      const consents = await withLedger(
        options.ledger,
        options.as,
        embeddedAccess(options),
        (ledger) => ledger.listConsents(),
      );
      if (options.json) console.log(JSON.stringify(consents));
      else if (options.csv) {
        console.log(CONSENT_COLUMNS.join(','));
        for (const consent of consents) console.log(consentRow(consent).map(csvField).join(','));
      } else {
        const rows = [[...CONSENT_COLUMNS], ...consents.map(consentRow)];
        const widths = CONSENT_COLUMNS.map((_, i) =>
          Math.max(...rows.map((row) => row[i]!.length)),
        );
        for (const row of rows)
          console.log(
            row
              .map((cell, i) => cell.padEnd(widths[i]!))
              .join('  ')
              .trimEnd(),
          );
        if (consents.length === 0) console.log('(no consents on the ledger)');
      }
    });
  audit
    .command('prove-inclusion')
    .description("Fetch this member's inclusion proof for a round and verify it against the ledger")
    .requiredOption('--ledger <ledger>', LEDGER_HELP)
    .requiredOption('--profile <path>', "the member's connection profile")
    .requiredOption('--round <id>', 'round id')
    .option(
      '--as <identity>',
      'reading identity (Fabric: one of the connection file)',
      'veilsum-coordinator',
    )
    .option('--json', 'print JSON')
    .action(async (options) => {
      const profile = loadProfile(options.profile);
      const client = VeilsumClient.connect(profile);
      try {
        const proof = await client.proveInclusion(options.round);
        const reader = { caCertificate: profile.caCertificate };
        const round = await withLedger(options.ledger, options.as, reader, (ledger) =>
          ledger.getRound(options.round),
        );
        const path = proof.path.map((step) => ({
          sibling: new Uint8Array(step.sibling),
          siblingOnLeft: step.siblingOnLeft,
        }));
        const verified =
          round.uploadsMerkleRoot !== null &&
          Buffer.from(proof.root).toString('hex') === round.uploadsMerkleRoot &&
          verifyMerkleProof(
            new Uint8Array(proof.uploadSha256),
            path,
            Buffer.from(round.uploadsMerkleRoot, 'hex'),
          );
        const summary = {
          round: options.round,
          member: proof.memberId,
          uploadSha256: Buffer.from(proof.uploadSha256).toString('hex'),
          ledgerRoot: round.uploadsMerkleRoot,
          verified,
        };
        console.log(
          options.json
            ? JSON.stringify(summary)
            : verified
              ? `included: upload ${summary.uploadSha256} is under the ledger's root ${round.uploadsMerkleRoot}`
              : 'NOT VERIFIED: the proof does not lead to the root on the ledger',
        );
        if (!verified) process.exitCode = 2;
      } finally {
        client.close();
      }
    });
  audit
    .command('verify-chain')
    .description(
      'Recompute the embedded ledger’s hash chain and block signatures, replay every transaction through the contract, check the state; name the first bad block',
    )
    .requiredOption('--ledger <path>', 'embedded ledger file')
    .requiredOption(
      '--ca <path>',
      "the consortium CA certificate that issues writers' certificates",
    )
    .option(
      '--checkpoint <file>',
      'a head verified before — a head file (advanced to the verified head) or a signed head from `audit export-head` — that the ledger must extend',
    )
    .option('--identity-issuer <path>', IDENTITY_ISSUER_HELP)
    .option('--json', 'print JSON')
    .action((options) => {
      if (options.ledger.startsWith('fabric:')) {
        console.error(
          'verify-chain recomputes the embedded ledger; Fabric peers check every block (orderer signature, hash chain, endorsements) as they commit it',
        );
        process.exitCode = 2;
        return;
      }
      if (!existsSync(options.ledger)) throw new Error(`no ledger file ${options.ledger}`);
      let issuers: string;
      try {
        issuers = blockIssuers(options);
      } catch (error) {
        console.error((error as Error).message);
        process.exitCode = 2;
        return;
      }
      const anchor =
        options.checkpoint !== undefined && existsSync(options.checkpoint)
          ? readAnchor(options.checkpoint, new BlockSignatureVerifier(issuers))
          : undefined;
      // Inspected, not opened: opening refuses a tampered ledger, this reports what is wrong.
      const { result, head } = EmbeddedLedgerDatabase.inspectWithHead(
        options.ledger,
        issuers,
        anchor,
      );
      console.log(
        options.json
          ? JSON.stringify(result.ok ? { ...result, head } : result)
          : result.ok
            ? `chain intact: ${result.blocks} blocks, each signed by its writer and replayed through the contract; head ${describeHead(head)}${anchor ? `, extends ${describeHead(anchor)}${anchor.signer ? ` signed by ${anchor.signer}` : ''}` : ''}`
            : `chain BROKEN at block ${result.block}: ${result.reason}`,
      );
      if (!result.ok) {
        process.exitCode = 2;
        return;
      }
      // A plain head file moves forward with what was verified; a signed head stays as signed.
      if (options.checkpoint !== undefined && anchor?.signer === undefined)
        writeHeadFile(options.checkpoint, head);
    });
  audit
    .command('export-head')
    .description(
      'Verify the embedded ledger in full and write its head signed with your profile’s key: an auditor checks a copy extends it (`verify-chain --checkpoint`)',
    )
    .requiredOption('--ledger <path>', 'embedded ledger file')
    .requiredOption('--profile <path>', 'your profile (its certificate and key sign the head)')
    .requiredOption('--out <file>', 'where to write the signed head (JSON)')
    .action((options) => {
      const profile = loadProfile(options.profile);
      if (!existsSync(options.ledger)) throw new Error(`no ledger file ${options.ledger}`);
      // Opened with the profile's checkpoint: the head exported extends every head it saw.
      const database = new EmbeddedLedgerDatabase(
        options.ledger,
        readFileSync(profile.caCertificate),
        { checkpoint: checkpointBeside(options.profile) },
      );
      try {
        const { result, head } = EmbeddedLedgerDatabase.inspectWithHead(
          options.ledger,
          readFileSync(profile.caCertificate),
        );
        if (!result.ok) throw new Error(`chain BROKEN at block ${result.block}: ${result.reason}`);
        const signed = signHead(
          ledgerWriter(profile.certificate, profile.privateKey),
          head,
          Date.now(),
        );
        writeFileSync(options.out, JSON.stringify(signed, null, 2) + '\n');
        console.log(
          `head ${describeHead(head)} signed by ${signed.signer} written to ${options.out}`,
        );
      } finally {
        database.close();
      }
    });
  audit
    .command('events')
    .description(
      'The contract events (consents, rounds, model versions) in block order; with --checkpoint, only those not yet printed',
    )
    .requiredOption('--ledger <ledger>', LEDGER_HELP)
    .option('--ca <path>', 'embedded ledger: the consortium CA certificate it is verified against')
    .option('--identity-issuer <path>', IDENTITY_ISSUER_HELP)
    .option('--as <identity>', 'reading identity', 'veilsum-coordinator')
    .option(
      '--checkpoint <file>',
      'remembers the last event printed; the next run resumes after it',
    )
    .option('--count <n>', 'stop after n events (Fabric follows new blocks until then)', count)
    .option('--json', 'print one JSON object per event')
    .action(async (options) => {
      const opened = openLedgerFor(options.ledger, options.as, embeddedAccess(options));
      const print = (event: { block: number | bigint; name: string; payload: unknown }) =>
        console.log(
          options.json
            ? JSON.stringify({ ...event, block: Number(event.block) })
            : `block ${event.block}  ${event.name}  ${JSON.stringify(event.payload)}`,
        );
      try {
        let printed = 0;
        if (opened.fabric) {
          if (options.count === undefined)
            console.error('following new blocks; stop with Ctrl-C or give --count');
          const events = opened.fabric.events({
            ...(options.checkpoint ? { checkpointFile: options.checkpoint } : {}),
            startBlock: 0n,
          });
          for await (const event of events) {
            print({ block: event.blockNumber, name: event.name, payload: event.payload });
            await event.handled();
            if (++printed === options.count) break;
          }
        } else {
          const after = options.checkpoint ? readCheckpoint(options.checkpoint) : 0;
          let last = after;
          for (const block of opened.embedded!.blocks().filter((b) => b.number > after)) {
            for (const event of block.events) print({ block: block.number, ...event });
            last = block.number;
            if ((printed += block.events.length) >= (options.count ?? Infinity)) break;
          }
          if (options.checkpoint)
            writeFileSync(options.checkpoint, JSON.stringify({ block: last }));
        }
      } finally {
        opened.close();
      }
    });
  return audit;
}
