import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { seededRandom } from '../../crypto/random.ts';
import { pino, type Logger } from 'pino';
import { Adversary, Mode, type Round, type RoundParams } from '../../proto/gen/veilsum/v1/round.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';
import { afterAll, beforeAll } from '@jest/globals';
import { type ConnectOptions, VeilsumClient } from '../../sdk/veilsum-client.ts';
import { ADMIN, type Consortium, createConsortium } from '../support/consortium.ts';
import type { CoordinatorConfig } from '../../services/coordinator/config.ts';

/**
 * A service process for fault tests: `veilsum <service> start --config <file>` run through bash,
 * so a test can set resource limits (`ulimit -n`) on the real process before it execs node.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.lines = [];
    let buffered = '';
    const collect = (data: Buffer) => {
      buffered += data.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        this.lines.push(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  static spawn(
    service: 'coordinator' | 'keyholder',
    configPath: string,
    options: { openFiles?: number } = {},
  ): ServiceProcess {
    const limit = options.openFiles === undefined ? '' : `ulimit -n ${options.openFiles}; `;
    const child = spawn(
      'bash',
      [
        '-c',
        `${limit}exec "$0" "$@"`,
        process.execPath,
        'cli/veilsum.ts',
        service,
        'start',
        '--config',
        configPath,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new ServiceProcess(child);
  }

  /** Writes `config` to `configPath` and starts the coordinator; resolves once it listens. */
  static async coordinator(
    config: CoordinatorConfig,
    configPath: string,
    options: { openFiles?: number } = {},
  ): Promise<{ process: ServiceProcess; port: number }> {
    writeFileSync(configPath, JSON.stringify(config));
    const started = ServiceProcess.spawn('coordinator', configPath, options);
    const port = await started.listening();
    return { process: started, port };
  }

  /** The bound port, from the "started" log event; rejects if the process exits first. */
  async listening(timeoutMs = 60_000): Promise<number> {
    for (let waited = 0; waited < timeoutMs; waited += 50) {
      const line = this.lines.find((l) => l.includes('"event":"started"'));
      if (line !== undefined) return (JSON.parse(line) as { port: number }).port;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`the service exited before listening:\n${this.lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the service did not listen within ${timeoutMs} ms`);
  }

  /** How the process ended, or "running" if it is still alive after `withinMs`. */
  async exit(
    withinMs: number,
  ): Promise<{ code: number | null; signal: string | null } | 'running'> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), withinMs))),
    ]);
    clearTimeout(timer);
    return result;
  }

  /** Parsed JSON log events. */
  events(): Record<string, unknown>[] {
    return this.lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Open descriptors of the process now (its /proc/<pid>/fd entries). */
  openFiles(): string[] {
    const folder = `/proc/${this.child.pid}/fd`;
    return readdirSync(folder).map((fd) => {
      try {
        return readlinkSync(join(folder, fd));
      } catch {
        return '(closed)';
      }
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/**
 * SecAgg round parameters for fault tests: `members` (3 or 4), d = `dimension`, complete graph,
 * semi-honest, one member may drop (δ = 0.33: threshold 2, minimum contributors n − 1).
 */
export function secAggParams(
  members: string[],
  roundNumber: number,
  options: { dimension?: number; maskedInputMs?: number; modelId?: string } = {},
): RoundParams {
  const slow = 60_000;
  return {
    modelId: options.modelId ?? 'fault-model',
    roundNumber,
    mode: Mode.MODE_SECAGG,
    dimension: options.dimension ?? 1_000,
    quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
    threshold: 0,
    degree: members.length - 1,
    adversary: Adversary.ADVERSARY_SEMI_HONEST,
    members,
    deadlines: {
      advertiseKeysMs: slow,
      shareKeysMs: slow,
      maskedInputMs: options.maskedInputMs ?? slow,
      consistencyCheckMs: slow,
      unmaskingMs: slow,
    },
    corruptionRate: 0,
    dropoutRate: 0.33,
    minContributors: 0,
    ckks: undefined,
  };
}

/** Deterministic quantized inputs, one per member. */
export function quantizedInputs(count: number, dimension: number, seed: number): Uint32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const bytes = random(dimension * 4);
    return new Uint32Array(bytes.buffer, bytes.byteOffset, dimension).map((word) => word >>> 16);
  });
}

/** The sum modulo 2^32 of the inputs of the 1-based `included` members. */
export function sumOf(inputs: Uint32Array[], included: readonly number[]): Uint32Array {
  const sum = new Uint32Array(inputs[0]!.length);
  for (const index of included) {
    const input = inputs[index - 1]!;
    for (let j = 0; j < sum.length; j++) sum[j]! += input[j]!;
  }
  return sum;
}

/** Polls `read` until `done` holds (at most `attempts` × 50 ms); returns the last value read. */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  attempts = 600,
): Promise<T> {
  let value = await read();
  for (let i = 0; i < attempts && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

/** The gRPC status name a promise rejects with, or "OK". */
export async function statusOf(
  promise: Promise<unknown>,
): Promise<{ code: string; details: string }> {
  try {
    await promise;
    return { code: 'OK', details: '' };
  } catch (error) {
    const code = (error as { code?: number }).code;
    return {
      code: typeof code === 'number' ? grpcStatus[code]! : 'not a gRPC error',
      details: (error as Error).message,
    };
  }
}

/** A coordinator in this process, with real gRPC on 127.0.0.1 and a silent log. */
export async function startCoordinator(
  config: CoordinatorConfig,
  logger: Logger = pino({ level: 'silent' }),
): Promise<Coordinator> {
  const coordinator = new Coordinator({ ...config, listen: '127.0.0.1:0' }, logger);
  await coordinator.start();
  return coordinator;
}

/**
 * A consortium of `members` and an in-process coordinator for the enclosing describe block
 * (beforeAll/afterAll), with `connect` making clients that are closed after it. The fields are
 * set once beforeAll has run.
 */
export function withCoordinator(
  members: number,
  prefix: string,
): {
  readonly consortium: Consortium;
  readonly coordinator: Coordinator;
  connect(id: string, options?: Partial<ConnectOptions>): VeilsumClient;
} {
  const clients: VeilsumClient[] = [];
  const fixture = {
    consortium: undefined as unknown as Consortium,
    coordinator: undefined as unknown as Coordinator,
    connect(id: string, options: Partial<ConnectOptions> = {}): VeilsumClient {
      const client = VeilsumClient.connect({
        ...fixture.consortium.profile(id, fixture.coordinator.port),
        ...options,
      });
      clients.push(client);
      return client;
    },
  };
  beforeAll(async () => {
    fixture.consortium = await createConsortium(members, prefix);
    fixture.coordinator = await startCoordinator(fixture.consortium.config);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await fixture.coordinator?.stop();
    if (fixture.consortium) rmSync(fixture.consortium.directory, { recursive: true, force: true });
  });
  return fixture;
}

/**
 * The state the corruption tests start from, on a 3-member consortium: round 1 done by every
 * member, round 2 left in masked-input with the uploads of members 1 and 2 stored (member 3
 * drops), then the coordinator stopped. `connect` makes clients the caller closes.
 */
export async function doneRoundAndOpenRound(
  consortium: Consortium,
  connect: (id: string, port: number) => VeilsumClient,
  dimension: number,
): Promise<{ done: Round; open: Round; inputs: Uint32Array[]; pending: Promise<unknown>[] }> {
  const coordinator = await startCoordinator(consortium.config);
  const admin = connect(ADMIN, coordinator.port);
  const members = consortium.members.map((id) => connect(id, coordinator.port));
  const inputs = quantizedInputs(3, dimension, 1);
  const done = await admin.openRound(secAggParams(consortium.members, 1, { dimension }));
  await Promise.all(members.map((m, i) => m.participateQuantized(done, inputs[i]!)));
  const open = await admin.openRound(secAggParams(consortium.members, 2, { dimension }));
  const pending = members.map((m, i) =>
    m
      .participateQuantized(open, quantizedInputs(3, dimension, 2)[i]!, {
        ...(i === 2 ? { dropBefore: 'masked-input' as const } : {}),
      })
      .catch(() => undefined),
  );
  const seen = await pollUntil(
    () => admin.getRound(open.roundId),
    (round) => round.masked.length === 2,
  );
  if (seen.masked.join() !== '1,2') throw new Error(`round 2 has uploads ${seen.masked.join()}`);
  await coordinator.stop();
  return { done, open, inputs, pending };
}
