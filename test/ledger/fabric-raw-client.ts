import type { Contract, Gateway } from '@hyperledger/fabric-gateway';
import { common, gateway as gatewayProtos, ledger, peer } from '@hyperledger/fabric-protos';
import type { ConnectionFile } from '../../ledger/fabric/connection-file.ts';
import { openGatewayConnection } from '../../ledger/fabric/gateway-connection.ts';

/**
 * A fabric-gateway client below FabricLedger, for tests that play a client which does not follow
 * the rules: it can claim any MSP id with any certificate, send raw (non-JSON) arguments, and
 * alter an endorsed transaction before submitting it.
 */
export interface RawClient {
  readonly gateway: Gateway;
  contract(chaincode: string): Contract;
  close(): void;
}

export function rawClient(
  connection: ConnectionFile,
  options: {
    /** The identity whose certificate and key are used. */
    readonly identity: string;
    /** The MSP id claimed (default: the identity's own). */
    readonly claimedMspId?: string;
    /** Peer name (default: the identity's peer). */
    readonly peer?: string;
  },
): RawClient {
  const identity = connection.identities[options.identity]!;
  const peerEntry = connection.peers.find((p) => p.name === (options.peer ?? identity.peer))!;
  const link = openGatewayConnection(peerEntry, {
    ...identity,
    mspId: options.claimedMspId ?? identity.mspId,
  });
  const { gateway } = link;
  return {
    gateway,
    contract: (chaincode) =>
      gateway.getNetwork(connection.channel).getContract(chaincode, connection.contract),
    close: () => link.close(),
  };
}

/**
 * Rewrites the values of the write set inside an endorsed, unsigned transaction (the bytes of
 * fabric-gateway's Transaction.getBytes()) and returns the re-encoded transaction; the client's
 * signature is added when it is submitted. The endorsers' signatures are left as they were.
 */
export function rewriteWrites(
  prepared: Uint8Array,
  edit: (key: string, value: string) => string,
): Uint8Array {
  const transaction = gatewayProtos.PreparedTransaction.deserializeBinary(prepared);
  const envelope = transaction.getEnvelope()!;
  const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
  const tx = peer.Transaction.deserializeBinary(payload.getData_asU8());
  let edited = 0;
  for (const action of tx.getActionsList()) {
    const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
    const endorsed = actionPayload.getAction()!;
    const responsePayload = peer.ProposalResponsePayload.deserializeBinary(
      endorsed.getProposalResponsePayload_asU8(),
    );
    const chaincodeAction = peer.ChaincodeAction.deserializeBinary(
      responsePayload.getExtension_asU8(),
    );
    const rwset = ledger.rwset.TxReadWriteSet.deserializeBinary(chaincodeAction.getResults_asU8());
    for (const namespace of rwset.getNsRwsetList()) {
      const kv = ledger.rwset.kvrwset.KVRWSet.deserializeBinary(namespace.getRwset_asU8());
      for (const write of kv.getWritesList()) {
        const before = Buffer.from(write.getValue_asU8()).toString('utf8');
        const after = edit(write.getKey(), before);
        if (after !== before) {
          write.setValue(Buffer.from(after, 'utf8'));
          edited++;
        }
      }
      namespace.setRwset(kv.serializeBinary());
    }
    chaincodeAction.setResults(rwset.serializeBinary());
    responsePayload.setExtension$(chaincodeAction.serializeBinary());
    endorsed.setProposalResponsePayload(responsePayload.serializeBinary());
    actionPayload.setAction(endorsed);
    action.setPayload(actionPayload.serializeBinary());
  }
  if (edited === 0) throw new Error('rewriteWrites: the edit changed no write');
  payload.setData(tx.serializeBinary());
  envelope.setPayload(payload.serializeBinary());
  envelope.setSignature(new Uint8Array());
  transaction.setEnvelope(envelope);
  return transaction.serializeBinary();
}

/** google.protobuf.Timestamp as google-protobuf generates it (its types are not installed). */
interface ProtoTimestamp {
  getSeconds(): number;
  getNanos(): number;
  setSeconds(seconds: number): unknown;
  setNanos(nanos: number): unknown;
}

/**
 * Moves the timestamp in an unsigned proposal (the bytes of fabric-gateway's
 * Proposal.getBytes()) by `shiftMs` and returns the re-encoded proposal; the caller's client signs
 * it when it is endorsed (Gateway.newProposal(bytes).endorse()), so the peers see a proposal
 * properly signed by a real identity, carrying the time that identity chose.
 */
export function shiftProposalTime(unsigned: Uint8Array, shiftMs: number): Uint8Array {
  const proposed = gatewayProtos.ProposedTransaction.deserializeBinary(unsigned);
  const signed = proposed.getProposal()!;
  if (signed.getSignature_asU8().length > 0)
    throw new Error('shiftProposalTime: the proposal is already signed');
  const proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
  const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
  const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
  const timestamp = channelHeader.getTimestamp() as unknown as ProtoTimestamp;
  const ms = timestamp.getSeconds() * 1000 + Math.floor(timestamp.getNanos() / 1e6) + shiftMs;
  timestamp.setSeconds(Math.floor(ms / 1000));
  timestamp.setNanos((ms % 1000) * 1e6);
  channelHeader.setTimestamp(timestamp);
  header.setChannelHeader(channelHeader.serializeBinary());
  proposal.setHeader(header.serializeBinary());
  signed.setProposalBytes(proposal.serializeBinary());
  proposed.setProposal(signed);
  return proposed.serializeBinary();
}

/** The timestamp (ms since the epoch) a proposal's channel header carries. */
export function proposalTimeMs(unsigned: Uint8Array): number {
  const signed = gatewayProtos.ProposedTransaction.deserializeBinary(unsigned).getProposal()!;
  const proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
  const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
  const timestamp = common.ChannelHeader.deserializeBinary(
    header.getChannelHeader_asU8(),
  ).getTimestamp() as unknown as ProtoTimestamp;
  return timestamp.getSeconds() * 1000 + Math.floor(timestamp.getNanos() / 1e6);
}
