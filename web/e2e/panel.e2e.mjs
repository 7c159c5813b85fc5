// End-to-end test of the panel in a real (headless) Chromium, against whatever serves PANEL_URL:
// the real `mom panel` + backend, or web/dev/fake-backend.mjs during development.
//
//   PANEL_URL=http://127.0.0.1:9090 node --test web/e2e/
//
// Environment: PANEL_URL (default http://127.0.0.1:9090), CHROMIUM_PATH (default /usr/bin/chromium),
// E2E_WAIT_MS (one UI wait, default 30000), E2E_JOB_WAIT_MS (a job to finish, default 60000).
// Screenshots go to artifacts/screenshots/ at the repository root.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const PANEL_URL = (process.env.PANEL_URL || 'http://127.0.0.1:9090').replace(/\/+$/, '');
const WAIT = Number(process.env.E2E_WAIT_MS || 30000);
const JOB_WAIT = Number(process.env.E2E_JOB_WAIT_MS || 60000);
const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(here, '..', '..', 'artifacts', 'screenshots');

const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
// scripts/e2e names the user and makes that email an admin (ADMIN_EMAILS), for the System page.
const user = { firstName: 'Ada', lastName: 'Lovelace', email: process.env.E2E_EMAIL || `e2e-${stamp}@example.com`, password: `Pw-${stamp}-secret` };

let browser;
const consoleErrors = [];
let failedEarlier = false;

function watch(page, label) {
  page.setDefaultTimeout(WAIT);
  page.setDefaultNavigationTimeout(WAIT);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url ?? '';
    // /config.json is optional by contract: the panel falls back to the default ports.
    if (url.endsWith('/config.json')) return;
    consoleErrors.push(`[${label}] ${msg.text()} ${url}`.trim());
  });
  page.on('pageerror', (err) => consoleErrors.push(`[${label}] uncaught: ${err.message}`));
}

async function shot(page, name) {
  await page.waitForTimeout(150); // let transitions settle
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function noConsoleErrors() {
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
}

/** Runs a step; once one step failed, the later ones are skipped instead of failing in cascade. */
function step(t, name, fn) {
  return t.test(name, async (st) => {
    if (failedEarlier) {
      st.skip('an earlier step failed');
      return;
    }
    try {
      await fn();
    } catch (e) {
      failedEarlier = true;
      throw e;
    }
  });
}

async function jobStatus(page, id, wanted, timeout) {
  const handle = await page.waitForFunction(
    ([jobId, want]) => {
      const el = document.querySelector(`[data-testid="job-card"][data-job-id="${jobId}"]`);
      const s = el?.getAttribute('data-status');
      return s && (want.includes(s) || s === 'failed') ? s : null;
    },
    [id, wanted],
    { timeout, polling: 100 },
  );
  return handle.jsonValue();
}

async function resultsOf(page, id) {
  return page
    .locator(`[data-testid="job-card"][data-job-id="${id}"] [data-testid="step-result"]`)
    .evaluateAll((els) => els.map((e) => JSON.parse(e.getAttribute('data-result'))));
}

async function logIn(page) {
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/jobs$/);
  await page.getByTestId('sign-out').waitFor();
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    timeout: WAIT,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

test('panel: register, log in, order a job, watch it live, system page, sign out', { timeout: 6 * 60000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watch(page, 'desktop');
  let jobId;

  await step(t, 'signed out visitors land on the login page', async () => {
    const res = await fetch(`${PANEL_URL}/`, { signal: AbortSignal.timeout(WAIT) }).catch((e) => e);
    assert.ok(res instanceof Response && res.ok, `nothing serves the panel at PANEL_URL=${PANEL_URL} (${res?.message ?? res?.status})`);
    await page.goto(`${PANEL_URL}/`);
    await page.waitForURL(/\/login/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, '01-login');
  });

  await step(t, 'register a new user (field errors shown next to the fields first)', async () => {
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/register$/);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByTestId('register-email-error').waitFor();
    await shot(page, '02-register-errors');
    await page.getByLabel('First name').fill(user.firstName);
    await page.getByLabel('Last name').fill(user.lastName);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await shot(page, '03-register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/login$/);
    await page.getByTestId('flash').waitFor();
    assert.equal(await page.getByLabel('Email').inputValue(), user.email);
  });

  await step(t, 'log in', async () => {
    await logIn(page);
    await page.locator('[data-testid="live-status"][data-status="live"]').waitFor();
    await page.getByTestId('jobs-empty').waitFor();
    await shot(page, '04-jobs-empty');
  });

  await step(t, 'order a 3-step job (inline validation first)', async () => {
    await page.getByTestId('nav-new').click();
    await page.waitForURL(/\/new$/);
    await page.getByTestId('step-numbers-0').fill('1,x');
    await page.getByTestId('step-numbers-0').blur();
    await page.getByTestId('step-numbers-0-error').waitFor();
    await page.getByTestId('step-numbers-0').fill('1,2,3');
    await page.getByTestId('add-step').click();
    await page.getByTestId('step-method-1').selectOption('multiply');
    await page.getByTestId('step-numbers-1').fill('2,3,4');
    await page.getByTestId('add-step').click();
    await page.getByTestId('step-method-2').selectOption('factors');
    await page.getByTestId('step-numbers-2').fill('12,97');
    assert.equal(await page.getByTestId('step-numbers-0-error').count(), 0);
    await shot(page, '05-new-job');
    await page.evaluate(() => {
      window.__e2eNoReload = true;
    });
    await page.getByTestId('submit-job').click();
    await page.waitForURL(/\/jobs$/);
    const card = page.getByTestId('job-card').first();
    await card.waitFor();
    jobId = await card.getAttribute('data-job-id');
    assert.ok(jobId, 'the new job has an id');
  });

  await step(t, 'the job completes live, without a reload', async () => {
    try {
      const s = await jobStatus(page, jobId, ['running', 'done'], JOB_WAIT);
      if (s === 'running') await shot(page, '06-job-running');
    } catch {
      /* too quick to catch running: fine */
    }
    const status = await jobStatus(page, jobId, ['done'], JOB_WAIT);
    const card = page.locator(`[data-testid="job-card"][data-job-id="${jobId}"]`);
    if (status !== 'done') assert.fail(`job ${jobId} failed: ${await card.getByTestId('job-error').textContent()}`);
    assert.deepEqual(await resultsOf(page, jobId), [6, 24, [[2, 3], [97]]]);
    assert.equal(await card.getByTestId('job-status').textContent(), 'Done');
    assert.equal(await card.getByRole('progressbar').getAttribute('aria-valuenow'), '3');
    assert.equal(await page.evaluate(() => window.__e2eNoReload), true, 'the page was not reloaded');
    await shot(page, '07-job-done');
  });

  await step(t, 'after a reload the results are still there', async () => {
    await page.reload();
    assert.equal(await jobStatus(page, jobId, ['done'], WAIT), 'done');
    assert.deepEqual(await resultsOf(page, jobId), [6, 24, [[2, 3], [97]]]);
  });

  await step(t, 'the System page lists the queues', async () => {
    await page.getByTestId('nav-system').click();
    await page.waitForURL(/\/system$/);
    await page.getByTestId('queue-row').first().waitFor();
    assert.ok((await page.getByTestId('queue-row').count()) >= 1);
    await page.waitForTimeout(2500); // one refresh, so the depth sparklines have two points
    // The last hour from PostgreSQL: the job this test ordered is in the charts.
    const throughput = page.getByTestId('chart-throughput');
    await throughput.waitFor();
    // A point for every minute of the hour (times out otherwise).
    await page.waitForFunction(() => {
      const d = document.querySelector('[data-testid="chart-throughput"] path[data-series="created"]')?.getAttribute('d') ?? '';
      return (d.match(/[ML]/g) ?? []).length === 60;
    });
    const done = await throughput.locator('path[data-series="done"]').getAttribute('d');
    assert.ok(done && done.startsWith('M'), 'a line for finished jobs');
    const latency = await page.getByTestId('chart-latency').locator('path[data-series="p50"]').getAttribute('d');
    assert.ok(latency && latency.startsWith('M'), 'the finished job has a duration point');
    // The worker's db and math consumers, from its report (every 5 s) in PostgreSQL.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="consumer-row"]').length >= 2);
    assert.equal(await page.getByTestId('no-consumer-warning').count(), 0, 'every queue has a consumer');
    await shot(page, '08-system');
  });

  await step(t, 'a job finishing while on another page raises a toast', async () => {
    // Ordered while the System page is open, so it finishes off the jobs page whatever the
    // pipeline's speed (ordered from the form, it may finish before the page changes).
    await page.getByTestId('nav-system').click();
    await page.waitForURL(/\/system$/);
    const ordered = await page.evaluate(async () => {
      const { apiUrl } = await (await fetch('/config.json')).json();
      const { login } = JSON.parse(localStorage.getItem('mom.session'));
      const response = await fetch(`${apiUrl}/job`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: login.accessToken },
        body: JSON.stringify({ type: 'math', details: [{ method: 'add', numbers: '5,5' }] }),
      });
      return { status: response.status, id: (await response.json()).id };
    });
    assert.equal(ordered.status, 201);
    await page
      .getByTestId('toast')
      .filter({ hasText: new RegExp(`Job #${ordered.id} (is done|failed)`) })
      .waitFor({ timeout: JOB_WAIT });
    await shot(page, '09-toast');
  });

  await step(t, 'a user cancels a running job', async () => {
    // Twenty steps, each waiting on the math service's delay: running for seconds, long past
    // the click that cancels it.
    await page.getByTestId('nav-jobs').click();
    await page.waitForURL(/\/jobs$/);
    const ordered = await page.evaluate(async () => {
      const { apiUrl } = await (await fetch('/config.json')).json();
      const { login } = JSON.parse(localStorage.getItem('mom.session'));
      const details = Array.from({ length: 20 }, (_, i) => ({ method: 'add', numbers: `${i},1` }));
      const response = await fetch(`${apiUrl}/job`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: login.accessToken },
        body: JSON.stringify({ type: 'math', details }),
      });
      return { status: response.status, id: (await response.json()).id };
    });
    assert.equal(ordered.status, 201);
    const id = String(ordered.id);
    assert.equal(await jobStatus(page, id, ['running', 'done'], JOB_WAIT), 'running');
    const card = page.locator(`[data-testid="job-card"][data-job-id="${id}"]`);
    await card.getByRole('button', { name: `Cancel job #${id}` }).click();
    assert.equal(await jobStatus(page, id, ['cancelled', 'done'], WAIT), 'cancelled');
    assert.equal(await card.getByTestId('job-status').textContent(), 'Cancelled');
    assert.match(await card.getByTestId('job-cancelled').textContent(), /cancelled by its owner/);
    assert.equal(await card.getByTestId('job-cancel').count(), 0, 'no Cancel on a cancelled job');
    await shot(page, '10-job-cancelled');
    // The server agrees, and the job stopped short of its last step.
    const stored = await page.evaluate(async (jobId) => {
      const { apiUrl } = await (await fetch('/config.json')).json();
      const { login } = JSON.parse(localStorage.getItem('mom.session'));
      const response = await fetch(`${apiUrl}/job/my`, { headers: { Authorization: login.accessToken } });
      return (await response.json()).find((j) => j.id === jobId);
    }, ordered.id);
    assert.equal(stored.status, 'cancelled');
    assert.ok(stored.stepsDone < 20, `stopped after ${stored.stepsDone} of 20 steps`);
  });

  await step(t, 'an admin sees a dead letter, replays it and watches its job finish', async () => {
    // scripts/e2e sets MATH_FAULT=divide:2 with MATH_ATTEMPTS=2: each divide input fails its
    // two attempts, so this job's second step dies; the replay is its third call, answered.
    await page.getByTestId('nav-system').click();
    await page.waitForURL(/\/system$/);
    const ordered = await page.evaluate(async () => {
      const { apiUrl } = await (await fetch('/config.json')).json();
      const { login } = JSON.parse(localStorage.getItem('mom.session'));
      const response = await fetch(`${apiUrl}/job`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: login.accessToken },
        body: JSON.stringify({ type: 'math', details: [{ method: 'add', numbers: '40,2' }, { method: 'divide', numbers: '84,2' }] }),
      });
      return { status: response.status, id: (await response.json()).id };
    });
    assert.equal(ordered.status, 201);
    const row = page.locator(`[data-testid="dead-letter"][data-job-id="${ordered.id}"]`);
    await row.waitFor({ timeout: JOB_WAIT });
    assert.match(await row.getByTestId('dead-letter-reason').textContent(), /gave up after 2 attempts/);
    assert.notEqual(await page.getByTestId('dead-letters-total').textContent(), '0');
    await row.scrollIntoViewIfNeeded();
    await shot(page, '11-dead-letter');
    await row.getByTestId('replay-one').click();
    await page.getByTestId('dead-letters-notice').filter({ hasText: 'Replayed 1 dead letter.' }).waitFor();
    await row.waitFor({ state: 'detached' });

    await page.getByTestId('nav-jobs').click();
    await page.waitForURL(/\/jobs$/);
    const card = page.locator(`[data-testid="job-card"][data-job-id="${ordered.id}"]`);
    await page.waitForFunction((id) => document.querySelector(`[data-testid="job-card"][data-job-id="${id}"]`)?.getAttribute('data-status') === 'done', ordered.id, {
      timeout: JOB_WAIT,
      polling: 100,
    });
    assert.deepEqual(await resultsOf(page, ordered.id), [42, 42]);
    assert.equal(await card.getByTestId('job-status').textContent(), 'Done');
    await shot(page, '12-replayed-job-done');
  });

  await step(t, 'sign out', async () => {
    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/login$/);
    await page.getByTestId('flash').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('mom.session')), null);
    await shot(page, '13-signed-out');
  });

  await context.close();
  noConsoleErrors();
});

test('panel on a phone-sized screen', { timeout: 3 * 60000 }, async (t) => {
  if (failedEarlier) {
    t.skip('the desktop flow failed');
    return;
  }
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watch(page, 'phone');

  await step(t, 'login page', async () => {
    await page.goto(`${PANEL_URL}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, 'm01-login');
  });
  await step(t, 'jobs finished while away are marked new', async () => {
    await logIn(page);
    await page.getByTestId('job-card').first().waitFor();
    // A fresh browser has not shown these finished jobs yet.
    await page.getByTestId('job-new').first().waitFor();
    await shot(page, 'm02-jobs');
  });
  await step(t, 'new job page', async () => {
    await page.getByTestId('nav-new').click();
    await page.getByTestId('add-step').click();
    await page.getByTestId('step-method-1').selectOption('divide');
    await page.getByTestId('step-numbers-1').fill('8,0');
    // The button is aria-disabled while the form is invalid; Enter still tries, and shows why not.
    await page.getByTestId('step-numbers-1').press('Enter');
    await page.getByTestId('step-numbers-1-error').waitFor();
    await shot(page, 'm03-new-job');
  });
  await step(t, 'system page', async () => {
    await page.getByTestId('nav-system').click();
    await page.getByTestId('queue-row').first().waitFor();
    await shot(page, 'm04-system');
  });
  await step(t, 'sign out', async () => {
    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/login$/);
  });

  await context.close();
  noConsoleErrors();
});
