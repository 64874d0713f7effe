import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { VeilsumError } from '../../sdk/errors.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ceremonyInProcess, testKeyLimits, writeHeldKeyFile } from '../support/ckks-keys.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { stopProcesses, storedCkksUploads } from '../support/coordinator-processes.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK: the coordinator grants roles on the ledger, so on the consortium's real ledger it makes
 * itself, or organisations colluding with it, the keyholders of a key — every contract check on
 * the key then passes (each holder attests as itself) — and opens CKKS rounds on it: every member
 * encrypts under a key the coordinator's side decrypts alone (before the defence the upload was
 * accepted). A variant drops the coordinator's own role while a member checks and takes it back
 * afterwards. Defences: the contract lets roles only grow and never gives one identity the
 * keyholder and the coordinator or auditor role; the member checks who holds the key on its own
 * ledger view: at least 2 keyholders (its minimumKeyThreshold), and all of them among its
 * trusted keyholders when it names them (`trustedKeyholders`, `submit --trusted-keyholders`).
 */
const DIM = 10_000; // two ciphertexts
const MODEL = 'held-key';
const COORDINATOR = 'veilsum-coordinator';
let consortium: Consortium;
let engine: CkksEngine;
let ledgerDb: EmbeddedLedgerDatabase;
const coordinators: ChildProcess[] = [];
const update = Float32Array.from({ length: DIM }, (_, i) => Math.cos(17 * i + 3) * 0.9);
const as = (id: string) => new Ledger(ledgerDb.as(consortium.local.ledgerWriter(id)));

function params(roundNumber: number): RoundParams {
  return ckksRoundParams({
    modelId: MODEL,
    roundNumber,
    dimension: DIM,
    members: consortium.members,
    minContributors: 3,
  });
}

/**
 * A key made by `holders` alone (threshold t), attested on the real ledger by each of them as
 * itself, and an unmodified coordinator process serving it. Returns the coordinator's port.
 */
async function coordinatorWithKey(
  name: string,
  holders: readonly string[],
  threshold: number,
): Promise<number> {
  const made = ceremonyInProcess(engine, holders.length, threshold, 1000 + coordinators.length);
  const hex = Buffer.from(keySha256(made.publicKey)).toString('hex');
  for (const holder of holders)
    await as(holder).attestCollectiveKey(
      hex,
      `ceremony-${name}`,
      threshold,
      [...holders],
      testKeyLimits(threshold),
    );
  expect((await as(consortium.members[0]!).getCollectiveKey(hex)).registeredAt).not.toBeNull();
  const keyFile = join(consortium.directory, `key-${name}.json`);
  writeHeldKeyFile(keyFile, `ceremony-${name}`, holders, threshold, made.publicKey);
  const { child, port } = await startCoordinatorProcess(
    {
      ...consortium.config,
      dataDir: join(consortium.directory, `data-${name}`),
      ledger: { path: join(consortium.directory, 'ledger.db'), identity: COORDINATOR },
      ckks: { keyFile },
    },
    join(consortium.directory, `coordinator-${name}.json`),
    () => {},
  );
  coordinators.push(child);
  // The first coordinator start registers the roster members; they consent once.
  if (!consented) {
    consented = true;
    for (const [i, member] of consortium.members.entries())
      await as(member).grantConsent(
        `consent-${member}`,
        `transactions-${i + 1}`,
        MODEL,
        Date.now() + 86_400_000,
      );
  }
  return port;
}
let consented = false;

/** A member with its own view of the real ledger tries to upload; the refusal it gives. */
async function memberRefusal(
  port: number,
  roundNumber: number,
  policy: MemberThreatModel = {},
): Promise<VeilsumError> {
  const admin = VeilsumClient.connect(consortium.profile(ADMIN, port));
  const victim = consortium.members[0]!;
  const member = VeilsumClient.connect({
    ...consortium.profile(victim, port),
    ledger: as(victim),
    threatModel: policy,
  });
  try {
    // The contract opens the round: the key is registered, attested by each of its holders.
    const round = await admin.openRound(params(roundNumber));
    return await refusalOf(
      member.participateCkks(round.roundId, update, { threads: 1, waitForResult: false }),
    );
  } finally {
    member.close();
    admin.close();
  }
}

beforeAll(async () => {
  consortium = await createConsortium(3, 'held', { keyholders: 3, ledger: true });
  engine = await CkksEngine.create(SUM_8192);
  ledgerDb = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
  // The coordinator bootstraps the consortium's one ledger and grants the keyholder role to
  // whichever organisations it chooses.
  await as(COORDINATOR).registerMember(COORDINATOR, ['coordinator']);
  for (const id of consortium.keyholders) await as(COORDINATOR).registerMember(id, ['keyholder']);
}, 240_000);

afterAll(async () => {
  await stopProcesses(coordinators);
  ledgerDb?.close();
});

describe('a member encrypts only under a key held by keyholders its own policy accepts', () => {
  it('the coordinator cannot hold key shares itself, nor drop its role while a member checks', async () => {
    const coordinator = as(COORDINATOR);
    await expect(coordinator.registerMember(COORDINATOR, ['keyholder'])).rejects.toThrow(
      /veilsum-coordinator would hold the keyholder and the coordinator role/,
    );
    // Re-registering with fewer roles removes none: the coordinator stays a coordinator.
    await coordinator.registerMember(COORDINATOR, ['member']);
    expect((await as(consortium.members[0]!).getMember(COORDINATOR)).roles).toContain(
      'coordinator',
    );
    // Nor can a keyholder it chose be made a coordinator or auditor afterwards.
    for (const role of ['coordinator', 'auditor'] as const)
      await expect(coordinator.registerMember(consortium.keyholders[0]!, [role])).rejects.toThrow(
        /a keyholder may not also be a coordinator or auditor/,
      );
    const attest = await as(COORDINATOR)
      .attestCollectiveKey('ab'.repeat(32), 'self', 1, [COORDINATOR], testKeyLimits())
      .catch((error: unknown) => error as Error);
    expect(attest).toBeInstanceOf(Error);
    expect((attest as Error).message).toMatch(/needs the keyholder role/);
  }, 120_000);

  it('a 1-of-1 key one colluding keyholder made cannot be registered on the ledger', async () => {
    const alone = consortium.keyholders[0]!;
    const made = ceremonyInProcess(engine, 1, 1, 999);
    const hex = Buffer.from(keySha256(made.publicKey)).toString('hex');
    const attest = await as(alone)
      .attestCollectiveKey(hex, 'ceremony-alone', 1, [alone], testKeyLimits())
      .catch((error: unknown) => error as Error);
    expect(attest).toBeInstanceOf(Error);
    expect((attest as Error).message).toMatch(
      /needs at least 2 keyholders and a threshold of at least 2 \(one keyholder could decrypt alone\)/,
    );
    // So no round can name it, and a member's own floor (2, test/unit/ckks-key-policy.test.ts)
    // is a second line should a ledger written before this rule hold one.
    const missing = await as(consortium.members[0]!)
      .getCollectiveKey(hex)
      .catch((error: unknown) => error as Error);
    expect((missing as Error).message).toMatch(/no collective key/);
  }, 120_000);

  it('refuses a key of keyholders outside its trusted list, and a threshold below its own floor', async () => {
    const colluders = consortium.keyholders.slice(0, 2);
    const port = await coordinatorWithKey('colluders', colluders, 2);
    const trusted = [consortium.keyholders[2]!, 'keyholder-elsewhere'];
    const error = await memberRefusal(port, 2, { trustedKeyholders: trusted });
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.message).toMatch(
      /held in part by keyholder-1, who is not one of this member's trusted keyholders \(keyholder-3, keyholder-elsewhere\)/,
    );
    const raised = await memberRefusal(port, 3, { minimumKeyThreshold: 3 });
    expect(raised.message).toMatch(/decrypts with 2 of its 2 keyholders; .* at least 3/);
    expect(storedCkksUploads(join(consortium.directory, 'data-colluders'))).toEqual([]);
  }, 300_000);
});
