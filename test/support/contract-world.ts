import type { TransactionContext } from '../../ledger/contract.ts';

/**
 * The contract over an in-memory world state, with the key order both backends use (prefix
 * scans sorted by key): `as(caller, timestamp)` is a transaction of that MSP at that time, each
 * with a new transaction id.
 */
export function contractWorld(): {
  state: Map<string, string>;
  as: (callerMspId: string, timestamp: number) => TransactionContext;
} {
  const state = new Map<string, string>();
  let tx = 0;
  const as = (callerMspId: string, timestamp: number): TransactionContext => ({
    state: {
      get: (key) => Promise.resolve(state.get(key)),
      put: (key, value) => {
        state.set(key, value);
        return Promise.resolve();
      },
      list: (prefix) =>
        Promise.resolve(
          [...state.keys()]
            .filter((key) => key.startsWith(prefix))
            .sort()
            .map((key) => state.get(key)!),
        ),
    },
    callerMspId,
    timestamp,
    transactionId: `tx-${++tx}`,
    emit: () => undefined,
  });
  return { state, as };
}
