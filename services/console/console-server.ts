import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Block } from '../../ledger/embedded/embedded-ledger.ts';
import { ContractError } from '../../ledger/contract.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import type { Lineage } from '../../ledger/records.ts';
import { buildEvidenceBundle, canonicalJson } from './evidence-bundle.ts';
import { evidenceReportPdf } from './evidence-report.ts';
import type { FabricEvidenceBuilder } from './fabric-evidence.ts';
import { cite, html, layout, hash, time, type Html, type PageContext } from './html.ts';
import type { LedgerHistory } from './ledger-history.ts';
import { LedgerIndex } from './ledger-index.ts';
import { consentsPage } from './pages/consents-page.ts';
import { lineageGraph, lineagePage, lineagesUpTo } from './pages/lineage-page.ts';
import { latestRoundsTable, overviewPage } from './pages/overview-page.ts';
import { roundPage, roundsPage } from './pages/rounds-page.ts';
import { verifyPage } from './pages/verify-page.ts';

export interface ConsoleOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  /** PEM: the consortium CA bundle callers' certificates must chain to, and the server's own. */
  readonly tls: { readonly ca: Buffer; readonly certificate: Buffer; readonly privateKey: Buffer };
  /** The console's own ledger view (never the coordinator): reads run as `identity`. */
  readonly ledger: Ledger;
  readonly history: LedgerHistory;
  readonly ledgerDescription: string;
  /** Every block, for evidence bundles (the embedded ledger has them). */
  readonly blocks?: () => Block[] | Promise<Block[]>;
  /** Fabric: evidence bundles from the console's own peer's blocks. */
  readonly fabricEvidence?: FabricEvidenceBuilder;
  /** How often the ledger is read for new blocks (ms). */
  readonly pollMs?: number;
  readonly onError?: (error: unknown) => void;
}

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/console.css': {
    file: fileURLToPath(new URL('./assets/console.css', import.meta.url)),
    type: 'text/css',
  },
  '/assets/console.js': {
    file: fileURLToPath(new URL('./assets/console.js', import.meta.url)),
    type: 'text/javascript',
  },
  '/assets/lineage.js': {
    file: fileURLToPath(new URL('./assets/lineage.js', import.meta.url)),
    type: 'text/javascript',
  },
  '/assets/verify.js': {
    file: fileURLToPath(new URL('./assets/verify.js', import.meta.url)),
    type: 'text/javascript',
  },
  // Served from the installed npm package: officers' machines are often offline from any CDN.
  '/assets/cytoscape.min.js': {
    file: require.resolve('cytoscape/dist/cytoscape.min.js'),
    type: 'text/javascript',
  },
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The compliance console: a read-only web application over HTTPS. A caller presents a client
 * certificate from the consortium CA whose organisation holds the auditor role on the ledger
 * (checked on every request, through the console's own ledger view); anything else is refused.
 * It never writes to the ledger: the ledger object it holds is only ever asked to evaluate.
 */
export class ComplianceConsole {
  private readonly options: ConsoleOptions;
  private readonly index: LedgerIndex;
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private readonly roles = new Map<string, { auditor: boolean; until: number }>();
  /**
   * Why the pages may be behind the ledger now (a block that failed verification, a peer that
   * does not answer): every page says so, and the live overview is told as it happens.
   */
  private problem: string | undefined;

  constructor(options: ConsoleOptions) {
    this.options = options;
    this.index = new LedgerIndex(options.ledger, options.history);
    this.server = createServer(
      {
        ca: options.tls.ca,
        cert: options.tls.certificate,
        key: options.tls.privateKey,
        requestCert: true,
        // Unauthorised callers get a page that says why, not a bare TLS failure.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      },
      (request, response) => void this.handle(request, response),
    );
  }

  /** The ledger view the console reads through (evaluate only). */
  get ledgerView(): Ledger {
    return this.options.ledger;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  async start(): Promise<void> {
    await this.index.refresh();
    // A streamed history (Fabric) arrives after the start: the first page would show an empty
    // or partial ledger as current. Read until the blocks on the channel now are in (≤ 2 min;
    // past that the console starts, and its pages show what arrived so far as it follows).
    // Caught up: the stream delivered the block at the height the peer reported, or (when the
    // last blocks carry no veilsum event) it has been open and quiet for 2 s AND the blocks
    // after the last one received hold no transaction of the contract (read from the peer:
    // quiet alone may be the peer scanning a flood of other blocks). Not caught up in 2 min:
    // the console starts, and every page says how far its view is.
    const catchUp = this.options.history.catchUp;
    if (catchUp !== undefined) {
      const until = Date.now() + 120_000;
      let target: number | undefined;
      let caughtUp = false;
      while (Date.now() < until) {
        target ??= await catchUp.target().catch(() => undefined);
        const idle = catchUp.idleMs();
        if (idle !== Infinity && target !== undefined && catchUp.received() >= target) {
          caughtUp = true;
          break;
        }
        if (idle !== Infinity && target !== undefined && idle >= 2_000) {
          const confirmed = await catchUp.confirm(target);
          if (confirmed === 'caught-up') {
            caughtUp = true;
            break;
          }
          // More blocks to check: go on at once; else wait for the stream (or 500 ms).
          await catchUp.progress(target, confirmed === 'checking' ? 0 : 500);
          await this.index.refresh();
          continue;
        }
        // Woken when the stream reaches the target, fills its buffer or opens, not polled;
        // the target asked again after 100 ms if the peer did not answer it.
        await catchUp.progress(
          target,
          target === undefined || idle === Infinity ? 100 : Math.max(10, 2_000 - idle),
        );
        await this.index.refresh();
      }
      if (!caughtUp) catchUp.partial(target ?? 0);
      await this.index.refresh();
    }
    const [host, port] = splitHostPort(this.options.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const stream of this.streams) stream.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.options.history.close();
  }

  private async poll(): Promise<void> {
    try {
      const events = await this.index.refresh();
      this.report(this.options.history.problem?.());
      for (const event of events) {
        const data = JSON.stringify({
          name: event.name,
          roundId: event.payload.roundId ?? null,
          memberId: event.payload.memberId ?? null,
          phase: event.payload.phase ?? null,
          block: event.block,
          transactionId: event.transactionId,
          committedAt: event.committedAt,
        });
        for (const stream of this.streams) stream.write(`event: block\ndata: ${data}\n\n`);
      }
    } catch (error) {
      const problem = `the console could not read or verify the ledger's new blocks: ${error instanceof Error ? error.message : String(error)}; what is shown is as of block ${this.index.height}`;
      // Logged once, not on every poll while it lasts.
      if (problem !== this.problem) this.options.onError?.(error);
      this.report(problem);
    }
  }

  private report(problem: string | undefined): void {
    if (problem === this.problem) return;
    this.problem = problem;
    const message = problem
      ? `event: problem\ndata: ${JSON.stringify({ message: problem })}\n\n`
      : `event: resumed\ndata: ${JSON.stringify({ block: this.index.height })}\n\n`;
    for (const stream of this.streams) stream.write(message);
  }

  /** Who is calling: the O of a client certificate the consortium CA issued, holding the auditor role. */
  private async caller(request: IncomingMessage): Promise<string> {
    const socket = request.socket as TLSSocket;
    const certificate = socket.getPeerCertificate();
    if (!certificate || Object.keys(certificate).length === 0)
      throw new HttpError(
        401,
        'This console needs a client certificate issued by the consortium CA (an auditor certificate from "veilsum pki init"). Your browser sent none.',
      );
    if (!socket.authorized)
      throw new HttpError(
        401,
        `Your client certificate (${String(certificate.subject?.CN ?? 'no name')}) was not issued by the consortium CA: ${String(socket.authorizationError)}.`,
      );
    const organisation = certificate.subject?.O;
    if (typeof organisation !== 'string' || organisation === '')
      throw new HttpError(
        403,
        'Your certificate names no organisation (subject O), so the console cannot look up your role.',
      );
    const cached = this.roles.get(organisation);
    let auditor = cached !== undefined && cached.until > Date.now() ? cached.auditor : undefined;
    if (auditor === undefined) {
      try {
        auditor = (await this.options.ledger.getMember(organisation)).roles.includes('auditor');
      } catch (error) {
        if (error instanceof ContractError && error.kind === 'not-found') auditor = false;
        // The ledger did not answer. Roles only grow (the contract never removes one), so an
        // auditor role seen before still holds; anyone else is told why, not refused as if
        // the ledger had said no.
        else if (cached?.auditor === true) auditor = true;
        else {
          // The ledger's error goes to the log only: it may name a refused block, its writer
          // or a peer, which a caller with no auditor role may not read.
          this.options.onError?.(error);
          throw new HttpError(
            503,
            `The console cannot check ${organisation}'s role on the ledger right now; the reason is in the console's log. Try again in a minute.`,
          );
        }
      }
      this.roles.set(organisation, { auditor, until: Date.now() + 5_000 });
    }
    if (!auditor)
      throw new HttpError(
        403,
        `${organisation} does not hold the auditor role on the ledger, so it may not read the consortium's records here. Ask the consortium's coordinator to register it as an auditor.`,
      );
    return organisation;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(request.url ?? '/', 'https://console.invalid');
    // The ledger's problem (a refused block, its writer, a peer's error) is shown to auditors
    // only: a refusal page is read by whoever reached the port.
    let signedIn: string | undefined;
    const context = (caller: string): PageContext => ({
      caller,
      ledgerDescription: this.options.ledgerDescription,
      path: url.pathname,
      ...(this.problem && signedIn !== undefined ? { problem: this.problem } : {}),
    });
    const send = (
      status: number,
      type: string,
      body: string | Buffer,
      extra: Record<string, string> = {},
    ) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      response.writeHead(status, {
        ...SECURITY_HEADERS,
        'content-type': type,
        'server-timing': `app;dur=${ms.toFixed(2)}`,
        ...extra,
      });
      response.end(body);
    };
    const page = (caller: string, title: string, body: Html, scripts: string[] = []) =>
      send(
        200,
        'text/html; charset=utf-8',
        layout(context(caller), title, body, ['/assets/console.js', ...scripts]),
      );
    try {
      if (request.method !== 'GET' && request.method !== 'HEAD')
        throw new HttpError(405, 'The console is read only: it answers GET requests.');
      if (url.pathname === '/favicon.ico') {
        send(204, 'image/x-icon', '');
        return;
      }
      const asset = ASSETS[url.pathname];
      if (asset !== undefined) {
        send(200, asset.type, readFileSync(asset.file), { 'cache-control': 'max-age=3600' });
        return;
      }
      const caller = await this.caller(request);
      signedIn = caller;
      const path = url.pathname;
      if (path === '/') {
        page(caller, 'Overview', overviewPage(this.index, await this.options.history.health()));
      } else if (path === '/events') {
        response.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'text/event-stream',
          connection: 'keep-alive',
        });
        response.write(`event: ready\ndata: ${JSON.stringify({ block: this.index.height })}\n\n`);
        if (this.problem)
          response.write(`event: problem\ndata: ${JSON.stringify({ message: this.problem })}\n\n`);
        this.streams.add(response);
        request.on('close', () => this.streams.delete(response));
      } else if (path === '/fragments/latest-rounds') {
        send(200, 'text/html; charset=utf-8', latestRoundsTable(this.index).text);
      } else if (path === '/rounds') {
        page(caller, 'Rounds', roundsPage(this.index, url.searchParams));
      } else if (path.startsWith('/rounds/')) {
        const roundId = decodeURIComponent(path.slice('/rounds/'.length));
        const key = this.index.rounds.get(roundId)?.record.manifest?.ckksKeySha256;
        const body = roundPage(
          this.index,
          roundId,
          key ? await this.index.keyDecryptions(key) : [],
        );
        if (body === undefined) throw new HttpError(404, `The ledger has no round ${roundId}.`);
        page(caller, `Round ${roundId}`, body);
      } else if (path === '/lineage') {
        const model =
          url.searchParams.get('model') ?? [...this.index.modelVersions.keys()].at(-1) ?? null;
        const lineages =
          model && this.index.modelVersions.has(model) ? await this.lineages(model) : [];
        page(caller, 'Lineage', lineagePage(this.index, model, lineages), [
          '/assets/cytoscape.min.js',
          '/assets/lineage.js',
        ]);
      } else if (path.startsWith('/api/lineage/')) {
        const model = path.slice('/api/lineage/'.length);
        if (!this.index.modelVersions.has(model))
          throw new HttpError(404, `The ledger has no model version ${model}.`);
        send(200, 'application/json', await this.lineageGraphJson(model));
      } else if (path === '/consents') {
        page(caller, 'Consents', consentsPage(this.index, url.searchParams, Date.now()));
      } else if (path === '/verify') {
        page(caller, 'Verify an upload', verifyPage(this.index, url.searchParams), [
          '/assets/verify.js',
        ]);
      } else if (path === '/export') {
        page(caller, 'Evidence export', this.exportPage());
      } else if (/^\/export\/[0-9a-f]{64}\.(json|pdf)$/.test(path)) {
        const [model, extension] = path.slice('/export/'.length).split('.') as [string, string];
        const bundle = await this.bundle(model);
        if (extension === 'json')
          send(200, 'application/json', canonicalJson(bundle), {
            'content-disposition': `attachment; filename="veilsum-evidence-${model.slice(0, 16)}.json"`,
          });
        else
          send(200, 'application/pdf', await evidenceReportPdf(bundle), {
            'content-disposition': `attachment; filename="veilsum-evidence-${model.slice(0, 16)}.pdf"`,
          });
      } else {
        throw new HttpError(404, `There is no page ${path}.`);
      }
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message =
        error instanceof HttpError
          ? error.message
          : 'The console could not read the ledger for this page; the error is in its log.';
      if (!(error instanceof HttpError)) this.options.onError?.(error);
      send(
        status,
        'text/html; charset=utf-8',
        layout(
          context(signedIn ?? '(not signed in)'),
          status === 401 || status === 403 ? 'Access refused' : 'Not available',
          html`<p role="alert">${message}</p>`,
        ),
      );
    }
  }

  /**
   * A version's lineage never changes once recorded (its round is closed and its consents are
   * read as of now only for revocations, which are events): cached until the next block.
   */
  private readonly lineageCache = new Map<string, { height: number; lineage: Promise<Lineage> }>();

  private lineages(model: string): Promise<Lineage[]> {
    return lineagesUpTo(this.index, model, (hash) => {
      const cached = this.lineageCache.get(hash);
      if (cached !== undefined && cached.height === this.index.height) return cached.lineage;
      const lineage = this.options.ledger.lineage(hash);
      this.lineageCache.set(hash, { height: this.index.height, lineage });
      lineage.catch(() => this.lineageCache.delete(hash));
      return lineage;
    });
  }

  private readonly graphCache = new Map<string, { height: number; json: Promise<string> }>();

  /** The lineage graph's JSON (10 000 edges for 100 versions of 100 banks), until the next block. */
  private lineageGraphJson(model: string): Promise<string> {
    const cached = this.graphCache.get(model);
    if (cached !== undefined && cached.height === this.index.height) return cached.json;
    const json = this.lineages(model).then((lineages) => JSON.stringify(lineageGraph(lineages)));
    // One model's graph at a time: officers look at a few, and each is large.
    this.graphCache.clear();
    this.graphCache.set(model, { height: this.index.height, json });
    json.catch(() => this.graphCache.delete(model));
    return json;
  }

  private async bundle(model: string) {
    if (!this.index.modelVersions.has(model))
      throw new HttpError(404, `The ledger has no model version ${model}.`);
    if (this.options.fabricEvidence !== undefined)
      return this.options.fabricEvidence.build(model, await this.lineages(model));
    if (this.options.blocks === undefined)
      throw new HttpError(501, 'This console has no blocks to build evidence bundles from.');
    return buildEvidenceBundle(model, await this.lineages(model), await this.options.blocks());
  }

  private exportPage(): Html {
    const versions = [...this.index.modelVersions.values()].sort((a, b) => b.at.block - a.at.block);
    if (versions.length === 0)
      return html`<p>No model version has been recorded on the ledger yet.</p>`;
    const exportable =
      this.options.blocks !== undefined || this.options.fabricEvidence !== undefined;
    return html`${
        this.options.fabricEvidence !== undefined
          ? html`<p id="export-fabric">
              For one model version: a JSON bundle (the Fabric blocks its lineage rests on, as your
              bank's peer stores them, with the orderer's signatures, each transaction's creator and
              endorsements, the channel's configuration with its organisations' CA certificates, and
              the header of every block up to the head) that
              <code
                >veilsum audit verify-bundle &lt;file&gt; --channel &lt;channel&gt; --chaincode
                &lt;chaincode&gt; --orderer &lt;MSP&gt;=&lt;CA file&gt; --bank &lt;MSP&gt;=&lt;CA
                file&gt; … --trust &lt;MSP&gt;=&lt;CA file&gt; …</code
              >
              checks offline against each organisation's CA certificate as the auditor knows it (by
              MSP id: the orderer's, every bank's, every other member's; never the bundle's own),
              and a PDF report of the same evidence for a regulator.
            </p>`
          : exportable
            ? html`<p>
                For one model version: a JSON bundle (the signed blocks its lineage rests on, the
                chain's links up to the head, inclusion proofs) that
                <code>veilsum audit verify-bundle &lt;file&gt; --ca &lt;consortium CA&gt;</code>
                checks offline, and a PDF report of the same evidence for a regulator.
              </p>`
            : html`<p id="export-unavailable">
                This console has no blocks to build evidence bundles from: list the block and
                transaction of each record below, as the lineage page shows them.
              </p>`
      }
      <table>
        <caption>
          Model versions on the ledger
        </caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Version</th>
            <th scope="col">Recorded</th>
            <th scope="col">Evidence</th>
          </tr>
        </thead>
        <tbody>
          ${versions.map(
            ({ record, at }) =>
              html`<tr>
                <td>${record.modelId}</td>
                <td>${hash(record.modelHash)}</td>
                <td>${time(record.recordedAt)}</td>
                <td>
                  ${
                    exportable
                      ? html`<a href="/export/${record.modelHash}.json" download
                            >JSON bundle<span class="visually-hidden">
                              for ${record.modelHash}</span
                            ></a
                          >
                          ·
                          <a href="/export/${record.modelHash}.pdf" download
                            >PDF report<span class="visually-hidden">
                              for ${record.modelHash}</span
                            ></a
                          >`
                      : html`${cite(at)}`
                  }
                </td>
              </tr>`,
          )}
        </tbody>
      </table>`;
  }
}

function splitHostPort(listen: string): [string, number] {
  const colon = listen.lastIndexOf(':');
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isSafeInteger(port) || port < 0 || port > 65535)
    throw new Error(`--listen ${listen} must be host:port, e.g. 127.0.0.1:8443`);
  return [listen.slice(0, colon), port];
}
