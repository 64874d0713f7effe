import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';
import { CkksEngine } from '../../crypto/ckks/engine.ts';
import { keySha256 } from '../../crypto/ckks/key-ceremony.ts';
import { SUM_8192 } from '../../crypto/ckks/parameters.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { loadProfile } from '../../sdk/profile.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ceremonyInProcess, testKeyLimits, writeHeldKeyFile } from '../support/ckks-keys.ts';
import { ckksRoundParams } from '../support/ckks-round-params.ts';
import { stopProcesses } from '../support/coordinator-processes.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import { refusalOf } from '../support/refusal.ts';

/**
 * ATTACK (issue 18, "members pin the keyholders by default"): the coordinator grants roles on
 * the ledger, so it registers an organisation of its choosing ('outsider', which it controls) as
 * a keyholder, has it and one consortium keyholder make and attest a 2-of-2 key, and opens CKKS
 * rounds on it. A member without its own trusted-keyholder list took any registered keyholders:
 * it encrypted under a key whose shares the coordinator's side holds one of, and t − 1 = 1 more
 * colluder decrypts every upload. Defence: `pki init` (and the consortium's profile) writes the
 * consortium's keyholder set into every member profile; the member refuses, on its own ledger
 * view, a key held in part by anyone else until its own profile changes.
 */
const DIM = 10_000;
const MODEL = 'pinned-keyholders';
const COORDINATOR = 'veilsum-coordinator';
let consortium: Consortium;
let ledgerDb: EmbeddedLedgerDatabase;
const coordinators: ChildProcess[] = [];
const as = (id: string) => new Ledger(ledgerDb.as(consortium.local.ledgerWriter(id)));

beforeAll(async () => {
  consortium = await createConsortium(3, 'pin', { keyholders: 3, ledger: true });
  ledgerDb = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
  await as(COORDINATOR).registerMember(COORDINATOR, ['coordinator']);
  for (const id of [...consortium.keyholders, 'outsider'])
    await as(COORDINATOR).registerMember(id, ['keyholder']);
}, 240_000);

afterAll(async () => {
  await stopProcesses(coordinators);
  ledgerDb?.close();
  if (consortium) rmSync(consortium.directory, { recursive: true, force: true });
});

describe('a member pins the consortium keyholders by default', () => {
  it('a profile written for the consortium carries its keyholder set, and loading it pins them', () => {
    const member = consortium.members[0]!;
    const loaded = loadProfile(consortium.profilePath(member, 1));
    expect(loaded.threatModel?.pinnedKeyholders).toEqual(consortium.keyholders);
    expect(loaded.threatModel?.trustedKeyholders).toBeUndefined();
  });

  it('refuses a key attested by a keyholder outside its pinned set, with no policy of its own', async () => {
    const holders = [consortium.keyholders[0]!, 'outsider'];
    const engine = await CkksEngine.create(SUM_8192);
    const made = ceremonyInProcess(engine, holders.length, 2, 4242);
    const hex = Buffer.from(keySha256(made.publicKey)).toString('hex');
    for (const holder of holders)
      await as(holder).attestCollectiveKey(hex, 'ceremony-outsider', 2, holders, testKeyLimits());
    const keyFile = join(consortium.directory, 'key-outsider.json');
    writeHeldKeyFile(keyFile, 'ceremony-outsider', holders, 2, made.publicKey);
    const { child, port } = await startCoordinatorProcess(
      {
        ...consortium.config,
        dataDir: join(consortium.directory, 'data-outsider'),
        ledger: { path: join(consortium.directory, 'ledger.db'), identity: COORDINATOR },
        ckks: { keyFile },
      },
      join(consortium.directory, 'coordinator-outsider.json'),
      () => {},
    );
    coordinators.push(child);
    for (const [i, member] of consortium.members.entries())
      await as(member).grantConsent(
        `consent-${member}`,
        `transactions-${i + 1}`,
        MODEL,
        Date.now() + 86_400_000,
      );
    const admin = VeilsumClient.connect(consortium.profile(ADMIN, port));
    const victim = consortium.members[0]!;
    // The member's profile as the consortium wrote it: no trustedKeyholders of its own.
    const member = VeilsumClient.connect({
      ...consortium.profile(victim, port),
      ledger: as(victim),
    });
    try {
      const round = await admin.openRound(
        ckksRoundParams({
          modelId: MODEL,
          roundNumber: 1,
          dimension: DIM,
          members: consortium.members,
          minContributors: 3,
        }),
      );
      const update = Float32Array.from({ length: DIM }, (_, i) => Math.cos(i) * 0.5);
      const error = await refusalOf(
        member.participateCkks(round.roundId, update, { threads: 1, waitForResult: false }),
      );
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.message).toMatch(
        /held in part by outsider, who is not one of this member's keyholders pinned in its profile \(keyholder-1, keyholder-2, keyholder-3\); it takes another keyholder set only once its own profile's keyholders change/,
      );
    } finally {
      member.close();
      admin.close();
    }
  }, 300_000);
});
