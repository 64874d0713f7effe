import type { Context } from 'fabric-contract-api';

/**
 * The context a peer's shim hands VeilsumContract, over an in-memory world state: the
 * proposal's timestamp and its creator's MSP id. For tests that call the chaincode without a
 * Fabric network.
 */
export function peerContext(
  proposalMs: number,
  mspId: string,
  state: Map<string, Uint8Array>,
): Context {
  return {
    stub: {
      getTxTimestamp: () => ({
        seconds: Math.floor(proposalMs / 1000),
        nanos: (proposalMs % 1000) * 1e6,
      }),
      getTxID: () => `tx-${mspId}-${proposalMs}`,
      getState: (key: string) => Promise.resolve(state.get(key) ?? new Uint8Array()),
      putState: (key: string, value: Uint8Array) => {
        state.set(key, value);
        return Promise.resolve();
      },
      getStateByRange: (start: string, end: string) => {
        const keys = [...state.keys()].filter((key) => key >= start && key < end).sort();
        return Promise.resolve({
          next: () =>
            Promise.resolve(
              keys.length > 0
                ? { done: false, value: { key: keys[0]!, value: state.get(keys.shift()!)! } }
                : { done: true, value: undefined },
            ),
          close: () => Promise.resolve(),
        });
      },
      setEvent: () => undefined,
    },
    clientIdentity: { getMSPID: () => mspId },
  } as unknown as Context;
}
