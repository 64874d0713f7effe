/**
 * Draws every benchmarks/results/ckks-*.json into benchmarks/results/ckks.svg: per run, where a
 * round's time goes — one client's encryption next to raw single-thread node-seal for the same
 * update (same run), the coordinator's additions, one partial decryption, the combination — and
 * the whole round (in process, and through the services when measured).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

interface Result {
  clients: number;
  dim: number;
  params: string;
  threshold: number;
  keyholders: number;
  clientEncryptMs: number;
  rawSealParamsPerSec: number;
  addParamsPerSec: number;
  partialDecryptMs: number;
  combineMs: number;
  roundMs: number;
  servicesRoundMs?: number;
  wireBytesPerParam: number;
}

const directory = 'benchmarks/results';
const results = readdirSync(directory)
  .filter((name) => name.startsWith('ckks-') && name.endsWith('.json'))
  .sort()
  .map((name) => JSON.parse(readFileSync(`${directory}/${name}`, 'utf8')) as Result);
if (results.length === 0)
  throw new Error(`no ckks results in ${directory}: run npm run bench:ckks first`);

const bars: { label: string; color: string; value: (r: Result) => number | undefined }[] = [
  { label: 'client encrypt', color: '#1f5fa8', value: (r) => r.clientEncryptMs },
  {
    label: 'raw node-seal, 1 thread',
    color: '#9cc1ea',
    value: (r) => (r.dim / r.rawSealParamsPerSec) * 1000,
  },
  {
    label: 'coordinator adds (all)',
    color: '#3b8b3b',
    value: (r) => ((r.clients * r.dim) / r.addParamsPerSec) * 1000,
  },
  { label: 'partial decryption', color: '#b3541e', value: (r) => r.partialDecryptMs },
  { label: 'combine', color: '#f0b48c', value: (r) => r.combineMs },
  { label: 'round, in process', color: '#6b4c9a', value: (r) => r.roundMs },
  { label: 'round, services', color: '#b9a3d9', value: (r) => r.servicesRoundMs },
];
const barWidth = 20;
const groupWidth = bars.length * barWidth + 50;
const height = 340;
const top = 40;
const bottom = 100;
const plotHeight = height - top - bottom;
const values = results.flatMap((r) => bars.map((b) => b.value(r) ?? 0)).filter((v) => v > 0);
const maxLog = Math.ceil(Math.log10(Math.max(...values)));
const minLog = Math.floor(Math.log10(Math.min(...values)));
const y = (ms: number) => top + plotHeight * (1 - (Math.log10(ms) - minLog) / (maxLog - minLog));
const width = 80 + results.length * groupWidth + 200;
const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
  `<text x="10" y="20" font-size="14">CKKS round: where the time goes (ms, log scale)</text>`,
];
for (let p = minLog; p <= maxLog; p++) {
  parts.push(
    `<line x1="60" x2="${width - 200}" y1="${y(10 ** p)}" y2="${y(10 ** p)}" stroke="#ddd"/>`,
    `<text x="55" y="${y(10 ** p) + 4}" text-anchor="end">${10 ** p}</text>`,
  );
}
results.forEach((r, g) => {
  const x0 = 70 + g * groupWidth;
  bars.forEach((bar, b) => {
    const value = bar.value(r);
    if (value === undefined || value <= 0) return;
    const x = x0 + b * barWidth;
    parts.push(
      `<rect x="${x}" y="${y(value)}" width="${barWidth - 3}" height="${top + plotHeight - y(value)}" fill="${bar.color}"><title>${bar.label}: ${value.toFixed(1)} ms</title></rect>`,
    );
  });
  parts.push(
    `<text x="${x0}" y="${height - bottom + 16}">n=${r.clients}, d=${r.dim}</text>`,
    `<text x="${x0}" y="${height - bottom + 30}">${r.params}, ${r.threshold} of ${r.keyholders}</text>`,
    `<text x="${x0}" y="${height - bottom + 44}">${r.wireBytesPerParam} B/param</text>`,
  );
});
bars.forEach((bar, b) => {
  const ly = top + b * 18;
  parts.push(
    `<rect x="${width - 190}" y="${ly}" width="12" height="12" fill="${bar.color}"/>`,
    `<text x="${width - 172}" y="${ly + 10}">${bar.label}</text>`,
  );
});
parts.push('</svg>');
writeFileSync(`${directory}/ckks.svg`, parts.join('\n') + '\n');
console.log(`${results.length} runs drawn into ${directory}/ckks.svg`);
