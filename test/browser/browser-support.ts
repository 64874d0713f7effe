import { expect } from '@jest/globals';
import AxeBuilder from '@axe-core/playwright';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/** Debian's Chromium, as `.ci/run` installs it (playwright-core drives the system browser). */
export const CHROMIUM = process.env.VEILSUM_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join('.scratch', 'screenshots');

/** Opens `path` in a new tab; a status other than 200 fails with the page's text (the refusal). */
export async function openPage(context: BrowserContext, origin: string, path: string) {
  const page = await context.newPage();
  const response = await page.goto(`${origin}${path}`);
  expect({
    status: response?.status(),
    path,
    body: response?.status() === 200 ? '' : await page.textContent('body'),
  }).toEqual({ status: 200, path, body: '' });
  return page;
}

/** No serious or critical axe-core violation (WCAG 2 A and AA rules) on the page as it is now. */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  const serious = results.violations.filter(
    (v) => v.impact === 'serious' || v.impact === 'critical',
  );
  expect(serious.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
}
