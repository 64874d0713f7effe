import {
  checkpointers,
  type ChaincodeEvent,
  type Checkpointer,
  type CloseableAsyncIterable,
  type Contract,
  type Network,
  type Status,
  type Transaction,
} from '@hyperledger/fabric-gateway';
import { common } from '@hyperledger/fabric-protos';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContractFunction } from '../contract.ts';
import type { ContractGateway } from '../ledger.ts';
import type { LedgerEvent, LedgerEventName } from '../records.ts';
import type { ConnectionFile, IdentityEntry, PeerEntry } from './connection-file.ts';
import { majorityVerdict, type PeerOutcome } from './majority-read.ts';
import {
  DEFAULT_FAILOVER,
  onReachablePeer,
  peerUnreachable,
  type FailoverPolicy,
} from './peer-failover.ts';
import { openGatewayConnection, type GatewayConnection } from './gateway-connection.ts';
import {
  RETRIABLE_COMMIT_CODES,
  toLedgerError,
  validationCodeName,
  FabricLedgerError,
} from './fabric-errors.ts';

/**
 * The consortium ledger on a Fabric network, through @hyperledger/fabric-gateway: a
 * ContractGateway whose caller is a Fabric identity (its MSP id is the member id the contract
 * sees, proven by the certificate, not configured). Any contract function is dispatched by name
 * with JSON arguments — the same convention chaincode/veilsum-contract.ts decodes — so new
 * contract functions need no change here.
 */
export interface FabricLedgerOptions {
  readonly connection: ConnectionFile;
  /** Name of the identity in the connection file. */
  readonly identity: string;
  /** Peer (by name) whose Gateway to use; defaults to the identity's own peer. */
  readonly peer?: string;
  /** Chaincode name override (tests deploy one per fresh ledger). */
  readonly chaincode?: string;
  /**
   * Organisations to collect endorsements from. Default: the Gateway's discovery picks peers
   * that satisfy the chaincode's endorsement policy (a majority of banks).
   */
  readonly endorsingOrganizations?: readonly string[];
  /**
   * Move to another peer of the connection file when this one cannot be reached (true: the
   * default policy). Default: on, unless `peer` names the one peer to use.
   */
  readonly failover?: boolean | FailoverPolicy;
}

export interface FabricLedgerEvent extends LedgerEvent {
  readonly blockNumber: bigint;
  readonly transactionId: string;
  /**
   * Records this event as handled in the checkpoint now (asking for the next event does the
   * same): a consumer that stops right after handling it does not get it again.
   */
  handled(): Promise<void>;
}

export interface EventStreamOptions {
  /**
   * File that remembers the last event handled; a restarted reader resumes after it, so it
   * misses none (an event whose handling did not finish is delivered again).
   */
  readonly checkpointFile?: string;
  /** Block to start at when there is no checkpoint yet (default: the next block). */
  readonly startBlock?: bigint;
  /**
   * Called each time the stream is (re)opened on a trusted peer and that peer answered (its
   * chain info, asked right after the stream): a follower may then say it is current again.
   */
  readonly onOpen?: () => void;
}

/** How often a submit whose reads were overtaken by another transaction is endorsed again. */
const RETRIES_ON_READ_CONFLICT = 3;
/** How long peers get to report the commit of a transaction another bank's peer forwarded. */
const COMMIT_CONFIRMATION_MS = 15_000;
/** How often a majority read whose peers disagreed (one may lag a block) is asked again. */
const RETRIES_ON_DISAGREEING_READS = 4;
/** How often a submit whose endorsements disagreed is endorsed again (with growing pauses). */
const RETRIES_ON_DIVERGENT_ENDORSEMENTS = 4;

function divergent(error: unknown): boolean {
  const details = (error as { details?: { message: string }[] }).details ?? [];
  return details.some((detail) => detail.message.includes('ProposalResponsePayloads do not match'));
}

/** One peer's Gateway, opened when first needed. */
interface PeerLink {
  readonly peer: PeerEntry;
  readonly connection: GatewayConnection;
  readonly network: Network;
  readonly contract: Contract;
}

export class FabricLedger implements ContractGateway {
  /** Endorsed by several organisations' peers and ordered: no single party writes or rewinds it. */
  readonly agreementChannel = true;
  readonly mspId: string;
  readonly identityName: string;
  /** The peers this client may use, in the order it tries them (its own first). */
  private readonly peers: readonly PeerEntry[];
  private readonly identity: IdentityEntry;
  private readonly channel: string;
  private readonly contractName: string;
  private readonly links = new Map<string, PeerLink>();
  /**
   * Peers whose answer alone this client takes: its organisation's own and the one its
   * connection file assigns it. Reads through any other peer need a majority of banks.
   */
  private readonly trusted: ReadonlySet<string>;
  /** Banks (organisations with a peer) whose agreement makes a majority. */
  private readonly majority: number;
  private active = 0;
  /** When this client last moved to another peer. */
  private movedAt = 0;
  private readonly failover: FailoverPolicy | undefined;
  private readonly chaincode: string;
  private readonly endorsingOrganizations: readonly string[] | undefined;

  constructor(options: FabricLedgerOptions) {
    const { connection } = options;
    const identity: IdentityEntry | undefined = connection.identities[options.identity];
    if (identity === undefined) {
      throw new FabricLedgerError(
        'connect',
        'NO_IDENTITY',
        `no identity ${options.identity} in the connection file (it has ${Object.keys(connection.identities).join(', ')})`,
      );
    }
    const peerName = options.peer ?? identity.peer;
    const peer = connection.peers.find((p) => p.name === peerName);
    if (peer === undefined) {
      throw new FabricLedgerError(
        'connect',
        'NO_PEER',
        `no peer ${peerName} in the connection file (it has ${connection.peers.map((p) => p.name).join(', ')})`,
      );
    }
    // A peer named explicitly is the one to read through (an auditor checking one bank's copy):
    // no failover unless asked for. Otherwise any bank's peer will do when the own one is down.
    const failover = options.failover ?? (options.peer === undefined ? DEFAULT_FAILOVER : false);
    this.failover =
      failover === false ? undefined : failover === true ? DEFAULT_FAILOVER : failover;
    this.peers = this.failover
      ? [
          peer,
          ...connection.peers.filter((p) => p !== peer && p.mspId === peer.mspId),
          ...connection.peers.filter((p) => p !== peer && p.mspId !== peer.mspId),
        ]
      : [peer];
    this.trusted = new Set([
      peer.name,
      identity.peer,
      ...connection.peers.filter((p) => p.mspId === identity.mspId).map((p) => p.name),
    ]);
    this.majority = Math.floor(new Set(connection.peers.map((p) => p.mspId)).size / 2) + 1;
    this.identity = identity;
    this.mspId = identity.mspId;
    this.identityName = options.identity;
    this.channel = connection.channel;
    this.contractName = connection.contract;
    this.chaincode = options.chaincode ?? connection.chaincode;
    this.endorsingOrganizations = options.endorsingOrganizations;
    this.link(0);
  }

  /** This client's own peer (the one named, or its identity's): never another after a failover. */
  get ownPeer(): PeerEntry {
    return this.peers[0]!;
  }

  /** The peer whose Gateway this client uses now (another one after a failover). */
  get peer(): PeerEntry {
    return this.peers[this.active]!;
  }

  private link(index: number): PeerLink {
    const peer = this.peers[index]!;
    let link = this.links.get(peer.name);
    if (link === undefined) {
      const connection = openGatewayConnection(peer, this.identity);
      const network = connection.gateway.getNetwork(this.channel);
      link = {
        peer,
        connection,
        network,
        contract: network.getContract(this.chaincode, this.contractName),
      };
      this.links.set(peer.name, link);
    }
    return link;
  }

  /** Runs `work` on the active peer, moving to the next peer while the active one is down. */
  private onReachablePeer<T>(work: (link: PeerLink, attempt: number) => Promise<T>): Promise<T> {
    if (this.failover === undefined) return work(this.link(this.active), 0);
    // A while after a failover, the own peer is tried first again: once it is back, reads stop
    // needing a majority of the other banks.
    if (this.active !== 0 && Date.now() - this.movedAt >= this.failover.returnHomeAfterMs)
      this.active = 0;
    return onReachablePeer(
      {
        size: this.peers.length,
        current: () => this.active,
        advance: () => {
          this.active = (this.active + 1) % this.peers.length;
          this.movedAt = Date.now();
        },
      },
      this.failover,
      (index, attempt) => work(this.link(index), attempt),
    );
  }

  /**
   * Advances the ledger clock to now (chaincode/ledger-clock.ts): an openRound endorsed before
   * this commits then fails Fabric's version check, so a coordinator cannot hold an endorsed
   * round and submit it once a consent it checked has expired. Any registered organisation may;
   * members, keyholders and auditors that do so periodically bound how long a hold can last.
   * Returns the clock's new time (ms since the epoch). Not endorsed again when it loses a race
   * (MVCC_READ_CONFLICT): the conflict means another party advanced the clock, which is the point;
   * a retry would only add an invalid transaction to every party's ledger.
   */
  advanceClock(): Promise<number> {
    // A chaincode transaction, not a function of the shared contract (the embedded ledger has
    // no clock to advance).
    return this.submit<number>('advanceClock' as ContractFunction, [], {
      retryOnReadConflict: false,
    });
  }

  async submit<T>(
    fn: ContractFunction,
    args: unknown[],
    options: { retryOnReadConflict?: boolean } = {},
  ): Promise<T> {
    const retriesOnReadConflict =
      options.retryOnReadConflict === false ? 0 : RETRIES_ON_READ_CONFLICT;
    const encoded = encodeArguments(args);
    for (let attempt = 0; ; attempt++) {
      let step: 'endorse' | 'submit' | 'commit' = 'endorse';
      try {
        const transaction = await this.onReachablePeer(({ contract }) =>
          contract
            .newProposal(fn, {
              arguments: encoded,
              ...(this.endorsingOrganizations
                ? { endorsingOrganizations: [...this.endorsingOrganizations] }
                : {}),
            })
            .endorse(),
        );
        step = 'submit';
        const status = await this.ordered(transaction, (reached) => (step = reached));
        if (!status.successful) {
          const code = validationCodeName(status.code);
          if (RETRIABLE_COMMIT_CODES.has(code) && attempt < retriesOnReadConflict) continue;
          throw new FabricLedgerError(
            'commit',
            code,
            `${fn}: transaction ${status.transactionId} was not committed: ${code}`,
          );
        }
        return decodeResult<T>(transaction.getResult());
      } catch (error) {
        // Endorsers that disagree: usually a peer that has not yet committed the last block
        // (peers commit independently); it catches up within a block time. A peer whose state
        // really differs (edited on disk) keeps disagreeing, and the submit fails.
        if (step === 'endorse' && attempt < RETRIES_ON_DIVERGENT_ENDORSEMENTS && divergent(error)) {
          await sleep(200 * (attempt + 1));
          continue;
        }
        throw toLedgerError(error, step, fn);
      }
    }
  }

  /**
   * Sends an endorsed transaction to the orderer and waits for its commit status, through
   * whichever peer answers. If the peer dies after the orderer may have accepted the
   * transaction, the SAME signed transaction (same id) goes again through another peer, never
   * a new one: Fabric commits a transaction id at most once (a second copy is invalidated as
   * DUPLICATE_TXID, and its reads no longer match anyway), so an unknown outcome cannot make a
   * write apply twice. Once the orderer accepted it, only its status is asked again.
   */
  private async ordered(
    transaction: Transaction,
    reached: (step: 'submit' | 'commit') => void,
  ): Promise<Status> {
    const prepared = transaction.getBytes();
    let commit: Uint8Array | undefined;
    return this.onReachablePeer(async (link, attempt) => {
      const { gateway } = link.connection;
      let status: Status;
      if (commit === undefined) {
        reached('submit');
        const submitted = await (
          attempt === 0 ? transaction : gateway.newTransaction(prepared)
        ).submit();
        commit = submitted.getBytes();
        reached('commit');
        status = await submitted.getStatus();
      } else {
        status = await gateway.newCommit(commit).getStatus();
      }
      // Another bank's Gateway could claim a commit that never happened (a revocation it
      // dropped): its word counts only if a majority of banks' peers report the same.
      return this.trusted.has(link.peer.name) ? status : this.commitByMajority(commit);
    });
  }

  /** The commit status of a transaction as peers of a majority of the banks report it. */
  private async commitByMajority(commit: Uint8Array): Promise<Status> {
    const statuses = new Map<string, Status>();
    const outcomes = await Promise.all(
      this.peers.map(async (peer, index): Promise<PeerOutcome> => {
        try {
          const status = await this.link(index)
            .connection.gateway.newCommit(commit)
            .getStatus({ deadline: Date.now() + COMMIT_CONFIRMATION_MS });
          const key = `${status.code}@${status.blockNumber}`;
          statuses.set(key, status);
          return { mspId: peer.mspId, result: Buffer.from(key) };
        } catch (error) {
          return { mspId: peer.mspId, error };
        }
      }),
    );
    const verdict = majorityVerdict(outcomes, this.majority);
    if (verdict.kind === 'agreed' && 'result' in verdict.outcome)
      return statuses.get(Buffer.from(verdict.outcome.result).toString())!;
    if (verdict.kind === 'unreachable') throw verdict.error;
    throw new FabricLedgerError(
      'commit',
      'NO_MAJORITY',
      `the commit status of a transaction sent through another bank's peer is not confirmed by peers of ${this.majority} banks (${verdict.kind === 'disagree' ? verdict.answers : 'no answer'})`,
    );
  }

  async evaluate<T>(fn: ContractFunction, args: unknown[]): Promise<T> {
    const encoded = encodeArguments(args);
    try {
      return decodeResult<T>(
        await this.onReachablePeer((link) =>
          this.trusted.has(link.peer.name)
            ? link.contract.evaluateTransaction(fn, ...encoded)
            : this.evaluateByMajority(fn, encoded),
        ),
      );
    } catch (error) {
      throw toLedgerError(error, 'evaluate', fn);
    }
  }

  /**
   * An evaluation this client's trusted peers cannot serve (they are down): asked of every peer,
   * answered only if peers of a majority of the banks agree (ledger/fabric/majority-read.ts).
   * Peers that disagree may only lag a block: asked again a few times before giving up.
   */
  private async evaluateByMajority(fn: ContractFunction, encoded: string[]): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      const outcomes = await Promise.all(
        this.peers.map(async (peer, index): Promise<PeerOutcome> => {
          try {
            const result = await this.link(index).contract.evaluateTransaction(fn, ...encoded);
            return { mspId: peer.mspId, result };
          } catch (error) {
            return { mspId: peer.mspId, error };
          }
        }),
      );
      const verdict = majorityVerdict(outcomes, this.majority);
      if (verdict.kind === 'agreed') {
        if ('result' in verdict.outcome) return verdict.outcome.result;
        throw verdict.outcome.error;
      }
      if (verdict.kind === 'unreachable') throw verdict.error;
      if (attempt >= RETRIES_ON_DISAGREEING_READS)
        throw new FabricLedgerError(
          'evaluate',
          'NO_MAJORITY',
          `${fn}: this client's own peer is down and the other peers' answers do not agree for a majority of ${this.majority} banks (${verdict.answers}): refusing to trust any one of them`,
        );
      await sleep(200 * (attempt + 1));
    }
  }

  /**
   * The contract's events (ConsentGranted/Revoked, RoundOpened/Closed, ModelVersionRecorded, …)
   * as committed blocks carry them. With a checkpoint file, an event counts as handled once the
   * consumer asks for the next one; a consumer that stops early (break, crash) gets the event it
   * was handling again next time. If the peer goes down, the stream resumes on another peer
   * after the last event handled (with failover on).
   */
  async *events(options: EventStreamOptions = {}): AsyncGenerator<FabricLedgerEvent> {
    const checkpointer: Checkpointer = options.checkpointFile
      ? await checkpointers.file(options.checkpointFile)
      : checkpointers.inMemory();
    // An event stream is one peer's word: it is read only from peers this client trusts alone
    // (its own organisation's, its assigned one), moving between them when one goes down.
    const trusted = this.peers.flatMap((peer, index) =>
      this.trusted.has(peer.name) ? [index] : [],
    );
    let failures = 0;
    for (let turn = 0; ; turn++) {
      let stream: CloseableAsyncIterable<ChaincodeEvent> | undefined;
      try {
        const { network } = this.link(trusted[turn % trusted.length]!);
        stream = await network.getChaincodeEvents(this.chaincode, {
          checkpoint: checkpointer,
          ...(options.startBlock !== undefined ? { startBlock: options.startBlock } : {}),
        });
        if (options.onOpen) {
          // Opening the stream does not reach the peer (its errors come with the first read):
          // the same trusted peer answering a query says the stream is really open.
          await network.getContract('qscc').evaluateTransaction('GetChainInfo', this.channel);
          options.onOpen();
        }
        for await (const event of stream) {
          failures = 0;
          yield {
            ...ledgerEventOf(event),
            handled: () => checkpointer.checkpointChaincodeEvent(event),
            blockNumber: event.blockNumber,
            transactionId: event.transactionId,
          };
          await checkpointer.checkpointChaincodeEvent(event);
        }
        return;
      } catch (error) {
        if (this.failover === undefined || !peerUnreachable(error) || ++failures > trusted.length)
          throw toLedgerError(error, 'evaluate', 'chaincode events');
        await sleep(this.failover.initialDelayMs * failures);
      } finally {
        stream?.close();
      }
    }
  }

  /**
   * `read` once this client's own peer has committed the record: reads; if the record is not
   * there yet (written through another peer, which commits blocks on its own schedule), follows
   * the chaincode events this peer commits from the height it had before the read, and reads
   * again when one `matches`. Undefined if none came within `timeoutMs`. No polling: one event
   * stream, closed on return.
   */
  async awaitCommitted<T>(
    read: () => Promise<T | undefined>,
    matches: (event: LedgerEvent) => boolean,
    timeoutMs: number,
  ): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Blocks from `from` on are not yet reflected in the read that follows: their events are.
      const from = BigInt(await this.chainHeight());
      const found = await read();
      if (found !== undefined || Date.now() >= deadline) return found;
      let timedOut = false;
      let stream: CloseableAsyncIterable<ChaincodeEvent> | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        stream?.close();
      }, deadline - Date.now());
      try {
        stream = await this.onReachablePeer(({ network }) =>
          network.getChaincodeEvents(this.chaincode, { startBlock: from }),
        );
        if (timedOut) return undefined;
        for await (const event of stream) {
          if (matches(ledgerEventOf(event))) {
            const committed = await read();
            if (committed !== undefined) return committed;
          }
        }
        if (timedOut) return undefined;
      } catch (error) {
        if (timedOut) return undefined;
        if (this.failover === undefined || !peerUnreachable(error))
          throw toLedgerError(error, 'evaluate', 'chaincode events');
        // The peer went down while we waited: read again, then follow another peer.
      } finally {
        clearTimeout(timer);
        stream?.close();
      }
    }
  }

  /**
   * Resolves once this client's peer has committed block `height - 1` (its height reached
   * `height`), following the blocks it commits (filtered block events) rather than asking
   * again and again. Rejects after `timeoutMs`.
   */
  async waitForHeight(height: number, timeoutMs: number): Promise<void> {
    if (height <= 0 || (await this.chainHeight()) >= height) return;
    const stream = await this.onReachablePeer(({ network }) =>
      network.getFilteredBlockEvents({ startBlock: BigInt(height - 1) }),
    );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stream.close();
    }, timeoutMs);
    try {
      for await (const block of stream) if (block.getNumber() >= height - 1) return;
    } catch (error) {
      if (!timedOut) throw toLedgerError(error, 'evaluate', 'block events');
    } finally {
      clearTimeout(timer);
      stream.close();
    }
    throw new FabricLedgerError(
      'evaluate',
      'DEADLINE_EXCEEDED',
      `${this.peer.name} did not reach block height ${height} within ${timeoutMs / 1000} s`,
    );
  }

  /** The channel's block height as this client's peer reports it (qscc GetChainInfo). */
  async chainHeight(): Promise<number> {
    return (await this.chainInfo()).height;
  }

  /**
   * The channel's height and the hash of its last block (hex), as this client's peer reports
   * them. With `ownPeer`, only this client's own peer is asked (no failover: another bank's
   * peer's word alone is not shown as this client's view of the chain).
   */
  async chainInfo(
    options: { ownPeer?: boolean } = {},
  ): Promise<{ height: number; headHash: string }> {
    try {
      const ask = ({ network }: PeerLink) =>
        network.getContract('qscc').evaluateTransaction('GetChainInfo', this.channel);
      const info = common.BlockchainInfo.deserializeBinary(
        options.ownPeer ? await ask(this.link(0)) : await this.onReachablePeer(ask),
      );
      return {
        height: info.getHeight(),
        headHash: Buffer.from(info.getCurrentblockhash_asU8()).toString('hex'),
      };
    } catch (error) {
      throw toLedgerError(error, 'evaluate', 'GetChainInfo');
    }
  }

  /**
   * Block `number` of the channel as this client's own peer stores it (qscc GetBlockByNumber):
   * the block's protobuf bytes, signatures and all, for evidence a verifier checks offline.
   */
  async blockBytes(number: number): Promise<Uint8Array> {
    try {
      return await this.link(0)
        .network.getContract('qscc')
        .evaluateTransaction('GetBlockByNumber', this.channel, String(number));
    } catch (error) {
      throw toLedgerError(error, 'evaluate', 'GetBlockByNumber');
    }
  }

  /** The chaincode this client's contract runs in (the write sets' namespace). */
  get chaincodeName(): string {
    return this.chaincode;
  }

  get channelName(): string {
    return this.channel;
  }

  close(): void {
    for (const link of this.links.values()) link.connection.close();
    this.links.clear();
  }
}

function ledgerEventOf(event: ChaincodeEvent): LedgerEvent {
  return {
    name: event.eventName as LedgerEventName,
    payload: JSON.parse(Buffer.from(event.payload).toString('utf8')) as Record<string, unknown>,
  };
}

/** Every argument travels as one JSON string (chaincode/veilsum-contract.ts parses each). */
function encodeArguments(args: readonly unknown[]): string[] {
  return args.map((arg) => JSON.stringify(arg));
}

/** Results come back as JSON; `null` is the chaincode's "nothing" (undefined in-process). */
function decodeResult<T>(bytes: Uint8Array): T {
  const text = Buffer.from(bytes).toString('utf8');
  const value = text === '' ? null : (JSON.parse(text) as unknown);
  return (value ?? undefined) as T;
}
