import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncPath } from '../common/fsync-path.ts';
import { openAead, sealAead } from '../../crypto/aead.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { systemRandom } from '../../crypto/random.ts';

/**
 * A secret kept at rest: JSON, AES-256-GCM under a key stretched from a passphrase with scrypt
 * (N = 2^15, r = 8, p = 1; salt stored beside the box). The file and the passphrase file must
 * be readable by their owner only; a keyholder refuses to start otherwise.
 *   file = "veilsum-sealed-v1\n" ‖ salt (16) ‖ nonce ‖ ciphertext ‖ tag
 * A sealed file is written once and never replaced: a secret that could be overwritten by the
 * next write is a secret that can be lost.
 */
const MAGIC = utf8('veilsum-sealed-v1\n');
const SALT_BYTES = 16;

export class SealedFileError extends Error {
  override name = 'SealedFileError';
}

/** The sealed file exists already; it is kept as it was. */
export class SealedFileExistsError extends SealedFileError {
  override name = 'SealedFileExistsError';
}

/** Throws unless `path` exists with no group or other permissions. */
export function assertPrivateFile(path: string, what: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SealedFileError(
      `${what} ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${path})`,
    );
  }
}

function keyFrom(passphrase: string, salt: Uint8Array): Uint8Array {
  if (passphrase.length < 12)
    throw new SealedFileError('the keyholder passphrase must have at least 12 characters');
  return new Uint8Array(
    scryptSync(passphrase, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }),
  );
}

/**
 * Seals `value` into a new file at `path`, durably (file and folder fsynced), and refuses with
 * SealedFileExistsError if `path` exists: the final name is a hard link of a fully written
 * temporary file, which the kernel creates only if the name is free.
 */
export function writeSealedJson(path: string, value: unknown, passphrase: string): void {
  if (existsSync(path))
    throw new SealedFileExistsError(`${path} exists already; a sealed file is never overwritten`);
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const box = sealAead(keyFrom(passphrase, salt), utf8(JSON.stringify(value)), MAGIC, systemRandom);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, Buffer.concat([MAGIC, salt, box]), { mode: 0o600, flag: 'wx' });
  try {
    fsyncPath(temporary);
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new SealedFileExistsError(`${path} exists already; a sealed file is never overwritten`);
    throw error;
  } finally {
    unlinkSync(temporary);
  }
  fsyncPath(dirname(path));
}

export function readSealedJson(path: string, passphrase: string): unknown {
  if (!existsSync(path)) throw new SealedFileError(`${path} does not exist`);
  assertPrivateFile(path, 'sealed key file');
  const bytes = new Uint8Array(readFileSync(path));
  if (!Buffer.from(bytes.subarray(0, MAGIC.length)).equals(Buffer.from(MAGIC)))
    throw new SealedFileError(`${path} is not a veilsum sealed file`);
  const salt = bytes.subarray(MAGIC.length, MAGIC.length + SALT_BYTES);
  try {
    const plain = openAead(
      keyFrom(passphrase, salt),
      bytes.subarray(MAGIC.length + SALT_BYTES),
      MAGIC,
    );
    return JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch (error) {
    if (error instanceof SealedFileError) throw error;
    throw new SealedFileError(`cannot open ${path}: wrong passphrase or the file was altered`);
  }
}
