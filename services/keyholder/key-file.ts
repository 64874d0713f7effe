import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';

/**
 * The collective key as the consortium publishes it after a ceremony: public, written by
 * `veilsum keys ceremony`, read by the coordinator (and anyone who wants to check a round's key).
 */
const keyFileSchema = z.object({
  ceremonyId: z.string().min(1),
  parameterSet: z.string().min(1),
  threshold: z.number().int().min(1),
  keyholders: z
    .array(
      z.object({
        keyholderId: z.string().min(1),
        index: z.number().int().min(1),
        address: z.string().min(1),
      }),
    )
    .min(1),
  publicKey: z.string().min(1),
  keySha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export interface CollectiveKeyFile {
  readonly ceremonyId: string;
  readonly parameterSet: string;
  readonly threshold: number;
  readonly keyholders: readonly { keyholderId: string; index: number; address: string }[];
  readonly publicKey: Uint8Array;
  readonly keySha256: Uint8Array;
}

/** Writes a new key file; refuses to replace an existing one (it may be the key open rounds use). */
export function writeKeyFile(path: string, key: CollectiveKeyFile): void {
  assertKeyFileFree(path);
  writeFileSync(
    path,
    JSON.stringify(
      {
        ...key,
        publicKey: Buffer.from(key.publicKey).toString('base64'),
        keySha256: Buffer.from(key.keySha256).toString('hex'),
      },
      null,
      2,
    ) + '\n',
    { flag: 'wx' },
  );
}

/** Throws, naming the key it holds, if a key file exists at `path`. */
export function assertKeyFileFree(path: string): void {
  if (!existsSync(path)) return;
  let held = 'a collective key';
  try {
    const key = readKeyFile(path);
    held = `the key ${Buffer.from(key.keySha256).toString('hex')} of ceremony ${key.ceremonyId}`;
  } catch {
    // An unreadable file is still not ours to replace.
  }
  throw new Error(
    `${path} already holds ${held}; a key file is never overwritten: choose another --out (and keep this one while rounds use its key)`,
  );
}

export function readKeyFile(path: string): CollectiveKeyFile {
  const parsed = keyFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new Error(`invalid collective key file ${path}: ${parsed.error.issues[0]?.message}`);
  const publicKey = new Uint8Array(Buffer.from(parsed.data.publicKey, 'base64'));
  const digest = keySha256(publicKey);
  if (Buffer.from(digest).toString('hex') !== parsed.data.keySha256)
    throw new Error(`collective key file ${path}: the public key does not match its keySha256`);
  return { ...parsed.data, publicKey, keySha256: digest };
}
