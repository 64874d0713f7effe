import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
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
export interface LedgerHead {
  readonly number: number;
  readonly hash: string;
}

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

export function describeHead(head: LedgerHead): string {
  return `block ${head.number} (hash ${head.hash.slice(0, 16)}…)`;
}

/** The head a checkpoint file holds, or undefined when there is none yet. */
export function readCheckpoint(path: string): LedgerHead | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`the ledger checkpoint ${path} is not JSON: ${(error as Error).message}`);
  }
  const head = headSchema.safeParse(parsed);
  if (!head.success)
    throw new Error(`the ledger checkpoint ${path} holds no head (number, 64-hex hash)`);
  return { number: head.data.number, hash: head.data.hash };
}

/** Replaces the checkpoint atomically (a crash leaves the old head or the new one). */
export function writeCheckpoint(path: string, head: LedgerHead): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify({ number: head.number, hash: head.hash }) + '\n');
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
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const signed = signedHeadSchema.safeParse(parsed);
  if (!signed.success) {
    const plain = readCheckpoint(path);
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
