/**
 * Loaded into bank 1's peer by `npm run bench:member -- --memory-breakdown` (`--import`): where
 * the peer's resident bytes are. Every 20 ms it samples process.memoryUsage() (V8's heap, the
 * external memory V8 knows of and the ArrayBuffers among it) and /proc/self/smaps_rollup
 * (anonymous and file-backed resident memory), and keeps the sample of the largest RSS. On
 * SIGUSR2 it appends one JSON line to VEILSUM_MEMORY_PROBE_FILE — the sample now and the largest
 * since the last signal — and starts a new peak. A main thread busy in synchronous work (the
 * masks' expansion) takes no samples meanwhile: the peak sample is the largest one taken.
 */
import { appendFileSync, readFileSync } from 'node:fs';

const output = process.env.VEILSUM_MEMORY_PROBE_FILE;

const mb = (bytes: number): number => Math.round(bytes / 1048576);

function sample(): Record<string, number> {
  const usage = process.memoryUsage();
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
  return {
    rssMb: mb(usage.rss),
    heapTotalMb: mb(usage.heapTotal),
    heapUsedMb: mb(usage.heapUsed),
    externalMb: mb(usage.external),
    arrayBuffersMb: mb(usage.arrayBuffers),
    anonymousMb: mb(kib('Anonymous')),
    fileBackedMb: mb(kib('Rss') - kib('Anonymous')),
  };
}

if (output !== undefined) {
  let peak = sample();
  setInterval(() => {
    const now = sample();
    if (now.rssMb! > peak.rssMb!) peak = now;
  }, 20).unref();
  process.on('SIGUSR2', () => {
    const now = sample();
    if (now.rssMb! > peak.rssMb!) peak = now;
    appendFileSync(output, JSON.stringify({ now, peak }) + '\n');
    peak = now;
  });
}
