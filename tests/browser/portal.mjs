// Drives the key portal in headless Chromium, as a consumer would:
//
//   node portal.mjs <portal url> <a key to sign in with> <protected url> <screenshot path>
//
// Signs in, creates a key and reads it from the page, calls the protected
// URL with it, rolls it with no grace, revokes the new key, and checks that
// a key named like an HTML tag shows as text. Prints one JSON line with
// what it saw, and exits non-zero on the first thing that is wrong.
import { chromium } from 'playwright-core';

const [portalUrl, signInKey, protectedUrl, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function status(key) {
  const res = await fetch(protectedUrl, { headers: { 'API-Key': key } });
  return res.status;
}

const browser = await chromium.launch({
  executablePath,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const alerts = [];
  page.on('dialog', async (dialog) => {
    if (dialog.type() === 'confirm') {
      await dialog.accept();
    } else {
      alerts.push(dialog.message());
      await dialog.dismiss();
    }
  });
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));

  await page.goto(portalUrl);
  await page.fill('#credential', signInKey);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#create:not([hidden])');
  await page.waitForSelector('#key-rows tr');

  const rowsNamed = (name) =>
    page.locator('#key-rows tr').filter({ has: page.locator('td.name', { hasText: name }) });

  // Create a key; the plaintext is on the page, once.
  await page.fill('#new-name', 'browser key');
  await page.check('#new-scopes input[value="reports:read"]');
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('#secret:not([hidden])');
  const first = (await page.textContent('#secret-value')).trim();
  check(/^[a-z0-9_]+_[0-9A-Za-z]{38}$/.test(first), `a key on the page: ${first}`);
  check((await page.textContent('#secret .warning')).includes('you will not see it again'), 'the warning');
  await rowsNamed('browser key').first().waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });
  seen.created = await status(first);
  check(seen.created === 200, `the new key calls the API: ${seen.created}`);
  await page.click('#secret-done');
  check((await page.textContent('#secret-value')) === '', 'the key is gone from the page');

  // Roll it with no grace.
  const row = rowsNamed('browser key').first();
  await row.locator('select.grace').selectOption('0');
  await row.locator('button.roll').click();
  await page.waitForSelector('#secret:not([hidden])');
  const second = (await page.textContent('#secret-value')).trim();
  check(second !== first, 'rolling made a new key');
  await page.click('#secret-done');
  seen.oldAfterRoll = await status(first);
  seen.newAfterRoll = await status(second);
  check(seen.oldAfterRoll === 401, `the old key after a roll with no grace: ${seen.oldAfterRoll}`);
  check(seen.newAfterRoll === 200, `the new key after the roll: ${seen.newAfterRoll}`);

  // Revoke the new one (the page asks first).
  const active = rowsNamed('browser key').filter({ has: page.locator('td.status', { hasText: 'active' }) });
  await active.locator('button.revoke').click();
  await page.waitForFunction(
    () => [...document.querySelectorAll('#key-rows tr')].filter((r) =>
      r.querySelector('td.name').textContent === 'browser key' &&
      r.querySelector('td.status').textContent === 'active').length === 0,
  );
  seen.revoked = await status(second);
  check(seen.revoked === 401, `the revoked key: ${seen.revoked}`);

  // A name that is HTML shows as text.
  await page.fill('#new-name', XSS);
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('#secret:not([hidden])');
  await page.click('#secret-done');
  const xssRow = rowsNamed(XSS).first();
  await xssRow.waitFor();
  seen.xssText = await xssRow.locator('td.name').textContent();
  check(seen.xssText === XSS, `the name as text: ${seen.xssText}`);
  seen.images = await page.locator('#key-rows img').count();
  check(seen.images === 0, 'no element was made from the name');
  await page.waitForTimeout(200);
  check(alerts.length === 0, `no script ran: ${alerts}`);
  check(consoleErrors.length === 0, `no console errors: ${consoleErrors}`);
  seen.ok = true;
} finally {
  await browser.close();
  console.log(JSON.stringify(seen));
}
