import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  blockHash,
  EmbeddedLedgerDatabase,
  type LedgerWriter,
  ledgerWriter,
} from '../../ledger/embedded/embedded-ledger.ts';
import { signBlockHash } from '../../ledger/embedded/block-signature.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { Adversary, Mode } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import {
  ADMIN,
  type Consortium,
  CoordinatorProcess,
  createConsortium,
} from '../support/consortium.ts';
import type { CollectiveKeyRecord, ConsentRecord, RoundManifest } from '../../ledger/records.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';
import { testKeyLimits } from '../support/ckks-keys.ts';

/**
 * Attack: a writer appends a block it signs itself but that the contract would never have
 * produced. The block's hash, link and signature are all valid — only replaying the transaction
 * through the contract, as its signer, shows the writes are not the contract's. Played as the
 * coordinator (which owns the file) and as a member, each block crafted and signed with the
 * attacker's own consortium key and appended to the SQLite file with the state table to match,
 * as an attacker with write access to the file would. Each must be refused when the file is
 * opened, by a process that already has it open (catching up), and by `audit verify-chain`.
 */
const COORDINATOR = 'veilsum-coordinator';
const BANKS = ['bank-1', 'bank-2', 'bank-3'];
const KEYHOLDERS = ['kh-1', 'kh-2', 'kh-3'];
const MODEL = 'fraud-model';
const ROUND = `${MODEL}/round-1`;

let directory: string;
let pki: DevPki;
let caPem: string;
const writer = (organisation: string): LedgerWriter => {
  const issued = organisation === COORDINATOR ? pki.server : pki.members[organisation]!;
  return ledgerWriter(issued.certificatePath, issued.privateKeyPath);
};

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'veilsum-forged-blocks-'));
  pki = await createDevPki(join(directory, 'pki'), [...BANKS, ...KEYHOLDERS]);
  caPem = readFileSync(pki.caCertificatePath, 'utf8');
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

const manifest: RoundManifest = {
  mode: 'secagg',
  dimension: 16,
  identityKeys: ['1', '2', '3'].map((digit) => digit.repeat(64)),
  adversary: 'semi-malicious',
  corruptionRate: 0,
  dropoutRate: 0,
  degree: 2,
  threshold: 2,
  minContributors: 2,
  quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
  ckksKeySha256: null,
};

/**
 * An honest consortium's ledger: roles, three consents (bank-2's revoked by bank-2), pinned
 * identity keys, a SecAgg round open with U1–U3 committed.
 */
async function honestLedger(name: string): Promise<string> {
  const path = join(directory, `${name}.db`);
  const database = new EmbeddedLedgerDatabase(path, caPem);
  const as = (id: string) => new Ledger(database.as(writer(id)));
  const coordinator = as(COORDINATOR);
  await coordinator.registerMember(COORDINATOR, ['coordinator', 'auditor']);
  for (const bank of BANKS) await coordinator.registerMember(bank, ['member']);
  for (const holder of KEYHOLDERS) await coordinator.registerMember(holder, ['keyholder']);
  for (const [i, bank] of BANKS.entries()) {
    await as(bank).grantConsent(`consent-${bank}`, 'cards', MODEL, Date.now() + 86_400_000);
    await as(bank).registerIdentityKey(manifest.identityKeys[i]!);
  }
  await coordinator.openRound(ROUND, MODEL, 1, 'a'.repeat(64), BANKS, manifest);
  await coordinator.commitRoundPhase(ROUND, 'advertised', [1, 2, 3]);
  await coordinator.commitRoundPhase(ROUND, 'shared', [1, 2, 3]);
  await coordinator.commitRoundPhase(ROUND, 'masked', [1, 2, 3]);
  await as('bank-2').revokeConsent('consent-bank-2');
  database.close();
  return path;
}

interface Forgery {
  readonly signer: string;
  readonly fn: string;
  readonly args: unknown[];
  /** The block's time (default: now), given the state. */
  readonly timestamp?: (state: (key: string) => string) => number;
  /** What the attacker wants the state to say, given the state as the honest chain left it. */
  writes(state: (key: string) => string): [string, string][];
}

/** Appends a block signed by `forgery.signer`, linked to the head, and updates the state rows. */
function appendForgedBlock(path: string, forgery: Forgery, signerOf = writer): number {
  const db = new Database(path);
  try {
    const head = db
      .prepare('SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1')
      .get() as { number: number; hash: string };
    const state = (key: string) =>
      (db.prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string }).value;
    const signer = signerOf(forgery.signer);
    const unsigned = {
      number: head.number + 1,
      previousHash: head.hash,
      timestamp: forgery.timestamp?.(state) ?? Date.now(),
      caller: signer.organisation,
      certificate: signer.certificatePem,
      fn: forgery.fn,
      args: forgery.args,
      writes: forgery.writes(state),
      events: [],
    };
    const hash = blockHash(unsigned);
    db.prepare(
      'INSERT INTO blocks (number, previous_hash, timestamp, caller, certificate, fn, args, writes, events, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      unsigned.number,
      unsigned.previousHash,
      unsigned.timestamp,
      unsigned.caller,
      unsigned.certificate,
      unsigned.fn,
      JSON.stringify(unsigned.args),
      JSON.stringify(unsigned.writes),
      '[]',
      hash,
      signBlockHash(signer, hash),
    );
    for (const [key, value] of unsigned.writes)
      db.prepare(
        'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(key, value);
    return unsigned.number;
  } finally {
    db.close();
  }
}

const edited = <T>(value: string, change: (record: T) => T) =>
  JSON.stringify(change(JSON.parse(value) as T));

const FORGERIES: Record<string, Forgery> = {
  'the coordinator un-revokes a consent the bank revoked with its own signed block': {
    signer: COORDINATOR,
    fn: 'revokeConsent',
    args: ['consent-bank-2'],
    writes: (state) => [
      [
        'consent/consent-bank-2',
        edited<ConsentRecord>(state('consent/consent-bank-2'), (c) => ({ ...c, revokedAt: null })),
      ],
    ],
  },
  'the coordinator attests a CKKS key "as" the three keyholders': {
    signer: COORDINATOR,
    fn: 'attestCollectiveKey',
    args: ['c'.repeat(64), 'ceremony-x', 2, KEYHOLDERS, testKeyLimits()],
    writes: () => [
      [
        `ckks-key/${'c'.repeat(64)}`,
        JSON.stringify({
          keySha256: 'c'.repeat(64),
          ceremonyId: 'ceremony-x',
          threshold: 2,
          participants: KEYHOLDERS,
          attestedBy: KEYHOLDERS,
          registeredAt: Date.now(),
          limits: testKeyLimits(),
        } satisfies CollectiveKeyRecord),
      ],
      ['ckks-ceremony/ceremony-x', 'c'.repeat(64)],
    ],
  },
  'a member gives itself the coordinator role': {
    signer: 'bank-1',
    fn: 'registerMember',
    args: ['bank-1', ['coordinator']],
    writes: (state) => [
      [
        'member/bank-1',
        edited<{ roles: string[] }>(state('member/bank-1'), (m) => ({
          ...m,
          roles: [...m.roles, 'coordinator'],
        })),
      ],
    ],
  },
  'the coordinator commits a second U3 for an open round': {
    signer: COORDINATOR,
    fn: 'commitRoundPhase',
    args: [ROUND, 'masked', [1, 2]],
    writes: (state) => [
      [
        `round-phase/${ROUND}/masked`,
        edited<{ members: number[] }>(state(`round-phase/${ROUND}/masked`), (p) => ({
          ...p,
          members: [1, 2],
        })),
      ],
    ],
  },
  'a member backdates its revocation to before the round that used its consent': {
    signer: 'bank-1',
    fn: 'revokeConsent',
    args: ['consent-bank-1'],
    // Everything the contract checks holds: bank-1 owns the consent and the writes are exactly
    // the contract's at that time. Only the time is a lie: before the blocks already on the chain.
    timestamp: (state) =>
      (JSON.parse(state('consent/consent-bank-1')) as ConsentRecord).grantedAt + 1,
    writes: (state) => [
      [
        'consent/consent-bank-1',
        edited<ConsentRecord>(state('consent/consent-bank-1'), (c) => ({
          ...c,
          revokedAt: c.grantedAt + 1,
        })),
      ],
    ],
  },
  'the coordinator replaces another member’s pinned identity key': {
    signer: COORDINATOR,
    fn: 'registerIdentityKey',
    args: ['f'.repeat(64)],
    writes: () => [['member-identity/bank-3', 'f'.repeat(64)]],
  },
  'a member replaces another member’s pinned identity key': {
    signer: 'bank-1',
    fn: 'registerIdentityKey',
    args: ['f'.repeat(64)],
    writes: () => [['member-identity/bank-3', 'f'.repeat(64)]],
  },
};

function verifyChain(path: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['cli/veilsum.ts', 'audit', 'verify-chain', '--ledger', path, '--ca', pki.caCertificatePath],
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('attack: a block its own writer signed but the contract would not have written', () => {
  for (const [name, forgery] of Object.entries(FORGERIES)) {
    it(`${name}: refused on open, on catch-up and by audit verify-chain`, async () => {
      const path = await honestLedger(name.replace(/[^a-z0-9]+/gi, '-'));
      const copy = `${path}.open-before.db`;
      copyFileSync(path, copy);
      // A process that had the file open before the forged block was appended.
      const running = new EmbeddedLedgerDatabase(copy, caPem);
      try {
        const forged = appendForgedBlock(path, forgery);
        appendForgedBlock(copy, forgery);
        const refusal = new RegExp(
          `tampered with: block ${forged} (is a transaction the contract refuses|records writes the contract does not make|is dated before block)`,
        );

        expect(() => new EmbeddedLedgerDatabase(path, caPem)).toThrow(refusal);

        await expect(new Ledger(running.reader(COORDINATOR)).getMember('bank-1')).rejects.toThrow(
          refusal,
        );
        // Once seen, the handle refuses everything after, writes included.
        await expect(
          new Ledger(running.as(writer('bank-3'))).grantConsent(
            'c-9',
            'cards',
            MODEL,
            Date.now() + 1e6,
          ),
        ).rejects.toThrow(refusal);

        const audit = await verifyChain(path);
        expect(audit.code).toBe(2);
        expect(audit.stdout).toMatch(
          new RegExp(
            `chain BROKEN at block ${forged}: block ${forged} (is a transaction the contract refuses|records writes the contract does not make|is dated before block)`,
          ),
        );
      } finally {
        running.close();
      }
    }, 120_000);
  }

  it('the honest chain the forgeries extend verifies', async () => {
    const path = await honestLedger('honest');
    expect(EmbeddedLedgerDatabase.inspect(path, caPem)).toEqual({ ok: true, blocks: 18 });
    const audit = await verifyChain(path);
    expect(audit).toMatchObject({ code: 0 });
    expect(audit.stdout).toMatch(/chain intact: 18 blocks/);
  }, 60_000);
});

describe('attack: a forged block appended under a running coordinator', () => {
  let consortium: Consortium | undefined;
  let coordinator: CoordinatorProcess | undefined;
  afterAll(async () => {
    await coordinator?.stop();
    if (consortium) rmSync(consortium.directory, { recursive: true, force: true });
  });

  it('the coordinator’s process catches up, refuses the un-revoked consent at that block (DATA_LOSS), opens no round', async () => {
    consortium = await createConsortium(3, 'fgd', { ledger: true });
    coordinator = await CoordinatorProcess.start(consortium);
    const path = join(consortium.directory, 'ledger.db');
    const bankLedger = new EmbeddedLedgerDatabase(path, caOf(consortium));
    try {
      for (const member of consortium.members)
        await new Ledger(bankLedger.as(consortium.local.ledgerWriter(member))).grantConsent(
          `consent-${member}`,
          'cards',
          MODEL,
          Date.now() + 86_400_000,
        );
      const revoker = consortium.members[1]!;
      await new Ledger(bankLedger.as(consortium.local.ledgerWriter(revoker))).revokeConsent(
        `consent-${revoker}`,
      );
    } finally {
      bankLedger.close();
    }
    const revoker = consortium.members[1]!;
    const forged = appendForgedBlock(
      path,
      {
        signer: 'veilsum-coordinator',
        fn: 'revokeConsent',
        args: [`consent-${revoker}`],
        writes: (state) => [
          [
            `consent/consent-${revoker}`,
            edited<ConsentRecord>(state(`consent/consent-${revoker}`), (c) => ({
              ...c,
              revokedAt: null,
            })),
          ],
        ],
      },
      (id) => consortium!.local.ledgerWriter(id),
    );
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, coordinator.port));
    try {
      await expect(
        admin.openRound({
          modelId: MODEL,
          roundNumber: 1,
          mode: Mode.MODE_SECAGG,
          dimension: 16,
          quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
          threshold: 3,
          degree: 2,
          adversary: Adversary.ADVERSARY_SEMI_MALICIOUS,
          members: consortium.members,
          deadlines: {
            advertiseKeysMs: 30_000,
            shareKeysMs: 30_000,
            maskedInputMs: 30_000,
            consistencyCheckMs: 30_000,
            unmaskingMs: 30_000,
          },
          corruptionRate: 0,
          dropoutRate: 0,
          minContributors: 0,
          ckks: undefined,
        }),
      ).rejects.toThrow(
        new RegExp(
          `tampered with: block ${forged} is a transaction the contract refuses \\(veilsum-coordinator's revokeConsent: veilsum-coordinator may not revoke consent consent-${revoker}.*DATA_LOSS`,
        ),
      );
      expect(await admin.listRounds()).toHaveLength(0);
    } finally {
      admin.close();
    }
  }, 180_000);
});

function caOf(consortium: Consortium): string {
  return readFileSync(consortium.pki.caCertificatePath, 'utf8');
}
