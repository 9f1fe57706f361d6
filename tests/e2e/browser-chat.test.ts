/**
 * Two people chat in two real browser contexts (headless Chromium) through two different chat
 * servers; one goes away, messages wait, and appear when they come back.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { PROJECT_ROOT } from '../../src/infra/paths.js';
import { startWebServer } from '../../src/web/server.js';
import { launchChromium } from '../helpers/browser.js';
import { startInProcessSystem, TEST_SECRET } from '../helpers/in-process-system.js';
import { unique } from '../helpers/infra.js';

const ARTIFACTS = join(PROJECT_ROOT, 'test-results');

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
}, 300_000);
afterAll(async () => {
  await browser?.close();
});

async function signIn(url: string, user: string): Promise<Page> {
  const context = await browser.newContext();
  onTestFinished(() => context.close().catch(() => {}));
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('#signin-user', user);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 20000 });
  return page;
}

async function bodies(page: Page): Promise<string[]> {
  return page.$$eval('#messages li:not(.pending) .body', (els) => els.map((e) => e.textContent ?? ''));
}

describe('browser chat page', () => {
  it('chats live across two chat servers, then delivers what waited while one was away', async () => {
    const system = await startInProcessSystem({ edges: 2 });
    const web = await startWebServer({
      port: 0,
      discoveryUrl: system.discoveryUrl,
      devMode: true,
      authSecret: TEST_SECRET,
    });
    onTestFinished(() => web.close());
    const [alice, bob] = [unique('alice'), unique('bob')];

    const a = await signIn(web.url, alice);
    let b = await signIn(web.url, bob);
    const serverOf = (p: Page) => p.$eval('#status', (el) => (el as HTMLElement).dataset.server);
    expect(await serverOf(a)).not.toBe(await serverOf(b));

    await a.fill('#add-user', bob);
    await a.click('#add-form button');
    await a.fill('#send-body', 'hello bob');
    await a.click('#send-button');
    await b.click(`#people li[data-user="${alice}"]`, { timeout: 20000 });
    await b.waitForSelector('#messages li .body:text("hello bob")', { timeout: 20000 });
    await b.fill('#send-body', 'hi alice');
    await b.click('#send-button');
    await a.waitForSelector('#messages li.theirs .body:text("hi alice")', { timeout: 20000 });
    // Alice sees bob online.
    await a.waitForSelector(`#people li[data-user="${bob}"] .dot.online`, { timeout: 20000 });

    // Bob leaves; alice sees him go offline and writes anyway.
    await b.context().close();
    await a.waitForSelector(`#people li[data-user="${bob}"] .dot:not(.online)`, { timeout: 20000 });
    for (const text of ['are you there?', 'see you later']) {
      await a.fill('#send-body', text);
      await a.click('#send-button');
    }
    await a.waitForFunction(
      () => document.querySelectorAll('#messages li.mine:not(.pending)').length === 3,
      undefined,
      {
        timeout: 20000,
      },
    );

    // Bob comes back: the conversation, including what waited, is there in order.
    b = await signIn(web.url, bob);
    await b.click(`#people li[data-user="${alice}"]`, { timeout: 20000 });
    await b.waitForFunction(() => document.querySelectorAll('#messages li .body').length >= 4, undefined, {
      timeout: 20000,
    });
    expect(await bodies(b)).toEqual(['hello bob', 'hi alice', 'are you there?', 'see you later']);
    mkdirSync(ARTIFACTS, { recursive: true });
    await b.screenshot({ path: join(ARTIFACTS, 'e2e-chat.png'), fullPage: true });
  });
});
