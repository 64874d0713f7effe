import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevPki } from '../../services/pki/dev-ca.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import {
  ADMIN,
  createLocalConsortium,
  type LocalConsortium,
} from '../../cli/demo/local-consortium.ts';
import type { CoordinatorConfig } from '../../services/coordinator/config.ts';
import type { ConnectOptions } from '../../sdk/veilsum-client.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { startCoordinatorProcess } from '../../cli/demo/processes.ts';

export { ADMIN };

/**
 * The member policy of in-process test clients, lowered explicitly: the fault, integration and
 * e2e fixtures run small semi-honest rounds (γ = 0, one member dropping) against the honest
 * coordinator, without a ledger. Attack tests pass their own policy (or the SDK defaults), and
 * profile files written by profilePath carry none, so CLI members keep the defaults.
 */
export const FIXTURE_POLICY: MemberThreatModel = {
  minimumAdversary: 'semi-honest',
  minimumCorruptionRate: 0,
  minimumDropoutRate: 0,
  trustCoordinatorWithoutLedger: true,
};

/** A throw-away consortium on 127.0.0.1: PKI, coordinator config and member profiles. */
export interface Consortium {
  readonly directory: string;
  readonly pki: DevPki;
  readonly members: string[];
  readonly keyholders: string[];
  readonly configPath: string;
  readonly local: LocalConsortium;
  config: CoordinatorConfig;
  profile(member: string, port: number): ConnectOptions;
  profilePath(member: string, port: number): string;
}

export async function createConsortium(
  memberCount: number,
  prefix = 'bank',
  options: {
    keyholders?: number;
    ledger?: boolean;
    keyholderDropoutRate?: number;
    /** An existing empty folder to use instead of a fresh temporary one. */
    directory?: string;
  } = {},
): Promise<Consortium> {
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), 'veilsum-test-'));
  const members = Array.from(
    { length: memberCount },
    (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`,
  );
  const keyholders = Array.from(
    { length: options.keyholders ?? 0 },
    (_, i) => `keyholder-${i + 1}`,
  );
  const local = await createLocalConsortium({
    directory,
    members,
    keyholders,
    extraIdentities: ['outsider'],
    // Test fixtures lower the keyholders' floor explicitly (δ = 0.5: 2 of 3, 2 of 4 members) so
    // that rounds can exercise dropouts; test/adversarial/ckks-min-contributors uses the default.
    keyholderDropoutRate: options.keyholderDropoutRate ?? 0.5,
    ...(options.ledger ? { ledgerPath: join(directory, 'ledger.db') } : {}),
  });
  const config: CoordinatorConfig = {
    ...local.coordinatorConfig,
    dataDir: join(directory, 'data'),
  };
  const configPath = join(directory, 'coordinator.json');
  writeFileSync(configPath, JSON.stringify(config));
  const profile = (member: string, port: number): ConnectOptions => {
    const consortiumProfile = local.profile(member, port);
    return {
      ...consortiumProfile,
      retry: { totalMs: 60_000, initialDelayMs: 50, maxDelayMs: 1_000 },
      // The fixture's lowered SecAgg policy, keeping the consortium's pinned keyholders.
      threatModel: { ...consortiumProfile.threatModel, ...FIXTURE_POLICY },
    };
  };
  return {
    directory,
    pki: local.pki,
    members,
    keyholders,
    configPath,
    local,
    config,
    profile,
    profilePath(member, port) {
      const path = join(directory, `profile-${member}-${port}.json`);
      const {
        retry: _retry,
        threatModel: policy,
        consortiumMembers,
        ...rest
      } = profile(member, port);
      const keyholders = policy?.pinnedKeyholders;
      writeFileSync(
        path,
        JSON.stringify({
          ...rest,
          // A profile's consortium list names at least two members (a one-bank fixture has none).
          ...(consortiumMembers !== undefined && consortiumMembers.length >= 2
            ? { members: consortiumMembers }
            : {}),
          ...(keyholders ? { keyholders } : {}),
        }),
      );
      return path;
    },
  };
}

/**
 * Every member of a consortium with a ledger grants a consent for `modelId` on it (each signing
 * its own block), as banks do before a round: the contract opens no round without. The members
 * must be registered already (a coordinator registers them when it starts).
 */
export async function grantConsents(consortium: Consortium, modelId: string): Promise<void> {
  const database = new EmbeddedLedgerDatabase(
    join(consortium.directory, 'ledger.db'),
    readFileSync(consortium.pki.caCertificatePath),
  );
  try {
    for (const member of consortium.members)
      await new Ledger(database.as(consortium.local.ledgerWriter(member))).grantConsent(
        `consent-${member}-${modelId}`,
        `data-${member}`,
        modelId,
        Date.now() + 86_400_000,
      );
  } finally {
    database.close();
  }
}

/**
 * Makes the coordinator trust a second CA beside the consortium's: its config's CA file becomes a
 * bundle of both and the consortium CA is named the identity issuer. Returns the bundle's path.
 */
export function trustSecondCa(consortium: Consortium, otherCaPath: string): string {
  const bundle = join(consortium.directory, 'ca-bundle.pem');
  writeFileSync(
    bundle,
    readFileSync(consortium.pki.caCertificatePath, 'utf8') + readFileSync(otherCaPath, 'utf8'),
  );
  consortium.config = {
    ...consortium.config,
    tls: {
      ...consortium.config.tls,
      caCertificate: bundle,
      identityIssuer: consortium.pki.caCertificatePath,
    },
  };
  return bundle;
}

/** A coordinator running as its own process (`veilsum coordinator start`). */
export class CoordinatorProcess {
  readonly child: ChildProcess;
  readonly port: number;
  private readonly logLines: string[];

  private constructor(child: ChildProcess, port: number, logLines: string[]) {
    this.child = child;
    this.port = port;
    this.logLines = logLines;
  }

  static async start(consortium: Consortium, port = 0): Promise<CoordinatorProcess> {
    const logLines: string[] = [];
    const { child, port: bound } = await startCoordinatorProcess(
      { ...consortium.config, listen: `127.0.0.1:${port}` },
      consortium.configPath,
      (line) => logLines.push(line),
    );
    return new CoordinatorProcess(child, bound, logLines);
  }

  events(): Record<string, unknown>[] {
    return this.logLines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** SIGKILL: no chance to flush or clean up, as in a power cut. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

export interface SubmitProcessResult {
  readonly code: number | null;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string;
}

/** `veilsum submit` as its own process. */
export function submitProcess(args: string[]): Promise<SubmitProcessResult> {
  const child = spawn(process.execPath, ['cli/veilsum.ts', 'submit', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) =>
      resolve({
        code,
        stderr,
        lines: stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      }),
    ),
  );
}

export function writeQuantizedUpdate(path: string, values: Uint32Array): void {
  writeFileSync(path, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
}
