/**
 * Draws every benchmarks/results/secagg-*.json into benchmarks/results/secagg.svg: per run, the
 * server and the client time next to their same-run PRG floors (log scale), so a regression shows
 * up as a bar pulling away from its floor.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

interface Result {
  clients: number;
  dim: number;
  dropout: number;
  dropAfter: string;
  graph: string;
  adversary?: string;
  serverMs: number;
  serverFloorMs: number;
  clientMs: number;
  clientFloorMs: number;
}

const directory = 'benchmarks/results';
const results = readdirSync(directory)
  .filter((name) => name.startsWith('secagg-') && name.endsWith('.json'))
  .sort()
  .map((name) => JSON.parse(readFileSync(`${directory}/${name}`, 'utf8')) as Result);
if (results.length === 0)
  throw new Error(`no secagg results in ${directory}: run npm run bench:secagg first`);

const bars = [
  { key: 'serverMs', label: 'server', color: '#1f5fa8' },
  { key: 'serverFloorMs', label: 'server floor', color: '#9cc1ea' },
  { key: 'clientMs', label: 'client', color: '#b3541e' },
  { key: 'clientFloorMs', label: 'client floor', color: '#f0b48c' },
] as const;
const barWidth = 22;
const groupWidth = bars.length * barWidth + 40;
const height = 320;
const top = 40;
const bottom = 100;
const plotHeight = height - top - bottom;
const maxValue = Math.max(...results.flatMap((r) => bars.map((b) => r[b.key])));
const minValue = Math.max(0.1, Math.min(...results.flatMap((r) => bars.map((b) => r[b.key]))));
const logMin = Math.floor(Math.log10(minValue));
const logMax = Math.ceil(Math.log10(maxValue));
const y = (value: number) =>
  top + plotHeight * (1 - (Math.log10(Math.max(value, minValue)) - logMin) / (logMax - logMin));
const width = 70 + results.length * groupWidth;

const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
  `<text x="10" y="20" font-size="14">veilsum SecAgg+: time vs same-run PRG floor (ms, log scale)</text>`,
];
for (let exponent = logMin; exponent <= logMax; exponent++) {
  const value = 10 ** exponent;
  parts.push(`<line x1="60" x2="${width}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`);
  parts.push(`<text x="55" y="${y(value) + 4}" text-anchor="end">${value}</text>`);
}
results.forEach((result, i) => {
  const x0 = 70 + i * groupWidth;
  bars.forEach((bar, j) => {
    const value = result[bar.key];
    const x = x0 + j * barWidth;
    parts.push(
      `<rect x="${x}" y="${y(value)}" width="${barWidth - 3}" height="${top + plotHeight - y(value)}" fill="${bar.color}"><title>${bar.label}: ${value} ms</title></rect>`,
    );
  });
  const label = [
    `n=${result.clients} d=${result.dim}`,
    `${result.graph}, ${result.dropout * 100}% drop`,
    `after ${result.dropAfter}`,
    result.adversary ?? 'semi-honest',
  ];
  label.forEach((line, k) =>
    parts.push(`<text x="${x0}" y="${top + plotHeight + 16 + 13 * k}">${line}</text>`),
  );
});
bars.forEach((bar, j) =>
  parts.push(
    `<rect x="${70 + j * 110}" y="${height - 22}" width="12" height="12" fill="${bar.color}"/><text x="${86 + j * 110}" y="${height - 12}">${bar.label}</text>`,
  ),
);
parts.push('</svg>');
writeFileSync(`${directory}/secagg.svg`, parts.join('\n') + '\n');
console.log(`wrote ${directory}/secagg.svg from ${results.length} result(s)`);
