import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { ContractError } from '../../ledger/contract.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { stopProcesses, storedCkksUploads } from '../support/coordinator-processes.ts';
import { VeilsumError } from '../../sdk/errors.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { writeKeyFile } from '../../services/keyholder/key-file.ts';
import { ceremonyInProcess, ckksTestManifest, testKeyLimits } from '../support/ckks-keys.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';

/**
 * ATTACK: the coordinator's operator runs a key "ceremony" alone (it holds every share) and
 * points the unmodified coordinator's ckks.keyFile at that key, so that members encrypt under a
 * key it alone can decrypt (before the defence: every upload decrypted, max error 5.6e-16).
 * Defence: keyholders attest the collective key on the ledger with their own identities, the
 * contract opens CKKS rounds only on a key every ceremony keyholder attested, and a member checks
 * the round and its key on its own ledger view — or, without one, on the consortium's key file.
 */
const DIM = 10_000; // two ciphertexts
const MODEL = 'rogue-key';
// Each with a consortium certificate: ledger blocks are signed by their writer.
const KEYHOLDERS = ['keyholder-1', 'keyholder-2'];
const OUTSIDE_KEYHOLDER = 'keyholder-3';
let consortium: Consortium;
let engine: CkksEngine;
let rogueHex: string;
let realLedger: EmbeddedLedgerDatabase;
let forkLedger: EmbeddedLedgerDatabase;
const coordinators: ChildProcess[] = [];
let onRealLedger: number; // the operator's coordinator on the consortium's ledger
let onFork: number; // the same operator's coordinator writing to a ledger only it keeps
const update = Float32Array.from({ length: DIM }, (_, i) => Math.sin(31 * i + 7) * 0.9);

function params(roundNumber: number): RoundParams {
  return ckksRoundParams({
    modelId: MODEL,
    roundNumber,
    dimension: DIM,
    members: consortium.members,
    minContributors: 3,
  });
}

const manifest = (ckksKeySha256: string, members: number) =>
  ckksTestManifest(ckksKeySha256, members, DIM);

async function refusal(promise: Promise<unknown>): Promise<Error & { code?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: number };
  }
  throw new Error('expected a refusal, but the call succeeded');
}

async function startCoordinator(name: string, ledgerPath: string): Promise<number> {
  const config = {
    ...consortium.config,
    dataDir: join(consortium.directory, `data-${name}`),
    ledger: { path: ledgerPath, identity: 'veilsum-coordinator' },
  };
  const { child, port } = await startCoordinatorProcess(
    config,
    join(consortium.directory, `coordinator-${name}.json`),
    () => {},
  );
  coordinators.push(child);
  return port;
}

beforeAll(async () => {
  consortium = await createConsortium(3, 'rogue', { keyholders: 3, ledger: true });
  engine = await CkksEngine.create(SUM_8192);
  const rogue = ceremonyInProcess(engine, 2, 2, 99);
  rogueHex = Buffer.from(keySha256(rogue.publicKey)).toString('hex');
  const keyFile = join(consortium.directory, 'rogue-key.json');
  writeKeyFile(keyFile, {
    ceremonyId: 'rogue',
    parameterSet: SUM_8192.name,
    threshold: 2,
    keyholders: KEYHOLDERS.map((keyholderId, i) => ({
      keyholderId,
      index: i + 1,
      address: '127.0.0.1:9',
    })),
    publicKey: rogue.publicKey,
    keySha256: keySha256(rogue.publicKey),
  });
  consortium.config = { ...consortium.config, ckks: { keyFile } };
  // On a ledger file only the operator keeps, it plays every keyholder and "attests" its key.
  const forkPath = join(consortium.directory, 'fork.db');
  forkLedger = new EmbeddedLedgerDatabase(forkPath, readFileSync(consortium.pki.caCertificatePath));
  const forkAs = (id: string) => new Ledger(forkLedger.as(consortium.local.ledgerWriter(id)));
  await forkAs('veilsum-coordinator').registerMember('veilsum-coordinator', ['coordinator']);
  for (const id of KEYHOLDERS)
    await forkAs('veilsum-coordinator').registerMember(id, ['keyholder']);
  for (const id of KEYHOLDERS)
    await forkAs(id).attestCollectiveKey(rogueHex, 'rogue', 2, KEYHOLDERS, testKeyLimits());
  onRealLedger = await startCoordinator('real', join(consortium.directory, 'ledger.db'));
  onFork = await startCoordinator('fork', forkPath);
  realLedger = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
  for (const [i, member] of consortium.members.entries()) {
    for (const db of [realLedger, forkLedger])
      await new Ledger(db.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}`,
        `transactions-${i + 1}`,
        MODEL,
        Date.now() + 86_400_000,
      );
  }
}, 240_000);

afterAll(async () => {
  await stopProcesses(coordinators);
  realLedger?.close();
  forkLedger?.close();
});

describe('a CKKS key its keyholders did not attest on the ledger is never used', () => {
  it('registers a collective key only once every ceremony keyholder attested it as itself', async () => {
    const db = new EmbeddedLedgerDatabase(
      join(consortium.directory, 'attest.db'),
      readFileSync(consortium.pki.caCertificatePath),
    );
    try {
      const as = (id: string) => new Ledger(db.as(consortium.local.ledgerWriter(id)));
      const coordinator = as('veilsum-coordinator');
      await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
      for (const id of [...KEYHOLDERS, OUTSIDE_KEYHOLDER])
        await coordinator.registerMember(id, ['keyholder']);
      for (const id of consortium.members.slice(0, 2))
        await coordinator.registerMember(id, ['member']);
      const [bank1, bank2] = [consortium.members[0]!, consortium.members[1]!];
      const key = 'ab'.repeat(32);
      const denied = async (ledger: Ledger, pattern: RegExp) => {
        const error = await refusal(
          ledger.attestCollectiveKey(key, 'c-1', 2, KEYHOLDERS, testKeyLimits()),
        );
        expect(error).toBeInstanceOf(ContractError);
        expect((error as ContractError).kind).toBe('access-denied');
        expect(error.message).toMatch(pattern);
      };
      // Neither the coordinator, nor a member, nor a keyholder outside the ceremony attests.
      await denied(coordinator, /needs the keyholder role/);
      await denied(as(bank1), /needs the keyholder role/);
      await denied(as(OUTSIDE_KEYHOLDER), /not a participant of ceremony c-1/);
      const first = await as(KEYHOLDERS[0]!).attestCollectiveKey(
        key,
        'c-1',
        2,
        KEYHOLDERS,
        testKeyLimits(),
      );
      expect(first.registeredAt).toBeNull();
      const roster = [bank1, bank2];
      for (const bank of roster)
        await as(bank).grantConsent(`${bank}-m`, `${bank}-data`, 'm', Date.now() + 86_400_000);
      const halfAttested = await refusal(
        coordinator.openRound('m/1', 'm', 1, 'cd'.repeat(32), roster, manifest(key, 2)),
      );
      expect(halfAttested.message).toMatch(
        /not a registered collective key: only 1 of its 2 ceremony keyholders attested it/,
      );
      // A second keyholder cannot change what the first attested, nor bind another key to it.
      const otherParticipants = await refusal(
        as(KEYHOLDERS[1]!).attestCollectiveKey(
          key,
          'c-1',
          2,
          [...KEYHOLDERS].reverse(),
          testKeyLimits(),
        ),
      );
      expect(otherParticipants.message).toMatch(/another ceremony, threshold or participants/);
      // Nor the key's limits: a colluder attesting a one-round key (or a looser one) is refused.
      const otherLimits = await refusal(
        as(KEYHOLDERS[1]!).attestCollectiveKey(key, 'c-1', 2, KEYHOLDERS, testKeyLimits(2, 1)),
      );
      expect(otherLimits.message).toMatch(/was attested with other limits/);
      const otherKey = await refusal(
        as(KEYHOLDERS[1]!).attestCollectiveKey(
          'ef'.repeat(32),
          'c-1',
          2,
          KEYHOLDERS,
          testKeyLimits(),
        ),
      );
      expect(otherKey.message).toMatch(/ceremony c-1 already attested another key/);
      const registered = await as(KEYHOLDERS[1]!).attestCollectiveKey(
        key,
        'c-1',
        2,
        KEYHOLDERS,
        testKeyLimits(),
      );
      expect(registered.registeredAt).not.toBeNull();
      expect(registered.attestedBy).toEqual(KEYHOLDERS);
      expect((await as(bank1).getCollectiveKey(key)).registeredAt).not.toBeNull();
      const opened = await coordinator.openRound('m/1', 'm', 1, 'cd'.repeat(32), roster, {
        ...manifest(key, 2),
      });
      expect(opened.manifest?.ckksKeySha256).toBe(key);
      const unknown = await refusal(
        coordinator.openRound('m/2', 'm', 2, 'cd'.repeat(32), roster, manifest('01'.repeat(32), 2)),
      );
      expect(unknown.message).toMatch(/not a registered collective key: no keyholder attested it/);
    } finally {
      db.close();
    }
  });

  it("the operator's unmodified coordinator cannot open a CKKS round on a key it made alone", async () => {
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, onRealLedger));
    try {
      const error = await refusal(admin.openRound(params(1)));
      expect(error.message).toMatch(/not a registered collective key: no keyholder attested it/);
    } finally {
      admin.close();
    }
    expect(storedCkksUploads(join(consortium.directory, 'data-real'))).toEqual([]);
  }, 120_000);

  it('a member with its own ledger view refuses a round recorded only on a ledger the coordinator keeps', async () => {
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, onFork));
    const victim = consortium.members[1]!;
    const member = VeilsumClient.connect({
      ...consortium.profile(victim, onFork),
      ledger: new Ledger(realLedger.as(consortium.local.ledgerWriter(victim))),
    });
    try {
      const round = await admin.openRound(params(2));
      const error = await refusal(
        member.participateCkks(round.roundId, update, { threads: 1, waitForResult: false }),
      );
      expect(error).toBeInstanceOf(VeilsumError);
      // The round comes with the head of the coordinator's ledger, which the member's own
      // verified ledger does not hold: another chain, refused before anything else is read.
      expect(error.code).toBe(grpc.status.DATA_LOSS);
      expect(error.message).toMatch(
        /refusing the round: the coordinator is at ledger block \d+ .* not the same chain/,
      );
    } finally {
      member.close();
      admin.close();
    }
    expect(storedCkksUploads(join(consortium.directory, 'data-fork'))).toEqual([]);
  }, 600_000);

  it('a member with neither a ledger nor the key file refuses to encrypt, naming both', async () => {
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, onFork));
    const member = VeilsumClient.connect(consortium.profile(consortium.members[0]!, onFork));
    try {
      const round = await admin.openRound(params(3));
      const error = await refusal(
        member.participateCkks(round.roundId, update, { threads: 1, waitForResult: false }),
      );
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(/ConnectOptions\.ledger/);
      expect(error.message).toMatch(/--key-file/);
    } finally {
      member.close();
      admin.close();
    }
    expect(storedCkksUploads(join(consortium.directory, 'data-fork'))).toEqual([]);
  }, 600_000);
});
