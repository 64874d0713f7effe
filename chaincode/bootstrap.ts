/**
 * Who may bootstrap the ledger. The contract makes its first registrant the coordinator; on a
 * Fabric channel every organisation can send that first transaction, so without more a bank
 * that ran `ledger init` (or called registerMember) before the operator would own the
 * consortium's membership. Each organisation's chaincode service is therefore deployed naming
 * the one organisation allowed to bootstrap (`VEILSUM_BOOTSTRAP_MSP`, the operator's MSP id):
 * an endorsing peer refuses a first registration by anyone else, so it gets no majority. A
 * chaincode service deployed without it refuses every bootstrap (fails closed).
 */
export const BOOTSTRAP_MSP_VARIABLE = 'VEILSUM_BOOTSTRAP_MSP';

const MSP_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** The organisation named at deployment, or undefined when none is (or it is malformed). */
export function bootstrapMspId(environment: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = environment[BOOTSTRAP_MSP_VARIABLE];
  return configured !== undefined && MSP_ID.test(configured) ? configured : undefined;
}

/** Why `callerMspId` may not make the ledger's first registration, or undefined if it may. */
export function bootstrapProblem(
  callerMspId: string,
  environment: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const allowed = bootstrapMspId(environment);
  if (allowed === undefined)
    return (
      `this peer's chaincode names no bootstrap organisation (${BOOTSTRAP_MSP_VARIABLE}, the ` +
      `operator's MSP id): it refuses every first registration`
    );
  if (callerMspId !== allowed)
    return (
      `the ledger is empty and only ${allowed}, named at deployment, may bootstrap it ` +
      `(register itself as the coordinator); ${callerMspId} may not`
    );
  return undefined;
}
