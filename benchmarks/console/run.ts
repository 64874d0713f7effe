/**
 * What the compliance console costs on a large ledger: an embedded ledger of `--rounds` rounds
 * (default 1 000) of `--members` members (100) over `--models` models (10, so 100 versions each
 * with the defaults: every round records a model version), then the server time of each page
 * (its Server-Timing header; p50/p95 over `--samples` requests) and how long Chromium takes to
 * draw the lineage graph of a model's latest version (all its versions, rounds, banks, datasets
 * and consents, with the latest version's contributions; from fetch to first render; median of
 * 3), and then every earlier version's contributions as well (lineageAllContributionsRenderMs).
 *
 *   npm run bench:console [-- --rounds 1000 --members 100 --models 10 --samples 20]
 *
 * `--ledger-dir <dir>` keeps the ledger and its PKI in <dir> and, when <dir> already holds them
 * (same sizes), measures on them without building again (ledgerBuildMs is then null).
 *
 * The last line printed is one JSON object, also written to benchmarks/results/console.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { merkleRoot } from '../../crypto/merkle.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';
import { startConsole } from '../../cli/commands/console.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1000' },
    members: { type: 'string', default: '100' },
    models: { type: 'string', default: '10' },
    samples: { type: 'string', default: '20' },
    'ledger-dir': { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const memberCount = Number(values.members);
const models = Number(values.models);
const samples = Number(values.samples);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;

const keptDirectory = values['ledger-dir'];
const directory = keptDirectory ?? mkdtempSync(join(tmpdir(), 'veilsum-bench-console-'));
const sizes = JSON.stringify({ rounds, memberCount, models });
const keptPki = join(directory, 'pki.json');
try {
  const members = Array.from(
    { length: memberCount },
    (_, i) => `bank-${String(i + 1).padStart(3, '0')}`,
  );
  const ledgerPath = join(directory, 'ledger.db');
  const kept =
    keptDirectory !== undefined && existsSync(keptPki)
      ? (JSON.parse(readFileSync(keptPki, 'utf8')) as { sizes: string; pki: DevPki })
      : undefined;
  if (kept !== undefined && kept.sizes !== sizes)
    throw new Error(`${keptDirectory} holds a ledger of other sizes (${kept.sizes}): remove it`);
  const { pki, blocks, ledgerBuildMs } = kept
    ? { pki: kept.pki, blocks: null, ledgerBuildMs: null }
    : await buildLedger(ledgerPath, members);
  if (keptDirectory !== undefined && kept === undefined)
    writeFileSync(keptPki, JSON.stringify({ sizes, pki }));

  const consoleStarted = performance.now();
  const running = await startConsole({
    ledger: ledgerPath,
    listen: '127.0.0.1:0',
    identity: 'veilsum-auditor',
    caCertificate: pki.caCertificatePath,
    certificate: pki.servers!['veilsum-console']!.certificatePath,
    privateKey: pki.servers!['veilsum-console']!.privateKeyPath,
  });
  const consoleStartMs = performance.now() - consoleStarted;
  const officer = pki.officers!['veilsum-auditor']!;
  const tls = {
    ca: readFileSync(pki.caCertificatePath),
    cert: readFileSync(officer.certificatePath),
    key: readFileSync(officer.privateKeyPath),
    rejectUnauthorized: false,
  };
  const serverMs = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: running.port, path, ...tls }, (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode !== 200)
            reject(new Error(`${path}: HTTP ${response.statusCode}`));
          const timing = /dur=([\d.]+)/.exec(String(response.headers['server-timing']))?.[1];
          resolve(Number(timing));
        });
      });
      req.on('error', reject);
      req.end();
    });
  const latest = `model-1/round-${Math.ceil(rounds / models)}`;
  const latestModel = sha(`model ${latest}`);
  const pages: Record<string, string> = {
    overview: '/',
    rounds: '/rounds',
    roundsFiltered: `/rounds?model=model-3&member=${members[5]}&status=closed&page=2`,
    round: `/rounds/${encodeURIComponent(latest)}`,
    consents: '/consents',
    consentsOfMember: `/consents?member=${members[7]}`,
    lineage: `/lineage?model=${latestModel}`,
    lineageGraphData: `/api/lineage/${latestModel}`,
    verify: `/verify?round=${encodeURIComponent(latest)}`,
    export: '/export',
  };
  const pageP95Ms: Record<string, number> = {};
  const pageP50Ms: Record<string, number> = {};
  for (const [name, path] of Object.entries(pages)) {
    await serverMs(path); // first request warms caches
    const times: number[] = [];
    for (let i = 0; i < samples; i++) times.push(await serverMs(path));
    times.sort((a, b) => a - b);
    pageP95Ms[name] = Math.round(percentile(times, 0.95) * 10) / 10;
    pageP50Ms[name] = Math.round(percentile(times, 0.5) * 10) / 10;
  }

  const browser = await chromium.launch({
    executablePath: process.env.VEILSUM_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const renders: number[] = [];
  let lineageNodes = 0;
  let allContributionsRenderMs = 0;
  try {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [
        {
          origin: `https://127.0.0.1:${running.port}`,
          certPath: officer.certificatePath,
          keyPath: officer.privateKeyPath,
        },
      ],
    });
    for (let i = 0; i < 3; i++) {
      const page = await context.newPage();
      await page.goto(`https://127.0.0.1:${running.port}${pages.lineage}`);
      // A locator, not a string predicate: the console's CSP forbids the eval that one needs.
      await page
        .locator('#lineage-graph[data-render-ms]')
        .waitFor({ state: 'attached', timeout: 60_000 });
      const graph = page.locator('#lineage-graph');
      renders.push(Number(await graph.getAttribute('data-render-ms')));
      lineageNodes = Number(await graph.getAttribute('data-nodes'));
      if (i === 0) {
        // What the officer waits for when asking for every earlier version's contributions.
        await page.getByRole('button', { name: "Draw earlier versions' contributions" }).click();
        await page
          .locator('#lineage-graph[data-all-render-ms]')
          .waitFor({ state: 'attached', timeout: 60_000 });
        allContributionsRenderMs = Number(await graph.getAttribute('data-all-render-ms'));
      }
      await page.close();
    }
    await context.close();
  } finally {
    await browser.close();
    await running.stop();
  }
  renders.sort((a, b) => a - b);
  const result = {
    benchmark: 'console',
    rounds,
    members: memberCount,
    models,
    modelVersionsInLineage: Math.ceil(rounds / models),
    blocks,
    ledgerBuildMs,
    consoleStartMs: Math.round(consoleStartMs),
    samples,
    pageP50Ms,
    pageP95Ms,
    lineageNodes,
    lineageRenderMs: Math.round(renders[1]! * 10) / 10,
    lineageRenderRunsMs: renders.map((ms) => Math.round(ms)),
    lineageAllContributionsRenderMs: Math.round(allContributionsRenderMs),
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
    node: process.version,
    date: new Date().toISOString(),
  };
  mkdirSync('benchmarks/results', { recursive: true });
  writeFileSync('benchmarks/results/console.json', JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
} finally {
  if (keptDirectory === undefined) rmSync(directory, { recursive: true, force: true });
}

/** Writes the benchmark's ledger: every block signed by its writer, as in a real consortium. */
async function buildLedger(ledgerPath: string, members: string[]) {
  const pki = await createDevPki(join(directory, 'pki'), members, [], undefined, {
    servers: ['veilsum-console'],
    officers: ['veilsum-auditor'],
  });
  // A build cut short leaves blocks signed under an earlier PKI: start from an empty file.
  for (const suffix of ['', '-wal', '-shm']) rmSync(ledgerPath + suffix, { force: true });
  const buildStarted = performance.now();
  const database = new EmbeddedLedgerDatabase(ledgerPath, readFileSync(pki.caCertificatePath));
  const as = (id: string, identity: { certificatePath: string; privateKeyPath: string }) =>
    new Ledger(database.as(ledgerWriter(identity.certificatePath, identity.privateKeyPath)));
  const coordinator = as('veilsum-coordinator', pki.server);
  await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
  await coordinator.registerMember('veilsum-auditor', ['auditor']);
  for (const member of members) await coordinator.registerMember(member, ['member']);
  for (const member of members)
    await as(member, pki.members[member]!).grantConsent(
      `${member}-consent`,
      `${member}-transactions`,
      'model-1',
      Date.now() + 365 * 86_400_000,
    );
  // One consent per model: the purpose is the model id.
  for (let model = 2; model <= models; model++)
    for (const member of members)
      await as(member, pki.members[member]!).grantConsent(
        `${member}-consent-m${model}`,
        `${member}-transactions`,
        `model-${model}`,
        Date.now() + 365 * 86_400_000,
      );
  for (let r = 0; r < rounds; r++) {
    const model = `model-${(r % models) + 1}`;
    const roundNumber = Math.floor(r / models) + 1;
    const roundId = `${model}/round-${roundNumber}`;
    await coordinator.openRound(roundId, model, roundNumber, sha(`params ${roundId}`), members);
    const included = members.filter((_, i) => (i + r) % 17 !== 0);
    const leaves = included.map((m) => new Uint8Array(Buffer.from(sha(`${roundId} ${m}`), 'hex')));
    await coordinator.closeRound(
      roundId,
      included,
      Buffer.from(merkleRoot(leaves)).toString('hex'),
      sha(`aggregate ${roundId}`),
      members.length - included.length,
    );
    await coordinator.recordModelVersion(sha(`model ${roundId}`), roundId);
  }
  const blocks = database.blocks().length;
  database.close();
  return { pki, blocks, ledgerBuildMs: Math.round(performance.now() - buildStarted) };
}
