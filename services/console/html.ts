/**
 * Server-rendered HTML: a tagged template that escapes every interpolated value unless it is
 * already Html, so nothing read from the ledger (ids, reasons, dataset names) can inject markup.
 */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

type Interpolated = Html | string | number | boolean | null | undefined | readonly Interpolated[];

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A time as the ledger holds it (ms since the epoch), in UTC, machine-readable too. */
export function time(ms: number | null | undefined): Html {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return html`<span>—</span>`;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return html`<span>out of range (${ms})</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`;
}

/** A long hash shortened for reading, whole in its title and for copying. */
export function hash(value: string | null | undefined): Html {
  if (!value) return html`<span>—</span>`;
  return html`<code class="hash" title="${value}">${value.slice(0, 12)}…${value.slice(-6)}</code>`;
}

export interface Citation {
  readonly block: number;
  readonly transactionId: string;
  readonly committedAt?: number | null;
}

/** "block 12, tx 3fa…": where a figure comes from on the ledger. */
export function cite(at: Citation | null | undefined): Html {
  if (!at) return html`<span class="cite">not on the ledger</span>`;
  return html`<span class="cite"
    >block ${at.block}, transaction
    ${hash(at.transactionId)}${at.committedAt ? html`, committed ${time(at.committedAt)}` : ''}</span
  >`;
}

export const NAVIGATION = [
  ['/', 'Overview'],
  ['/rounds', 'Rounds'],
  ['/lineage', 'Lineage'],
  ['/consents', 'Consents'],
  ['/verify', 'Verify an upload'],
  ['/export', 'Evidence export'],
] as const;

export interface PageContext {
  /** The signed-in officer (the O of their certificate) and what the console reads. */
  readonly caller: string;
  readonly ledgerDescription: string;
  readonly path: string;
  /** Why what the pages show may be behind the ledger now. */
  readonly problem?: string;
}

export function layout(
  context: PageContext,
  title: string,
  body: Html,
  scripts: string[] = [],
): string {
  const nav = NAVIGATION.map(
    ([href, label]) =>
      html`<li>
        <a href="${href}" ${context.path === href ? new Html(' aria-current="page"') : ''}
          >${label}</a
        >
      </li>`,
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} — veilsum compliance console</title>
        <link rel="stylesheet" href="/assets/console.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <p class="brand">veilsum compliance console</p>
          <nav aria-label="Main">
            <ul>
              ${nav}
            </ul>
          </nav>
          <p class="who">
            Signed in as <strong>${context.caller}</strong> · reading ${context.ledgerDescription} ·
            read only
          </p>
        </header>
        <main id="main" tabindex="-1">
          <h1>${title}</h1>
          ${context.problem ? html`<p class="problem" role="alert" id="ledger-problem">This page may be out of date: ${context.problem}.</p>` : ''}
          ${body}
        </main>
        ${scripts.map((src) => html`<script src="${src}" defer></script>`)}
      </body>
    </html> `.text;
}
