import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADMIN, createLocalConsortium } from '../../cli/demo/local-consortium.ts';
import { validationCodeName } from '../../ledger/fabric/fabric-errors.ts';
import { FabricLedger } from '../../ledger/fabric/fabric-ledger.ts';
import { DEFAULT_FAILOVER } from '../../ledger/fabric/peer-failover.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { isRunning } from '../../network/processes.ts';
import { killNode, restartPeer } from '../../network/fabric-network.ts';
import { Phase } from '../../proto/gen/veilsum/v1/round.ts';
import type { Coordinator } from '../../services/coordinator/coordinator.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { FIXTURE_POLICY } from '../support/consortium.ts';
import { useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { rawClient } from '../ledger/fabric-raw-client.ts';
import { quantizedInputs, secAggParams, startCoordinator, sumOf } from './fault-harness.ts';

/**
 * A 4-bank Fabric network (endorsement: 3 of 4). The peer that the coordinator's identity uses
 * as its Gateway — BankA's, which is also BankA's own peer — is killed (SIGKILL) in the middle
 * of a SecAgg round, after U1 and U2 were committed through it. Three of four peers, a
 * majority, are up: the coordinator's remaining ledger writes (U3, RoundClosed) and the
 * members' ledger reads move to another bank's peer, the round completes with every member's
 * update in the sum, and an auditor reads the closed round through yet another bank's peer.
 * Before failover, every member failed with INTERNAL and the round aborted.
 */
jest.setTimeout(300_000);

const BANKS = ['BankAMSP', 'BankBMSP', 'BankCMSP', 'BankDMSP'];
const MODEL = 'fault-model';
const running = useFabricTestNetwork(500, BANKS);
const directory = mkdtempSync(join(tmpdir(), 'veilsum-gateway-killed-'));
const closing: (() => unknown)[] = [];

afterAll(async () => {
  for (const close of closing.reverse()) await close();
  rmSync(directory, { recursive: true, force: true });
});

describe('a transaction sent again after its outcome was lost', () => {
  it('commits once: the same signed envelope through another peer is a duplicate, and its status is the first commit', async () => {
    // FabricLedger re-sends the SAME envelope when a peer dies between submit and commit status;
    // this is what makes that safe, played on the real network.
    const net = running();
    const chaincode = await net.freshChaincode();
    const viaA = rawClient(net.connection, { identity: 'CoordinatorMSP' });
    const viaB = rawClient(net.connection, {
      identity: 'CoordinatorMSP',
      peer: net.peerOf('BankBMSP'),
    });
    try {
      const transaction = await viaA
        .contract(chaincode)
        .newProposal('registerMember', {
          arguments: [JSON.stringify('CoordinatorMSP'), JSON.stringify(['coordinator'])],
        })
        .endorse();
      const first = await transaction.submit();
      expect((await first.getStatus()).successful).toBe(true);
      const resent = await viaB.gateway.newTransaction(transaction.getBytes()).submit();
      const status = await resent.getStatus();
      expect(status).toMatchObject({ successful: true, transactionId: first.getTransactionId() });
      // Both copies are in blocks; only the first is valid.
      const copies: string[] = [];
      const blocks = await viaB.gateway
        .getNetwork(net.connection.channel)
        .getFilteredBlockEvents({ startBlock: status.blockNumber });
      try {
        for await (const block of blocks) {
          for (const tx of block.getFilteredTransactionsList())
            if (tx.getTxid() === first.getTransactionId())
              copies.push(validationCodeName(tx.getTxValidationCode()));
          if (copies.length === 2) break;
        }
      } finally {
        blocks.close();
      }
      expect(copies).toEqual(['VALID', 'DUPLICATE_TXID']);
    } finally {
      viaA.close();
      viaB.close();
    }
  });
});

describe("the coordinator's gateway peer is killed mid-round", () => {
  it('the round completes through the other peers and the audit reads through another peer', async () => {
    const net = running();
    const { connection } = net;
    const connectionFile = net.network.connectionFile;
    const gatewayPeer = connection.identities.CoordinatorMSP!.peer;
    expect(gatewayPeer).toBe(net.peerOf('BankAMSP'));

    const local = await createLocalConsortium({
      directory,
      members: BANKS,
      ledgerFor: (identity) => ({
        fabric: {
          connection: connectionFile,
          identity: identity === 'veilsum-coordinator' ? 'CoordinatorMSP' : identity,
        },
      }),
    });
    const coordinator: Coordinator = await startCoordinator({
      ...local.coordinatorConfig,
      dataDir: join(directory, 'coordinator-data'),
    });
    closing.push(() => coordinator.stop());

    // Each bank's view of the ledger: its own identity through its own peer (failover on).
    const views = BANKS.map((bank) => {
      // BankA tries its own peer again on every call (default: 30 s after it moved away).
      const fabric = new FabricLedger({
        connection,
        identity: bank,
        ...(bank === 'BankAMSP' ? { failover: { ...DEFAULT_FAILOVER, returnHomeAfterMs: 0 } } : {}),
      });
      closing.push(() => fabric.close());
      expect(fabric.peer.name).toBe(net.peerOf(bank));
      return fabric;
    });
    const ledgers = views.map((fabric) => new Ledger(fabric));
    const expires = Date.now() + 365 * 86_400_000;
    await Promise.all(
      ledgers.map((ledger, i) => ledger.grantConsent(`consent-${i}`, `data-${i}`, MODEL, expires)),
    );
    await net.inStep();

    const connect = (id: string, ledger?: Ledger) => {
      const client = VeilsumClient.connect({
        ...local.profile(id, coordinator.port),
        retry: { totalMs: 60_000, initialDelayMs: 50, maxDelayMs: 1_000 },
        threatModel: FIXTURE_POLICY,
        ...(ledger ? { ledger } : {}),
      });
      closing.push(() => client.close());
      return client;
    };
    const admin = connect(ADMIN);
    const members = BANKS.map((bank, i) => connect(bank, ledgers[i]));
    const dimension = 1_000;
    const inputs = quantizedInputs(BANKS.length, dimension, 19);
    const round = await admin.openRound(secAggParams(BANKS, 1, { dimension, modelId: MODEL }));

    // The kill comes when BankA reaches masked input: U1 and U2 are committed (through the
    // gateway peer), and U3 and RoundClosed cannot be written before BankA's upload, which
    // waits until the peer is dead.
    let killed: Promise<void> | undefined;
    const settled = await Promise.allSettled(
      members.map((member, i) =>
        member.participateQuantized(round, inputs[i]!, {
          ...(i === 0
            ? {
                onProgress: (progress) => {
                  if (progress.step === 'masked-input' && killed === undefined)
                    killed = killNode(net.directory, gatewayPeer);
                },
                delayUploadMs: 2_000,
              }
            : {}),
        }),
      ),
    );
    // Every member's outcome at once (on failure, all four reasons are shown).
    expect(
      settled.map((outcome) =>
        outcome.status === 'fulfilled'
          ? { included: outcome.value.included }
          : { error: (outcome.reason as Error).message },
      ),
    ).toEqual(BANKS.map(() => ({ included: true })));
    expect(killed).toBeDefined();
    await killed;
    expect(isRunning(net.directory, gatewayPeer)).toBe(false);
    // BankA lost its own peer too: it read U3 through the others (a majority of banks agreeing).
    expect(views[0]!.peer.name).not.toBe(gatewayPeer);
    expect(views.slice(1).map((view) => view.peer.name)).toEqual(
      BANKS.slice(1).map((bank) => net.peerOf(bank)),
    );

    const finished = await admin.getRound(round.roundId);
    expect(finished.phase).toBe(Phase.PHASE_DONE);
    expect(finished.abortReason).toBe('');
    expect([...finished.included]).toEqual([1, 2, 3, 4]);
    expect(await admin.getAggregate(round.roundId)).toEqual(sumOf(inputs, [1, 2, 3, 4]));

    // The audit, through a peer that is neither the dead one nor the coordinator's new one.
    const auditor = new FabricLedger({
      connection,
      identity: 'AuditorMSP',
      peer: net.peerOf('BankDMSP'),
    });
    closing.push(() => auditor.close());
    const audit = new Ledger(auditor);
    const onLedger = await audit.whenCommitted(
      () => audit.getRound(round.roundId).then((r) => (r.status === 'closed' ? r : undefined)),
      (event) => event.name === 'RoundClosed' && event.payload.roundId === round.roundId,
      30_000,
    );
    expect(auditor.peer.name).toBe(net.peerOf('BankDMSP'));
    expect(onLedger).toMatchObject({
      status: 'closed',
      aggregateHash: Buffer.from(finished.aggregateSha256).toString('hex'),
      included: BANKS,
    });
    for (const phase of ['advertised', 'shared', 'masked'] as const)
      expect((await audit.getRoundPhase(round.roundId, phase)).members).toEqual([1, 2, 3, 4]);

    // BankA's peer comes back: BankA reads through it again (its own view, no majority needed).
    await restartPeer(net.directory, gatewayPeer);
    await views[0]!.waitForHeight(await auditor.chainHeight(), 60_000);
    // The peer listens before its Gateway answers, and the client's channel to it may still be
    // waiting out a reconnect backoff (at most 5 s): read until BankA is home, for up to 30 s.
    const home = Date.now() + 30_000;
    for (;;) {
      expect(await ledgers[0]!.getRound(round.roundId)).toMatchObject({ status: 'closed' });
      if (views[0]!.peer.name === gatewayPeer || Date.now() > home) break;
      await sleep(500);
    }
    expect(views[0]!.peer.name).toBe(gatewayPeer);
  });
});
