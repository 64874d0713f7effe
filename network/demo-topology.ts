import { DEFAULT_PORT_BASE, type TopologySpec } from './topology.ts';

/**
 * The demo consortium on Fabric: the five demo banks, each its own organisation and peer (MSP
 * id = member id), the operator organisation `veilsum-coordinator` (no peer) for the
 * coordinator, and one organisation (no peer) per keyholder. A keyholder must be its own MSP:
 * the contract knows a caller by its MSP id, and each keyholder attests the collective key as
 * itself — keyholders sharing the operator's MSP would all be `veilsum-coordinator`.
 */
export const DEMO_BANKS = ['aldbridge', 'brenmoor', 'corvale', 'dunmere', 'eastlake'];
export const OPERATOR_MSP = 'veilsum-coordinator';
export const DEMO_KEYHOLDERS = [1, 2, 3, 4, 5].map((i) => `keyholder-${i}`);

export function portBase(): number {
  const value = process.env.VEILSUM_FABRIC_PORT_BASE;
  if (value === undefined || value === '') return DEFAULT_PORT_BASE;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new Error(`VEILSUM_FABRIC_PORT_BASE=${value} is not a port`);
  return parsed;
}

export function batchTimeoutMs(): number {
  const value = Number(process.env.VEILSUM_FABRIC_BATCH_TIMEOUT_MS ?? 100);
  if (!(value >= 10 && value <= 10_000))
    throw new Error('VEILSUM_FABRIC_BATCH_TIMEOUT_MS must be 10-10000');
  return value;
}

export function demoTopology(banks: readonly string[] = DEMO_BANKS): TopologySpec {
  return {
    banks: banks.map((mspId) => ({ mspId, users: [mspId] })),
    clients: [
      { mspId: OPERATOR_MSP, users: [OPERATOR_MSP] },
      ...DEMO_KEYHOLDERS.map((keyholder) => ({ mspId: keyholder, users: [keyholder] })),
    ],
    portBase: portBase(),
    channel: 'veilsum',
    batchTimeoutMs: batchTimeoutMs(),
    maxMessageCount: 10,
  };
}
