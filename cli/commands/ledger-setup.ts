import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { ContractError } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { openLedger, parseLedgerOption } from '../../ledger/ledger-factory.ts';
import { ROLES, type Role } from '../../ledger/records.ts';
import {
  type CoordinatorConfig,
  loadCoordinatorConfig,
} from '../../services/coordinator/config.ts';

/**
 * `veilsum ledger …`: the consortium's membership on the ledger, written as the coordinator
 * (its config's ledger and certificate; on the embedded ledger its key signs the blocks). The
 * coordinator registers its members when it starts; keyholders, auditors and later members need
 * a role before they can attest a key or read: `ledger init` and `ledger grant-role` give it.
 */

/** Gives `id` the roles it lacks (roles only grow); returns what it holds afterwards. */
async function ensureRoles(ledger: Ledger, id: string, roles: readonly Role[]): Promise<Role[]> {
  let held: readonly Role[] = [];
  try {
    held = (await ledger.getMember(id)).roles;
  } catch (error) {
    if (!(error instanceof ContractError && error.kind === 'not-found')) throw error;
  }
  const missing = roles.filter((role) => !held.includes(role));
  if (missing.length === 0) return [...held];
  return [...(await ledger.registerMember(id, missing)).roles];
}

export interface ConsortiumRoles {
  readonly coordinator: string;
  readonly registered: Record<string, Role[]>;
}

/**
 * Registers the coordinator (the first registration bootstraps the ledger), the config's members
 * and `extra` identities with their roles. Creates the embedded ledger file if it is missing.
 */
export async function registerConsortium(
  config: CoordinatorConfig,
  extra: readonly { id: string; role: Role }[] = [],
): Promise<ConsortiumRoles> {
  if (config.ledger === undefined)
    throw new Error('the coordinator config has no "ledger" section: nothing to register');
  const opened = openLedger(config.ledger, 'veilsum-coordinator', undefined, config.tls);
  try {
    const registered: Record<string, Role[]> = {};
    registered[opened.memberId] = await ensureRoles(opened.ledger, opened.memberId, [
      'coordinator',
    ]);
    for (const { id } of config.members)
      registered[id] = await ensureRoles(opened.ledger, id, ['member']);
    for (const { id, role } of extra) registered[id] = await ensureRoles(opened.ledger, id, [role]);
    return { coordinator: opened.memberId, registered };
  } finally {
    opened.close();
  }
}

const role = (value: string): Role => {
  if (!(ROLES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}`);
  return value as Role;
};

const ids = (value: string): string[] =>
  value
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);

function printRoles(result: ConsortiumRoles, json: boolean | undefined): void {
  if (json) console.log(JSON.stringify(result));
  else
    for (const [id, roles] of Object.entries(result.registered))
      console.log(`${id.padEnd(24)} ${roles.join(', ')}`);
}

export function ledgerCommand(): Command {
  const ledger = new Command('ledger').description(
    'Consortium membership and roles on the ledger, written as the coordinator',
  );
  ledger
    .command('init')
    .description(
      "Create the coordinator config's ledger (embedded: the file) and register the coordinator, its members and the given keyholders and auditors",
    )
    .requiredOption('--config <path>', 'coordinator config (JSON): its ledger and certificate')
    .option('--keyholders <ids>', 'comma-separated keyholder ids (keyholder role)', ids)
    .option('--auditors <ids>', 'comma-separated auditor ids (auditor role)', ids)
    .option('--json', 'print JSON')
    .action(async (options) => {
      const result = await registerConsortium(loadCoordinatorConfig(options.config), [
        ...(options.keyholders ?? []).map((id) => ({ id, role: 'keyholder' as const })),
        ...(options.auditors ?? []).map((id) => ({ id, role: 'auditor' as const })),
      ]);
      printRoles(result, options.json);
    });
  ledger
    .command('grant-role')
    .description(
      'Give an identity a role on the ledger (roles only grow; a keyholder is never also a coordinator or auditor)',
    )
    .requiredOption('--config <path>', 'coordinator config (JSON): its ledger and certificate')
    .requiredOption('--id <id>', 'the identity (certificate subject O; Fabric: MSP id)')
    .requiredOption('--role <role>', ROLES.join(' | '), role)
    .option('--json', 'print JSON')
    .action(async (options) => {
      const config = loadCoordinatorConfig(options.config);
      if (config.ledger !== undefined && !('fabric' in config.ledger))
        // Granting a role on a ledger that does not exist yet is a mistyped path, not a start.
        parseLedgerOption(config.ledger.path, '');
      const result = await registerConsortium({ ...config, members: [] }, [
        { id: options.id, role: options.role },
      ]);
      printRoles(
        {
          coordinator: result.coordinator,
          registered: { [options.id]: result.registered[options.id]! },
        },
        options.json,
      );
    });
  return ledger;
}
