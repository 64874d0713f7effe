import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync } from 'node:fs';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CkksEngine } from '../../crypto/ckks/engine.ts';
import { polynomialFromBytes, polynomialToBytes } from '../../crypto/ckks/key-ceremony.ts';
import type { HeldKey } from './ceremony.ts';
import { readSealedJson, SealedFileExistsError, writeSealedJson } from './sealed-file.ts';

/**
 * The key shares a keyholder holds, one sealed file per ceremony: `keys/<ceremonyId>.sealed`.
 * A file is never overwritten (a ceremony id that was used once is refused), and a key stays
 * until an operator retires it explicitly (`veilsum keys retire`), which moves its file to
 * `keys/retired/` — kept, no longer loaded. A keyholder restarted at any time holds every key
 * it held before, so every open round (which names its key by hash) can still be decrypted.
 */
export type StoredKey = HeldKey & { readonly createdAt: number };

interface SealedKeyJson {
  ceremonyId: string;
  parameterSet: string;
  index: number;
  threshold: number;
  keyholders: { keyholderId: string; index: number }[];
  publicKey: string;
  keySha256: string;
  share: string;
  createdAt: number;
}

export class CeremonyIdTakenError extends Error {
  override name = 'CeremonyIdTakenError';
}

export class HeldKeys {
  private readonly directory: string;
  private readonly passphrase: string;

  constructor(directory: string, passphrase: string) {
    this.directory = directory;
    this.passphrase = passphrase;
  }

  /** Every unretired key, by key SHA-256 (hex). */
  async load(
    engineFor: (parameterSet: string) => Promise<CkksEngine>,
  ): Promise<Map<string, StoredKey>> {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const keys = new Map<string, StoredKey>();
    for (const file of readdirSync(this.directory).filter((f) => f.endsWith('.sealed'))) {
      const json = readSealedJson(join(this.directory, file), this.passphrase) as SealedKeyJson;
      const engine = await engineFor(json.parameterSet);
      keys.set(json.keySha256, {
        ceremonyId: json.ceremonyId,
        parameterSet: json.parameterSet,
        index: json.index,
        threshold: json.threshold,
        keyholders: json.keyholders,
        publicKey: new Uint8Array(Buffer.from(json.publicKey, 'base64')),
        keySha256: new Uint8Array(Buffer.from(json.keySha256, 'hex')),
        share: polynomialFromBytes(
          Buffer.from(json.share, 'base64'),
          engine.dataRns,
          'sealed share',
        ),
        createdAt: json.createdAt,
      });
    }
    return keys;
  }

  /** Whether a ceremony id was ever used here (held or retired): ids are never reused. */
  used(ceremonyId: string): boolean {
    return existsSync(this.fileOf(ceremonyId)) || existsSync(this.retiredFileOf(ceremonyId));
  }

  /** Seals a new key share; refuses (CeremonyIdTakenError) a ceremony id used before. */
  seal(key: HeldKey, createdAt: number): StoredKey {
    if (this.used(key.ceremonyId)) throw this.taken(key.ceremonyId);
    try {
      writeSealedJson(
        this.fileOf(key.ceremonyId),
        {
          ceremonyId: key.ceremonyId,
          parameterSet: key.parameterSet,
          index: key.index,
          threshold: key.threshold,
          keyholders: [...key.keyholders],
          publicKey: Buffer.from(key.publicKey).toString('base64'),
          keySha256: Buffer.from(key.keySha256).toString('hex'),
          share: Buffer.from(polynomialToBytes(key.share)).toString('base64'),
          createdAt,
        } satisfies SealedKeyJson,
        this.passphrase,
      );
    } catch (error) {
      if (error instanceof SealedFileExistsError) throw this.taken(key.ceremonyId);
      throw error;
    }
    return { ...key, createdAt };
  }

  /**
   * Retires the key of `ceremonyId`: its sealed file moves to `retired/` (kept, not loaded at the
   * next start). A running keyholder keeps the key in memory until it restarts.
   */
  retire(ceremonyId: string): string {
    const from = this.fileOf(ceremonyId);
    const to = this.retiredFileOf(ceremonyId);
    mkdirSync(join(this.directory, 'retired'), { recursive: true, mode: 0o700 });
    try {
      linkSync(from, to);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new Error(`no key of ceremony ${ceremonyId} is held in ${this.directory}`);
      if (code === 'EEXIST')
        throw new Error(`the key of ceremony ${ceremonyId} is retired already`);
      throw error;
    }
    unlinkSync(from);
    for (const folder of [join(this.directory, 'retired'), this.directory]) {
      const fd = openSync(folder, 'r');
      fsyncSync(fd);
      closeSync(fd);
    }
    return to;
  }

  private taken(ceremonyId: string): CeremonyIdTakenError {
    return new CeremonyIdTakenError(
      `ceremony id ${ceremonyId} was used before and its key is kept; a new ceremony needs a new id`,
    );
  }

  private fileOf(ceremonyId: string): string {
    return join(this.directory, `${ceremonyId}.sealed`);
  }

  private retiredFileOf(ceremonyId: string): string {
    return join(this.directory, 'retired', `${ceremonyId}.sealed`);
  }
}
