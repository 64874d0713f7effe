/**
 * OpenFHE's 3-party CKKS decryption of the same sum, run beside veilsum's in one `bench:ckks` run
 * (`--openfhe <threshold-sum binary>`, built by benchmarks/ckks/openfhe/build.sh). The binary
 * prints one JSON line; this module runs it and checks what it printed, so the report never holds
 * a figure the baseline did not produce.
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

/** What threshold-sum.cpp prints (times are wall milliseconds, medians over `repeats`). */
export interface OpenFheBaseline {
  library: 'OpenFHE';
  version: string;
  ringDim: number;
  parties: number;
  clients: number;
  dim: number;
  ciphertexts: number;
  repeats: number;
  /** OpenMP threads the baseline was allowed. */
  threads: number;
  clientEncryptParamsPerSec: number;
  partialDecryptMs: number;
  combineMs: number;
  maxAbsError: number;
}

const NUMBER_KEYS = [
  'ringDim',
  'parties',
  'clients',
  'dim',
  'ciphertexts',
  'repeats',
  'clientEncryptParamsPerSec',
  'partialDecryptMs',
  'combineMs',
  'maxAbsError',
] as const;

/** Parses the baseline's output line, refusing anything that is not its complete report. */
export function parseOpenFheBaseline(line: string, threads: number): OpenFheBaseline {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(
      `the OpenFHE baseline printed no JSON report: ${JSON.stringify(line.slice(0, 200))}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new Error('the OpenFHE report is not an object');
  const report = parsed as Record<string, unknown>;
  if (report.library !== 'OpenFHE' || typeof report.version !== 'string') {
    throw new Error('the OpenFHE report names no library version');
  }
  for (const key of NUMBER_KEYS) {
    const value = report[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new Error(`the OpenFHE report's ${key} is not a non-negative number`);
    }
  }
  return { ...(report as unknown as Omit<OpenFheBaseline, 'threads'>), threads };
}

/** Runs the baseline for `clients` × `dim` on `threads` OpenMP threads (default: every core). */
export async function runOpenFheBaseline(
  binary: string,
  clients: number,
  dim: number,
  { repeats = 3, threads = availableParallelism() } = {},
): Promise<OpenFheBaseline> {
  const { stdout } = await promisify(execFile)(
    binary,
    [String(clients), String(dim), String(repeats)],
    {
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      maxBuffer: 1 << 20,
    },
  );
  return parseOpenFheBaseline(stdout.trim(), threads);
}
