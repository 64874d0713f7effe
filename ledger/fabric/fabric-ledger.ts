import {
  checkpointers,
  type Checkpointer,
  type Contract,
  type Network,
} from '@hyperledger/fabric-gateway';
import { common } from '@hyperledger/fabric-protos';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContractFunction } from '../contract.ts';
import type { ContractGateway } from '../ledger.ts';
import type { LedgerEvent, LedgerEventName } from '../records.ts';
import type { ConnectionFile, IdentityEntry, PeerEntry } from './connection-file.ts';
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
}

/** How often a submit whose reads were overtaken by another transaction is endorsed again. */
const RETRIES_ON_READ_CONFLICT = 3;
/** How often a submit whose endorsements disagreed is endorsed again (with growing pauses). */
const RETRIES_ON_DIVERGENT_ENDORSEMENTS = 4;

function divergent(error: unknown): boolean {
  const details = (error as { details?: { message: string }[] }).details ?? [];
  return details.some((detail) => detail.message.includes('ProposalResponsePayloads do not match'));
}

export class FabricLedger implements ContractGateway {
  /** Endorsed by several organisations' peers and ordered: no single party writes or rewinds it. */
  readonly agreementChannel = true;
  readonly mspId: string;
  readonly peer: PeerEntry;
  readonly identityName: string;
  private readonly link: GatewayConnection;
  private readonly network: Network;
  private readonly contract: Contract;
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
    this.peer = peer;
    this.mspId = identity.mspId;
    this.identityName = options.identity;
    this.chaincode = options.chaincode ?? connection.chaincode;
    this.endorsingOrganizations = options.endorsingOrganizations;
    this.link = openGatewayConnection(peer, identity);
    this.network = this.link.gateway.getNetwork(connection.channel);
    this.contract = this.network.getContract(this.chaincode, connection.contract);
  }

  async submit<T>(fn: ContractFunction, args: unknown[]): Promise<T> {
    const encoded = encodeArguments(args);
    for (let attempt = 0; ; attempt++) {
      let step: 'endorse' | 'submit' | 'commit' = 'endorse';
      try {
        const transaction = await this.contract
          .newProposal(fn, {
            arguments: encoded,
            ...(this.endorsingOrganizations
              ? { endorsingOrganizations: [...this.endorsingOrganizations] }
              : {}),
          })
          .endorse();
        step = 'submit';
        const submitted = await transaction.submit();
        step = 'commit';
        const status = await submitted.getStatus();
        if (!status.successful) {
          const code = validationCodeName(status.code);
          if (RETRIABLE_COMMIT_CODES.has(code) && attempt < RETRIES_ON_READ_CONFLICT) continue;
          throw new FabricLedgerError(
            'commit',
            code,
            `${fn}: transaction ${status.transactionId} was not committed: ${code}`,
          );
        }
        return decodeResult<T>(submitted.getResult());
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

  async evaluate<T>(fn: ContractFunction, args: unknown[]): Promise<T> {
    try {
      return decodeResult<T>(await this.contract.evaluateTransaction(fn, ...encodeArguments(args)));
    } catch (error) {
      throw toLedgerError(error, 'evaluate', fn);
    }
  }

  /**
   * The contract's events (ConsentGranted/Revoked, RoundOpened/Closed, ModelVersionRecorded, …)
   * as committed blocks carry them. With a checkpoint file, an event counts as handled once the
   * consumer asks for the next one; a consumer that stops early (break, crash) gets the event it
   * was handling again next time.
   */
  async *events(options: EventStreamOptions = {}): AsyncGenerator<FabricLedgerEvent> {
    const checkpointer: Checkpointer = options.checkpointFile
      ? await checkpointers.file(options.checkpointFile)
      : checkpointers.inMemory();
    const stream = await this.network.getChaincodeEvents(this.chaincode, {
      checkpoint: checkpointer,
      ...(options.startBlock !== undefined ? { startBlock: options.startBlock } : {}),
    });
    try {
      for await (const event of stream) {
        yield {
          handled: () => checkpointer.checkpointChaincodeEvent(event),
          name: event.eventName as LedgerEventName,
          payload: JSON.parse(Buffer.from(event.payload).toString('utf8')) as Record<
            string,
            unknown
          >,
          blockNumber: event.blockNumber,
          transactionId: event.transactionId,
        };
        await checkpointer.checkpointChaincodeEvent(event);
      }
    } finally {
      stream.close();
    }
  }

  /** The channel's block height as this identity's peer reports it (qscc GetChainInfo). */
  async chainHeight(): Promise<number> {
    const channel = this.network.getName();
    try {
      const info = await this.network
        .getContract('qscc')
        .evaluateTransaction('GetChainInfo', channel);
      return common.BlockchainInfo.deserializeBinary(info).getHeight();
    } catch (error) {
      throw toLedgerError(error, 'evaluate', 'GetChainInfo');
    }
  }

  close(): void {
    this.link.close();
  }
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
