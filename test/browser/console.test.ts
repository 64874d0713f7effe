import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, SCREENSHOTS, expectAccessible, openPage } from './browser-support.ts';
import { EmbeddedLedgerDatabase, ledgerWriter } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { ComplianceConsole } from '../../services/console/console-server.ts';
import { startConsole } from '../../cli/commands/console.ts';

/**
 * The compliance console in Debian's headless Chromium (playwright-core with the system browser),
 * on the ledger of a real `veilsum demo` run: every page, the in-browser proof check, live
 * updates, refused callers, accessibility, and the evidence export checked offline.
 */

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['cli/veilsum.ts', ...args],
      { maxBuffer: 1 << 24 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

function demo(keep: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['cli/veilsum.ts', 'demo', '--rounds', '4', '--keep', keep],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    child.once('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}

describe('compliance console in Chromium, on a demo ledger', () => {
  let directory: string;
  let kept: string;
  let console_: ComplianceConsole;
  let browser: Browser;
  let context: BrowserContext;
  let origin: string;
  let demoOutput: string;

  const certificate = (name: string) => ({
    origin,
    certPath: join(kept, 'pki', `${name}.crt`),
    keyPath: join(kept, 'pki', `${name}.key`),
  });
  const open = (path: string, into = context): Promise<Page> => openPage(into, origin, path);
  const accessible = expectAccessible;
  const screenshot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `console-${name}.png`), fullPage: true });

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-console-'));
    kept = join(directory, 'demo');
    mkdirSync(SCREENSHOTS, { recursive: true });
    const result = await demo(kept);
    demoOutput = result.output;
    expect(result.code).toBe(0);
    const config = JSON.parse(readFileSync(join(kept, 'console.json'), 'utf8')) as {
      tls: { caCertificate: string; certificate: string; privateKey: string };
    };
    console_ = await startConsole({
      ledger: join(kept, 'ledger.db'),
      listen: '127.0.0.1:0',
      identity: 'veilsum-auditor',
      caCertificate: join(kept, config.tls.caCertificate),
      certificate: join(kept, config.tls.certificate),
      privateKey: join(kept, config.tls.privateKey),
    });
    origin = `https://127.0.0.1:${console_.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [certificate('officer-veilsum-auditor')],
    });
  }, 240_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await console_?.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it('the demo ends by printing the command that opens the console on its ledger', () => {
    const lines = demoOutput.trim().split('\n');
    expect(lines.at(-2)).toContain(`cli/veilsum.ts console --config ${join(kept, 'console.json')}`);
    expect(lines.at(-1)).toContain('https://127.0.0.1:8443/');
  });

  it('`veilsum console --config` as the demo prints it serves the console to the auditor', async () => {
    const child = spawn(
      process.execPath,
      [
        'cli/veilsum.ts',
        'console',
        '--config',
        join(kept, 'console.json'),
        '--listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let output = '';
        child.stdout.on('data', (data: Buffer) => {
          output += data.toString();
          const match = /compliance console: (https:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.stderr.on('data', (data: Buffer) => (output += data.toString()));
        child.once('exit', () => reject(new Error(`console exited: ${output}`)));
      });
      const officer = await browser.newContext({
        ignoreHTTPSErrors: true,
        clientCertificates: [
          { ...certificate('officer-veilsum-auditor'), origin: address.replace(/\/$/, '') },
        ],
      });
      const page = await officer.newPage();
      const response = await page.goto(address);
      expect(response?.status()).toBe(200);
      expect(await page.locator('h1').textContent()).toBe('Overview');
      await officer.close();
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('overview: members with their roles, chain health and the latest rounds', async () => {
    const page = await open('/');
    await expect(page.locator('h1').textContent()).resolves.toBe('Overview');
    const members = await page.locator('section[aria-labelledby="members"] tbody').textContent();
    for (const bank of ['aldbridge', 'brenmoor', 'corvale', 'dunmere', 'eastlake'])
      expect(members).toContain(bank);
    expect(members).toMatch(/veilsum-auditor\s*auditor/);
    expect(Number(await page.getByTestId('height').textContent())).toBeGreaterThan(20);
    const latest = await page.locator('#latest-rounds').textContent();
    for (const round of [1, 2, 3, 4]) expect(latest).toContain(`demo-fraud-model/round-${round}`);
    await accessible(page);
    await screenshot(page, 'overview');
    await page.close();
  });

  it('rounds: filters, and a round page with its manifest, U1–U3, dropouts and commitments', async () => {
    const list = await open('/rounds?status=closed&member=corvale');
    expect(await list.getByRole('status').textContent()).toMatch(/\d+ rounds match/);
    await accessible(list);
    await screenshot(list, 'rounds');
    await list.getByRole('link', { name: 'demo-fraud-model/round-4' }).click();
    await list.waitForURL(/round-4/);
    const text = (await list.locator('main').textContent())!;
    expect(text).toContain('semi-malicious');
    expect(text).toContain('U1: advertised keys');
    expect(text).toMatch(/Aggregate SHA-256/);
    expect(text).toMatch(/Merkle root of uploads/);
    expect(text).toMatch(/block \d+, transaction/);
    expect(text).toMatch(/Dropouts:\s*\d+ \(/);
    // Each roster entry names the consent its member contributes under.
    expect(text).toMatch(/corvale-consent-\d/);
    await accessible(list);
    await screenshot(list, 'round');
    await list.close();
  });

  it('consents: the revoked consent, with the rounds that used it and both times', async () => {
    const page = await open('/consents?member=corvale');
    const revoked = page.locator('li.consent.revoked');
    await expect(revoked.count()).resolves.toBe(1);
    const text = (await revoked.textContent())!;
    expect(text).toContain('corvale-consent-1');
    expect(text).toMatch(/Revoked .*transaction time/);
    expect(text).toMatch(/committed/);
    expect(text).toContain('demo-fraud-model/round-1');
    await accessible(page);
    await screenshot(page, 'consents');
    await page.close();
  });

  it('lineage: an interactive graph of the final model, click-through to a round', async () => {
    const page = await open('/lineage');
    const graph = page.locator('#lineage-graph');
    await graph.locator('canvas').first().waitFor();
    await page.locator('#lineage-graph[data-nodes]').waitFor({ state: 'attached' });
    expect(Number(await graph.getAttribute('data-nodes'))).toBeGreaterThan(10);
    const zoomBefore = await page.evaluate<number>('window.veilsumLineage.zoom()');
    await page.getByRole('button', { name: 'Zoom in' }).click();
    const zoomAfter = await page.evaluate<number>('window.veilsumLineage.zoom()');
    expect(zoomAfter).toBeGreaterThan(zoomBefore);
    // Earlier versions' contributions are drawn when asked for.
    const edgesBefore = await page.evaluate<number>('window.veilsumLineage.edges().length');
    await page.getByRole('button', { name: "Draw earlier versions' contributions" }).click();
    await page.locator('#lineage-graph[data-all-render-ms]').waitFor({ state: 'attached' });
    expect(await page.evaluate<number>('window.veilsumLineage.edges().length')).toBeGreaterThan(
      edgesBefore,
    );
    const table = (await page.locator('table').textContent())!;
    expect(table).toContain('dunmere-card-transactions-2026');
    const earlier = (await page.locator('main ul').last().textContent())!;
    expect(earlier).toContain('demo-fraud-model/round-1');
    await accessible(page);
    await screenshot(page, 'lineage');
    // Clicking a round node opens its page.
    const position = await page.evaluate<{ x: number; y: number }>(
      'window.veilsumLineage.nodes(\'[kind = "round"]\')[0].renderedPosition()',
    );
    const box = (await graph.boundingBox())!;
    await page.mouse.click(box.x + position.x, box.y + position.y);
    await page.waitForURL(/\/rounds\//);
    await page.close();
  });

  it('verify: the browser checks an inclusion proof with WebCrypto; a tampered one fails', async () => {
    const proof = JSON.parse(readFileSync(join(kept, 'inclusion-proof.json'), 'utf8')) as {
      round: string;
      uploadSha256: string;
    };
    const page = await open(`/verify?round=${encodeURIComponent(proof.round)}`);
    await page.getByLabel('Inclusion proof (JSON)').fill(JSON.stringify(proof));
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    const verdict = page.locator('#verify-result .verdict');
    await expect(verdict.getAttribute('data-verdict')).resolves.toBe('verified');
    expect(await verdict.textContent()).toMatch(/^Verified: /);
    await accessible(page);
    await screenshot(page, 'verify');
    const flipped = proof.uploadSha256[0] === 'a' ? 'b' : 'a';
    await page
      .getByLabel('Inclusion proof (JSON)')
      .fill(JSON.stringify({ ...proof, uploadSha256: flipped + proof.uploadSha256.slice(1) }));
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    await page.locator('#verify-result .verdict[data-verdict="failed"]').waitFor();
    expect(await verdict.textContent()).toMatch(
      /^Not verified: this proof does not lead to the fingerprint recorded on the ledger/,
    );
    await page.close();
  });

  it('live overview: a round opened during the test appears without a reload', async () => {
    const page = await open('/');
    await page.locator('#live-status', { hasText: 'Following the ledger' }).waitFor();
    const pki = join(kept, 'pki');
    const database = new EmbeddedLedgerDatabase(
      join(kept, 'ledger.db'),
      readFileSync(join(pki, 'ca.crt')),
    );
    try {
      const coordinator = new Ledger(
        database.as(ledgerWriter(join(pki, 'coordinator.crt'), join(pki, 'coordinator.key'))),
      );
      await coordinator.openRound(
        'demo-fraud-model/round-99',
        'demo-fraud-model',
        99,
        'a'.repeat(64),
        ['aldbridge', 'brenmoor', 'dunmere'],
      );
    } finally {
      database.close();
    }
    await page
      .locator('#live-events li', { hasText: 'RoundOpened — demo-fraud-model/round-99' })
      .waitFor({ timeout: 20_000 });
    await page
      .locator('#latest-rounds', { hasText: 'demo-fraud-model/round-99' })
      .waitFor({ timeout: 20_000 });
    await page.close();
  });

  it('refuses a caller without a certificate, and a certificate without the auditor role', async () => {
    const anonymous = await browser.newContext({ ignoreHTTPSErrors: true });
    const member = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [certificate('member-brenmoor')],
    });
    try {
      const page = await anonymous.newPage();
      const response = await page.goto(`${origin}/rounds`);
      expect(response?.status()).toBe(401);
      expect(await page.getByRole('alert').textContent()).toMatch(
        /needs a client certificate issued by the consortium CA/,
      );
      const memberPage = await member.newPage();
      const refused = await memberPage.goto(`${origin}/consents`);
      expect(refused?.status()).toBe(403);
      expect(await memberPage.getByRole('alert').textContent()).toMatch(
        /brenmoor does not hold the auditor role/,
      );
      expect(await memberPage.content()).not.toContain('corvale-consent-1');
    } finally {
      await anonymous.close();
      await member.close();
    }
  });

  it('exports a bundle that verifies offline, gives the same bytes twice, and fails on one changed byte naming the record', async () => {
    const page = await open('/export');
    // One table of versions, not a table inside an empty one (a screen reader announces both).
    expect(await page.locator('table table').count()).toBe(0);
    expect(await page.getByRole('table', { name: /Model versions on the ledger/ }).count()).toBe(1);
    const href = (await page
      .getByRole('link', { name: /JSON bundle/ })
      .first()
      .getAttribute('href'))!;
    const first = await (await context.request.get(`${origin}${href}`)).body();
    const second = await (await context.request.get(`${origin}${href}`)).body();
    expect(first.equals(second)).toBe(true);
    const pdf = await (
      await context.request.get(`${origin}${href.replace('.json', '.pdf')}`)
    ).body();
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    await accessible(page);
    await screenshot(page, 'export');
    await page.close();
    const bundlePath = join(directory, 'bundle.json');
    writeFileSync(bundlePath, first);
    const ca = join(kept, 'pki', 'ca.crt');
    const verified = await run(['audit', 'verify-bundle', bundlePath, '--ca', ca]);
    expect(verified.stdout).toMatch(/^evidence bundle verified/);
    expect(verified.code).toBe(0);
    // One byte of one consent's dataset id changed.
    const text = first.toString('utf8');
    const at = text.indexOf('"datasetId":"corvale') + '"datasetId":"c'.length;
    writeFileSync(bundlePath, text.slice(0, at) + 'X' + text.slice(at + 1));
    const tampered = await run(['audit', 'verify-bundle', bundlePath, '--ca', ca]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(
      /NOT verified: (block \d+ \(grantConsent by corvale\)|consent corvale-consent-\d)/,
    );
  });
});
