import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { z } from 'zod';
import { describeHead, type LedgerHead } from './block.ts';
import {
  type BlockSignatureVerifier,
  type LedgerWriter,
  signBlockHash,
} from './block-signature.ts';

/**
 * Heads that can be checked: a hash chain proves integrity, not freshness or completeness, so a
 * copy with its last blocks dropped, or an older copy, still verifies. Every party that reads or
 * writes the embedded ledger keeps the last head (height, hash) it verified in a small checkpoint
 * file of its own and refuses a ledger that does not extend it. A head can also be exported
 * signed by the party's certificate key, so an auditor can anchor a copy to what a member saw.
 */
export { describeHead, type LedgerHead };

/** A head exported and signed by one party (`audit export-head`). */
export interface SignedLedgerHead extends LedgerHead {
  readonly signer: string;
  /** When it was signed (ms since the epoch); the signer's certificate must be valid then. */
  readonly signedAt: number;
  readonly certificate: string;
  /** Ed25519 over HEAD_DOMAIN ‖ headDigest (base64). */
  readonly signature: string;
}

const HEAD_DOMAIN = Buffer.from('veilsum/v1/ledger-head\n');

const headSchema = z.object({
  number: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});

const signedHeadSchema = headSchema.extend({
  signer: z.string().min(1),
  signedAt: z.number().int().min(0),
  certificate: z.string().min(1),
  signature: z.string().min(1),
});

/** The head a head file holds ({number, hash}), or undefined when there is none yet. */
export function readHeadFile(path: string): LedgerHead | undefined {
  if (!existsSync(path)) return undefined;
  const head = headSchema.safeParse(readJson(path));
  if (!head.success) throw new Error(`${path} holds no ledger head (number, 64-hex hash)`);
  return { number: head.data.number, hash: head.data.hash };
}

/** Replaces a head file atomically (a crash leaves the old head or the new one). */
export function writeHeadFile(path: string, head: LedgerHead): void {
  replaceFile(path, { number: head.number, hash: head.hash });
}

/**
 * A party's checkpoint file: the last head it verified of each ledger file it opened, by the
 * file's absolute path (one profile may read several ledgers; an older copy restored at the
 * same path is what it must catch).
 */
const checkpointSchema = z.object({ ledgers: z.record(z.string(), headSchema) });

export function readCheckpoint(path: string, ledgerPath: string): LedgerHead | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = checkpointSchema.safeParse(readJson(path));
  if (!parsed.success)
    throw new Error(
      `the ledger checkpoint ${path} is not one (expected {"ledgers": {path: head}})`,
    );
  const head = parsed.data.ledgers[resolve(ledgerPath)];
  return head === undefined ? undefined : { number: head.number, hash: head.hash };
}

export function writeCheckpoint(path: string, ledgerPath: string, head: LedgerHead): void {
  const ledgers =
    existsSync(path) && checkpointSchema.safeParse(readJson(path)).success
      ? (readJson(path) as z.infer<typeof checkpointSchema>).ledgers
      : {};
  ledgers[resolve(ledgerPath)] = { number: head.number, hash: head.hash };
  replaceFile(path, { ledgers });
}

/** Where a party keeps its checkpoint beside a file of its own (its profile, its state). */
export function checkpointBeside(file: string): string {
  return join(dirname(file), `${basename(file, extname(file))}.ledger-heads.json`);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`);
  }
}

function replaceFile(path: string, value: unknown): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(value, null, 2) + '\n');
  renameSync(temporary, path);
}

function headDigest(head: LedgerHead, signer: string, signedAt: number): string {
  return createHash('sha256')
    .update(`${head.number}\n${head.hash}\n${signer}\n${signedAt}`)
    .digest('hex');
}

export function signHead(
  writer: LedgerWriter,
  head: LedgerHead,
  signedAt: number,
): SignedLedgerHead {
  return {
    number: head.number,
    hash: head.hash,
    signer: writer.organisation,
    signedAt,
    certificate: writer.certificatePem,
    signature: signBlockHash(writer, headDigest(head, writer.organisation, signedAt), HEAD_DOMAIN),
  };
}

/**
 * Reads a head to anchor a copy to: a signed head (checked against the consortium CA) or a plain
 * checkpoint. Throws if a signed head's signature does not verify.
 */
export function readAnchor(
  path: string,
  verifier: BlockSignatureVerifier,
): LedgerHead & { signer?: string } {
  const signed = signedHeadSchema.safeParse(readJson(path));
  if (!signed.success) {
    const plain = readHeadFile(path);
    if (plain === undefined) throw new Error(`no head in ${path}`);
    return plain;
  }
  const head = signed.data;
  const problem = verifier.problem(
    {
      number: head.number,
      caller: head.signer,
      timestamp: head.signedAt,
      hash: headDigest(head, head.signer, head.signedAt),
    },
    head.certificate,
    head.signature,
    HEAD_DOMAIN,
  );
  if (problem !== undefined)
    throw new Error(
      `the signed head in ${path} does not verify: ${problem.replace(/^block \d+/, 'the head')}`,
    );
  return { number: head.number, hash: head.hash, signer: head.signer };
}
