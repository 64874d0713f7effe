import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, SCREENSHOTS, expectAccessible, openPage } from './browser-support.ts';
import { AUDITOR, CONSOLE } from '../../cli/demo/local-consortium.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { fabricConsoleConsortium } from '../support/fabric-console-consortium.ts';
import { TEST_BANKS, useFabricTestNetwork } from '../ledger/fabric-network-fixture.ts';
import { restartPeer, stopNode } from '../../network/fabric-network.ts';
import { quantizedInputs, secAggParams } from '../faults/fault-harness.ts';

/**
 * The compliance console on a real Fabric network (three banks, a peer each), read through one
 * bank's peer: `veilsum console --ledger fabric:connection.json@<BankC's peer> --as AuditorMSP`,
 * the command an officer runs, in Debian's headless Chromium. A SecAgg round runs on the network
 * (coordinator and banks writing through their own peers), and every page shows it from the
 * peer: the rounds list, the round's manifest and committed phases with their Fabric blocks and
 * transaction ids, an inclusion proof checked in the browser, and a second round's phases
 * arriving live on the overview (server-sent events from the peer's chaincode events).
 */
jest.setTimeout(300_000);

const MODEL = 'fabric-console-model';
const running = useFabricTestNetwork(800);

describe('compliance console in Chromium, on a Fabric ledger read through a bank’s peer', () => {
  let directory: string;
  let consoleProcess: ChildProcess | undefined;
  let browser: Browser;
  let context: BrowserContext;
  let memberBrowser: BrowserContext;
  let origin: string;
  let readThrough: string;
  let admin: VeilsumClient;
  let members: VeilsumClient[];
  let firstRound: string;
  let proof: { round: string; member: string; uploadSha256: string; path: unknown[] };
  const closing: (() => unknown)[] = [];

  const open = (path: string): Promise<Page> => openPage(context, origin, path);
  const accessible = expectAccessible;
  const screenshot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `console-fabric-${name}.png`), fullPage: true });

  /** One SecAgg round with every bank, to the end; returns its id. */
  const runRound = async (roundNumber: number): Promise<string> => {
    const round = await admin.openRound(
      secAggParams(TEST_BANKS, roundNumber, { dimension: 64, modelId: MODEL }),
    );
    const inputs = quantizedInputs(TEST_BANKS.length, 64, roundNumber);
    const outcomes = await Promise.all(
      members.map((member, i) => member.participateQuantized(round, inputs[i]!)),
    );
    expect(outcomes.map((outcome) => outcome.included)).toEqual(TEST_BANKS.map(() => true));
    return round.roundId;
  };

  beforeAll(async () => {
    const net = running();
    directory = mkdtempSync(join(tmpdir(), 'veilsum-console-fabric-'));
    mkdirSync(SCREENSHOTS, { recursive: true });
    const connectionFile = net.network.connectionFile;
    const consortium = await fabricConsoleConsortium(net, directory, MODEL, closing);
    const { local } = consortium;
    ({ admin, members } = consortium);
    firstRound = await runRound(1);
    await admin.recordModelVersion(firstRound, new Uint8Array(32).fill(7));
    const issued = await members[0]!.proveInclusion(firstRound);
    proof = {
      round: firstRound,
      member: TEST_BANKS[0]!,
      uploadSha256: Buffer.from(issued.uploadSha256).toString('hex'),
      path: issued.path.map((step) => ({
        sibling: Buffer.from(step.sibling).toString('hex'),
        siblingOnLeft: step.siblingOnLeft,
      })),
    };
    await net.inStep();

    // The console, as an officer starts it: through BankC's peer, which neither the coordinator
    // (BankA's gateway) nor BankA wrote through.
    readThrough = net.peerOf('BankCMSP');
    const server = local.pki.servers![CONSOLE]!;
    consoleProcess = spawn(
      process.execPath,
      [
        'cli/veilsum.ts',
        'console',
        '--ledger',
        `fabric:${connectionFile}@${readThrough}`,
        '--as',
        'AuditorMSP',
        '--ca',
        local.pki.caCertificatePath,
        '--cert',
        server.certificatePath,
        '--key',
        server.privateKeyPath,
        '--listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const child = consoleProcess;
    const address = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (data: Buffer) => {
        output += data.toString();
        const match = /compliance console: (https:\/\/127\.0\.0\.1:\d+)\//.exec(output);
        if (match) resolve(match[1]!);
      });
      child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
      child.once('exit', () => reject(new Error(`console exited: ${output}`)));
    });
    origin = address;
    const officer = local.pki.officers![AUDITOR]!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [
        { origin, certPath: officer.certificatePath, keyPath: officer.privateKeyPath },
      ],
    });
    closing.push(() => browser.close());
    // Refused callers are checked against the roles on Fabric too (member certificate).
    const member = local.pki.members['BankBMSP']!;
    const memberContext = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [
        { origin, certPath: member.certificatePath, keyPath: member.privateKeyPath },
      ],
    });
    closing.push(() => memberContext.close());
    memberBrowser = memberContext;
  }, 600_000);

  afterAll(async () => {
    if (consoleProcess && consoleProcess.exitCode === null) {
      const exited = new Promise((resolve) => consoleProcess!.once('exit', resolve));
      consoleProcess.kill('SIGTERM');
      await exited;
    }
    for (const close of closing.reverse()) await close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  }, 60_000);

  it('overview: the Fabric peer it reads through, the banks and their roles, the round', async () => {
    const page = await open('/');
    const header = (await page.locator('header .who').textContent())!;
    expect(header).toContain(`Fabric channel veilsum via ${readThrough} as AuditorMSP`);
    const health = (await page.locator('section[aria-labelledby="health"]').textContent())!;
    expect(health).toMatch(/Backend\s*fabric/);
    expect(Number(await page.getByTestId('height').textContent())).toBeGreaterThan(5);
    // The head block's hash as the peer reports it (qscc GetChainInfo).
    expect(await page.locator('[data-testid="head"] code').getAttribute('title')).toMatch(
      /^[0-9a-f]{64}$/,
    );
    const roles = (await page.locator('section[aria-labelledby="members"] tbody').textContent())!;
    for (const bank of TEST_BANKS) expect(roles).toMatch(new RegExp(`${bank}\\s*member`));
    expect(roles).toMatch(/CoordinatorMSP\s*coordinator/);
    expect(roles).toMatch(/AuditorMSP\s*auditor/);
    expect(await page.locator('#latest-rounds').textContent()).toMatch(
      new RegExp(`${firstRound}[\\s\\S]*block \\d+, transaction`),
    );
    await accessible(page);
    await screenshot(page, 'overview');
    // Keyboard: the first Tab reaches "Skip to content", Enter moves focus to the page's content,
    // and the next Tab reaches its first link (a round), which Enter opens.
    await page.keyboard.press('Tab');
    await expect(page.evaluate<string>('document.activeElement.textContent')).resolves.toBe(
      'Skip to content',
    );
    await page.keyboard.press('Enter');
    await expect(page.evaluate<string>('document.activeElement.id')).resolves.toBe('main');
    await page.keyboard.press('Tab');
    await expect(page.evaluate<string>('document.activeElement.textContent')).resolves.toMatch(
      /^fabric-console-model\/round-\d$/,
    );
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/rounds\/fabric-console-model/);
    await page.close();
  });

  it('rounds: the round on the list, and its page with the manifest, U1–U3 and commitments from Fabric blocks', async () => {
    const list = await open(`/rounds?status=closed&member=BankCMSP&model=${MODEL}`);
    expect(await list.getByRole('status').textContent()).toMatch(/^1 rounds? match/);
    await accessible(list);
    await list.getByRole('link', { name: firstRound }).click();
    await list.waitForURL(/\/rounds\//);
    const text = (await list.locator('main').textContent())!;
    expect(text).toContain('semi-honest');
    expect(text).toMatch(/U1: advertised keys\s*BankAMSP, BankBMSP, BankCMSP/);
    expect(text).toMatch(/U3: sent masked input\s*BankAMSP, BankBMSP, BankCMSP/);
    expect(text).toMatch(/Merkle root of uploads/);
    // Fabric transaction ids (64 hex digits) and block numbers, as the peer delivered them.
    const citations = await Promise.all(
      (await list.locator('.cite code.hash').all()).map((code) => code.getAttribute('title')),
    );
    expect(citations.length).toBeGreaterThan(3);
    for (const id of citations) expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(text).toMatch(/block \d+, transaction/);
    expect(text).toContain('BankAMSP-consent');
    await accessible(list);
    await screenshot(list, 'round');
    await list.close();
  });

  it('verify: the inclusion proof of a bank’s upload checks out in the browser against the root on Fabric; a tampered one fails', async () => {
    const page = await open(`/verify?round=${encodeURIComponent(firstRound)}`);
    const root = await page.locator('#ledger-root').getAttribute('data-root');
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    await page.getByLabel('Inclusion proof (JSON)').fill(JSON.stringify(proof));
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    const verdict = page.locator('#verify-result .verdict');
    await expect(verdict.getAttribute('data-verdict')).resolves.toBe('verified');
    await accessible(page);
    await screenshot(page, 'verify');
    const flipped = (proof.uploadSha256[0] === 'a' ? 'b' : 'a') + proof.uploadSha256.slice(1);
    await page
      .getByLabel('Inclusion proof (JSON)')
      .fill(JSON.stringify({ ...proof, uploadSha256: flipped }));
    await page.getByRole('button', { name: 'Verify in this browser' }).click();
    await page.locator('#verify-result .verdict[data-verdict="failed"]').waitFor();
    expect(await verdict.textContent()).toMatch(/^Not verified: /);
    await page.close();
  });

  it('consents and lineage: each bank’s consent with the round that used it, and the model version’s lineage', async () => {
    const consents = await open('/consents?member=BankBMSP');
    const consent = (await consents.locator('li.consent').textContent())!;
    expect(consent).toContain('BankBMSP-consent');
    expect(consent).toContain(firstRound);
    expect(consent).toMatch(/Granted .*\(transaction time\); block \d+, transaction/);
    // Fabric blocks carry no time: the page says so instead of leaving the commit time out.
    expect(await consents.locator('#commit-times').textContent()).toMatch(
      /blocks carry no clock time/,
    );
    await accessible(consents);
    await screenshot(consents, 'consents');
    await consents.close();
    const lineage = await open('/lineage');
    const table = (await lineage.locator('table').first().textContent())!;
    for (const bank of TEST_BANKS) expect(table).toContain(`${bank}-loans`);
    await lineage.locator('#lineage-graph[data-nodes]').waitFor({ state: 'attached' });
    await accessible(lineage);
    await screenshot(lineage, 'lineage');
    await lineage.close();
    // The evidence export on Fabric: the version's bundle and PDF, from the peer's blocks
    // (test/ledger/fabric-evidence.test.ts verifies such bundles and their forgeries).
    const exported = await open('/export');
    expect(
      (await exported.locator('#export-fabric').textContent())!.replace(/\s+/g, ' '),
    ).toContain(
      'verify-bundle <file> --channel <channel> --chaincode <chaincode> --orderer <MSP>=<CA file> --bank <MSP>=<CA file> … --trust <MSP>=<CA file>',
    );
    const href = (await exported
      .getByRole('link', { name: /JSON bundle/ })
      .first()
      .getAttribute('href'))!;
    const bundle = (await (await context.request.get(`${origin}${href}`)).json()) as {
      format: string;
    };
    expect(bundle.format).toBe('veilsum-fabric-evidence/1');
    const pdf = await context.request.get(`${origin}${href.replace('.json', '.pdf')}`);
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    await accessible(exported);
    await exported.close();
  });

  it('live overview: a second round’s phases appear as the peer commits them, without a reload', async () => {
    const page = await open('/');
    await page.locator('#live-status', { hasText: 'Following the ledger' }).waitFor();
    const second = await runRound(2);
    for (const event of ['RoundOpened', 'RoundPhaseCommitted', 'RoundClosed'])
      await page
        .locator('#live-events li', { hasText: `${event} — ${second}` })
        .first()
        .waitFor({ timeout: 60_000 });
    await page.locator('#latest-rounds', { hasText: second }).waitFor({ timeout: 20_000 });
    await screenshot(page, 'live');
    await page.close();
  });

  it('refuses a bank’s certificate (no auditor role on the Fabric ledger)', async () => {
    const page = await memberBrowser.newPage();
    const refused = await page.goto(`${origin}/rounds`);
    expect(refused?.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toMatch(
      /BankBMSP does not hold the auditor role/,
    );
    expect(await page.content()).not.toContain(firstRound);
    await page.close();
  });

  it('when its peer stops, every page and the live overview say the view is behind; when the peer is back it follows again', async () => {
    const net = running();
    const live = await open('/');
    await live.locator('#live-status', { hasText: 'Following the ledger' }).waitFor();
    await stopNode(net.directory, readThrough);
    try {
      await live
        .locator('#live-status', {
          hasText: `Not following the ledger: the console cannot read new blocks from ${readThrough}`,
        })
        .waitFor({ timeout: 30_000 });
      const rounds = await open('/rounds');
      expect(await rounds.locator('#ledger-problem').textContent()).toMatch(
        new RegExp(
          `^This page may be out of date: the console cannot read new blocks from ${readThrough.replaceAll('.', '\\.')} \\(the error: .*as of block \\d+\\.$`,
        ),
      );
      // What was read before is still served, from the console's own index.
      expect(await rounds.locator('main').textContent()).toContain(firstRound);
      await accessible(rounds);
      await screenshot(rounds, 'peer-down');
      await rounds.close();
      // A role it cannot check now is not taken as "no role" (nor as a role): the caller is told.
      // (The console keeps a looked-up role for 5 s: past the refusal test's answer for BankB.)
      await new Promise((resolve) => setTimeout(resolve, 5_500));
      const member = await memberBrowser.newPage();
      const refused = await member.goto(`${origin}/rounds`);
      expect(refused?.status()).toBe(503);
      expect(await member.getByRole('alert').last().textContent()).toMatch(
        /cannot check BankBMSP's role on the ledger right now/,
      );
      expect(await member.content()).not.toContain(firstRound);
      await member.close();
    } finally {
      await restartPeer(net.directory, readThrough);
    }
    await live
      .locator('#live-status', { hasText: 'Following the ledger again' })
      .waitFor({ timeout: 60_000 });
    const third = await runRound(3);
    await live
      .locator('#live-events li', { hasText: `RoundClosed — ${third}` })
      .waitFor({ timeout: 60_000 });
    const after = await open('/');
    await expect(after.locator('#ledger-problem').count()).resolves.toBe(0);
    await after.close();
    await live.close();
  });
});
