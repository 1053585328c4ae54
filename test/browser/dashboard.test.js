// dashboard.test.js - the Dumper site in headless Chromium (playwright-core): log in, create an app,
// start the example host with the new key and see its agent register, press "Back up now", see the
// backup appear as good with its size, see the charts render, see a real restore drill's result (recorded with
// dumperd drill-record) on the backup and the database, download the backup and check its checksum, rotate the app key (the agent stops on the old one), look at the page on a phone-sized screen, create,
// use and revoke an API token on its page, add a second destination (the backup's copy shown on the app page)
// and remove it, log out, and check that a request without a
// session is refused. Screenshots go to $ARTIFACTS. Run by test/integration/site_browser.sh.
'use strict';
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const URL = process.env.SITE_URL;
const USER = process.env.SITE_USER;
const PASSWORD = process.env.SITE_PASSWORD;
const ART = process.env.ARTIFACTS;
const T = process.env.TMPDIR_TEST;

function fail(msg) { throw new Error(msg); }
function check(cond, msg) { if (!cond) fail(msg); }

let host = null;

async function shot(page, name) {
  await page.screenshot({ path: path.join(ART, name + '.png'), fullPage: true });
}

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await ctx.newPage();
    const consoleErrors = [];
    page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', e => consoleErrors.push(String(e)));

    // Without a session: the dashboard sends us to the login page.
    await page.goto(URL + '/');
    check(page.url().endsWith('/login.html'), 'not redirected to the login page: ' + page.url());
    await page.fill('#user', USER);
    await page.fill('#password', 'not the password');
    await page.click('#login-button');
    await page.waitForSelector('#login-error:not([hidden])');
    check(/wrong user name or password/.test(await page.textContent('#login-error')), 'wrong password message');
    await shot(page, '01-login-refused');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(URL + '/'), page.click('#login-button')]);
    await page.waitForSelector('#create-app');
    consoleErrors.length = 0; // the refused login's 401 was expected
    const cookies = await ctx.cookies();
    const sc = cookies.find(c => c.name === 'dumper_session');
    check(sc && sc.httpOnly && sc.sameSite === 'Strict', 'session cookie flags: ' + JSON.stringify(sc));
    check(!(await page.evaluate(() => document.cookie)).includes('dumper_session'), 'cookie visible to scripts');

    // Create an app: the key once, the rails line and the C snippet.
    await page.fill('#app-name', 'shop');
    await page.click('#create-app-button');
    await page.waitForSelector('#app-key');
    const key = (await page.textContent('#app-key')).trim();
    check(/^dk_[0-9a-f]{64}$/.test(key), 'app key: ' + key);
    check((await page.textContent('#rails-line')).trim() === 'rails g dumper:install ' + key, 'rails line');
    check((await page.textContent('#new-app-key')).includes('dumper_agent_start(&o);'), 'C snippet');
    await shot(page, '02-app-created');

    // Start the example host with the agent on the sample SQLite database.
    const hostLog = fs.openSync(path.join(T, 'host.log'), 'a');
    host = spawn(process.env.HOST_BIN, ['--port', process.env.HOST_PORT, '--api', URL, '--dumper', process.env.DUMPER,
                                        '--database', 'sqlite://' + process.env.SAMPLE_DB, '--key', 'main',
                                        '--log', path.join(T, 'agent.log')],
                 { cwd: T, env: { ...process.env, DUMPER_APP_KEY: key }, stdio: ['ignore', hostLog, hostLog] });

    await page.click('#open-new-app');
    await page.waitForSelector('#app-page');
    // The page refreshes itself: the agent and its database appear.
    await page.waitForSelector('#agents td.role-primary', { timeout: 30000 });
    const agentRow = await page.textContent('#agents tbody tr');
    check(agentRow.includes('example-host') && agentRow.includes(String(host.pid)), 'agent row: ' + agentRow);
    await page.waitForSelector('#databases tbody tr');
    check((await page.textContent('#databases')).includes('sqlite'), 'database row');
    // next run times of the schedule being edited
    await page.fill('#cron', '30 2 * * *');
    await page.fill('#tz', 'Europe/Paris');
    await page.waitForFunction(() => document.querySelectorAll('#next-runs li').length === 5);
    check((await page.textContent('#next-runs')).includes(':30:00'), 'next runs at :30');
    await page.click('#save-schedule');
    await page.waitForSelector('#schedules code');
    check((await page.textContent('#schedules')).includes('30 2 * * *'), 'schedule saved');

    // A second destination on its page (the header link): a refused one names the problem in one line, then a
    // directory with its retention; the backup below gets a copy there.
    const appUrl = page.url();
    await page.click('#nav-storage');
    await page.waitForSelector('#add-storage');
    check(await page.$('#no-storages'), 'no destination yet');
    await page.fill('#storage-name', 'offsite');
    await page.fill('#storage-location', 'relative/dir');
    await page.click('#add-storage-button');
    await page.waitForFunction(() => /must be an absolute directory/.test(document.querySelector('#toast').textContent));
    check((await page.textContent('#toast')) ===
          "storage location 'relative/dir' must be an absolute directory or s3://bucket/prefix", 'refused destination');
    check(consoleErrors.length === 1 && /400/.test(consoleErrors[0]), 'console errors: ' + consoleErrors.join(' | '));
    consoleErrors.length = 0; // the refused destination's 400 was expected
    const offsite = path.join(T, 'offsite');
    await page.fill('#storage-location', offsite);
    await page.fill('#storage-keep-last', '5');
    await page.fill('#storage-monthly', '12');
    await page.click('#add-storage-button');
    await page.waitForSelector('#storages tr[data-storage="offsite"]');
    const srow = await page.textContent('#storages tr[data-storage="offsite"]');
    check(srow.includes(offsite) && srow.includes('keep last 5, monthly 12') && srow.includes('0 good'), 'destination row: ' + srow);
    check(fs.statSync(offsite).isDirectory(), 'the destination directory was created');
    await shot(page, '02b-destinations');
    await page.goto(appUrl);
    await page.waitForSelector('#app-page');

    // Back up now -> a good backup with its size.
    await page.click('#backup-now');
    await page.waitForSelector('#backups tr[data-status="good"]', { timeout: 60000 });
    const row = page.locator('#backups tr[data-status="good"]').first();
    const bytes = parseInt(await row.locator('td.size').getAttribute('data-bytes'), 10);
    check(bytes > 100, 'backup size: ' + bytes);
    check(/(KiB|B)$/.test((await row.locator('td.size').textContent()).trim()), 'human size');
    // charts: one point per good backup
    await page.waitForSelector('#charts svg.chart[data-points="1"]');
    check((await page.locator('#charts svg.chart circle').count()) >= 2, 'chart points (size and duration)');
    // the restore command names the published file
    const restore = await row.locator('pre.restore').textContent();
    check(/^dumper restore \/\S+\/shop-production-main-\S+ sqlite:\/\//.test(restore), 'restore command: ' + restore);
    // its copy in the second destination, made by dumperd's copy worker (the page refreshes itself)
    await page.waitForSelector('#backups tr[data-status="good"] td.copies div[data-storage="offsite"][data-state="good"]',
                               { timeout: 30000 });
    check(fs.readdirSync(offsite, { recursive: true }).some(f => String(f).startsWith('shop-production-main-')),
          'the copy in the destination directory: ' + fs.readdirSync(offsite, { recursive: true }).join());
    await shot(page, '03-app-page');

    // Restore drill evidence: a real `dumper drill --json` of the published backup (passed), recorded with
    // `dumperd drill-record`; then one of a damaged copy (error). The page shows the backup's drill and the
    // database's last verified restore, and keeps it when the latest drill is not a pass.
    const published = restore.split(' ')[2], backupId = await row.getAttribute('data-backup');
    const drillOf = (file, want) => {
      const r = spawnSync(process.env.DUMPER, ['drill', file, '--json'], { encoding: 'utf8' });
      check(r.status === want, `dumper drill ${file}: exit ${r.status}: ${r.stderr}`);
      const out = path.join(T, `drill-${want}.json`);
      fs.writeFileSync(out, r.stdout);
      const rec = spawnSync(process.env.DUMPERD, ['drill-record', 'shop', backupId, out, '--data', process.env.DUMPERD_DATA],
                            { encoding: 'utf8' });
      check(rec.status === 0, 'drill-record: ' + rec.stderr);
    };
    drillOf(published, 0);
    await page.waitForSelector(`#backups tr[data-backup="${backupId}"] td.drill[data-drill="passed"]`, { timeout: 30000 });
    const verified = await page.getAttribute('#databases td.verified', 'data-verified');
    check(/^\d{4}-\d{2}-\d{2}T/.test(verified), 'last verified restore: ' + verified);
    check(/s ago|min ago/.test(await page.textContent('#databases td.verified')), 'verified: how long ago');
    await page.click(`#backups tr[data-backup="${backupId}"] td.drill summary`);
    const fig = await page.textContent(`#backups tr[data-backup="${backupId}"] td.drill .drill-figures`);
    check(/tables, \d+ rows/.test(fig) || /not restored/.test(fig), 'drill figures: ' + fig);
    await shot(page, '03c-drill-passed');
    const damaged = path.join(T, 'damaged');
    fs.mkdirSync(damaged);
    const copy = path.join(damaged, path.basename(published));
    fs.copyFileSync(published, copy);
    fs.copyFileSync(published + '.json', copy + '.json');
    const fd = fs.openSync(copy, 'r+');
    fs.writeSync(fd, Buffer.from([0]), 0, 1, 20);
    fs.closeSync(fd);
    drillOf(copy, 9);
    await page.waitForSelector(`#backups tr[data-backup="${backupId}"] td.drill[data-drill="error"]`, { timeout: 30000 });
    await page.waitForSelector('#databases td.verified span.status.error');
    check(await page.getAttribute('#databases td.verified', 'data-verified') === verified,
          'the last verified restore stays after an errored drill');
    await page.click(`#backups tr[data-backup="${backupId}"] td.drill summary`);
    check(/corrupt|checksum/.test(await page.textContent(`#backups tr[data-backup="${backupId}"] td.drill .drill-error`)),
          'the drill error shown');
    await shot(page, '03d-drill-error');

    // Download: the bytes' sha256 is the catalog's.
    const want = (await row.locator('div.mono').textContent()).replace('sha256 ', '').trim();
    const [dl] = await Promise.all([page.waitForEvent('download'), row.locator('a.download').click()]);
    const file = path.join(T, 'download.bin');
    await dl.saveAs(file);
    const got = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    check(got === want && want.length === 64, `download checksum ${got} != ${want}`);
    check(fs.statSync(file).size === bytes, 'download size');
    // the command for the downloaded file: its name as downloaded, the catalog's sha256
    const restoreDl = await row.locator('pre.restore-download').textContent();
    check(restoreDl === `dumper restore ./${dl.suggestedFilename()} ${restore.split(' ')[3]} --sha256 ${want}`,
      'downloaded-file restore command: ' + restoreDl);

    // A failing backup (the database file is gone): marked failed with its error, and on the chart.
    fs.renameSync(process.env.SAMPLE_DB, process.env.SAMPLE_DB + '.away');
    await page.click('#backup-now');
    await page.waitForSelector('#backups tr[data-status="failed"]', { timeout: 60000 });
    fs.renameSync(process.env.SAMPLE_DB + '.away', process.env.SAMPLE_DB);
    const failRow = await page.textContent('#backups tr[data-status="failed"]');
    check(/failed/.test(failRow) && /error|source|io|not|unable/i.test(failRow), 'failed row with its error: ' + failRow);
    await page.waitForSelector('#charts svg.chart g.fail');
    await shot(page, '03b-app-page-failure');

    // Rotate the key: confirmed in a dialog, the new key and its rails line shown once, the old key refused,
    // and the running agent stops at its next poll (one line in its log).
    page.once('dialog', dlg => dlg.accept());
    await page.click('#rotate-key');
    await page.waitForSelector('#rotated-key #app-key');
    const key2 = (await page.textContent('#rotated-key #app-key')).trim();
    check(/^dk_[0-9a-f]{64}$/.test(key2) && key2 !== key, 'rotated key: ' + key2);
    check((await page.textContent('#rotated-key #rails-line')).trim() === 'rails g dumper:install ' + key2, 'rails line of the new key');
    const old = await fetch(URL + '/api/v1/backups', { headers: { Authorization: 'Bearer ' + key } });
    check(old.status === 401, 'old key after the rotation: ' + old.status);
    const fresh = await fetch(URL + '/api/v1/backups', { headers: { Authorization: 'Bearer ' + key2 } });
    check(fresh.status === 200, 'new key: ' + fresh.status);
    for (let i = 0; ; i++) {
      const st = await (await fetch(`http://127.0.0.1:${process.env.HOST_PORT}/status`)).json();
      if (st.disabled === 1 && st.running === 0) break;
      check(i < 100, 'the agent did not stop after the rotation: ' + JSON.stringify(st));
      await new Promise(r => setTimeout(r, 200));
    }
    const agentLog = fs.readFileSync(path.join(T, 'agent.log'), 'utf8');
    check((agentLog.match(/refused the app key/g) || []).length === 1, 'one "refused the app key" line');
    await shot(page, '03c-key-rotated');

    // A phone-sized screen: no horizontal scrolling of the page itself (tables scroll in their box).
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
                                             isMobile: true, hasTouch: true, storageState: await ctx.storageState() });
    const pp = await phone.newPage();
    await pp.goto(page.url());
    await pp.waitForSelector('#backups tr[data-status="good"]');
    const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, 'page wider than a phone screen by ' + overflow + ' px');
    await shot(pp, '04-app-page-phone');
    await pp.goto(URL + '/#/');
    await pp.waitForSelector('#apps');
    await shot(pp, '05-apps-phone');
    await phone.close();

    // Notification channels: the header link, add a webhook (its secret shown once), its row without the URL's
    // path, remove it.
    await page.click('#nav-notify');
    await page.waitForSelector('#add-channel');
    await page.fill('#channel-name', 'ci-hook');
    await page.selectOption('#channel-kind', 'webhook');
    await page.fill('#channel-url', 'https://ci.example.com/hooks/dumper/SECRETPATH');
    await page.fill('#channel-on', 'failure,size');
    await page.click('#add-channel button[type=submit]');
    await page.waitForSelector('#channel-secret');
    const whsec = (await page.textContent('#channel-secret')).trim();
    check(/^ws_[0-9a-f]{64}$/.test(whsec), 'webhook secret: ' + whsec);
    const crow = await page.textContent('#channels tr[data-channel="ci-hook"]');
    check(crow.includes('https://ci.example.com/...') && !crow.includes('SECRETPATH') && crow.includes('failure,size'),
          'channel row: ' + crow);
    await shot(page, '03d-notifications');
    await page.click('#channels tr[data-channel="ci-hook"] button:has-text("Remove")');
    await page.waitForSelector('#channels tr[data-channel="ci-hook"]', { state: 'detached' });
    // API tokens: create one scoped to the app, see it once, use it on the REST API, revoke it.
    await page.click('#nav-tokens');
    await page.waitForSelector('#create-token');
    await page.fill('#token-name', 'ci-browser');
    await page.selectOption('#token-scope', 'read');
    await page.selectOption('#token-app', 'shop');
    await page.click('#create-token-button');
    await page.waitForSelector('#token-value');
    const tok = (await page.textContent('#token-value')).trim();
    check(/^dt_[0-9a-f]{64}$/.test(tok), 'token shown: ' + tok);
    const rest = await fetch(URL + '/api/v1/apps', { headers: { Authorization: 'Bearer ' + tok } });
    const restJson = await rest.json();
    check(rest.status === 200 && restJson.apps.map(a => a.name).join() === 'shop', 'token on the REST API: ' +
          rest.status + ' ' + JSON.stringify(restJson));
    const tokRow = await page.textContent('#tokens tbody');
    check(/ci-browser\s*read\s*shop\s*live/.test(tokRow), 'token row: ' + tokRow);
    await shot(page, '05b-token-created');
    page.once('dialog', d => d.accept());
    await page.click('#tokens .revoke-token[data-name="ci-browser"]');
    await page.waitForFunction(() => /revoked/.test(document.querySelector('#tokens tbody').textContent));
    check(!(await page.$('#token-value')), 'the token is shown only once');
    const gone = await fetch(URL + '/api/v1/apps', { headers: { Authorization: 'Bearer ' + tok } });
    check(gone.status === 401, 'revoked token: ' + gone.status);

    // The destination again: its good copy counted, then removed after a confirmation (the copies stay there).
    await page.click('#nav-storage');
    await page.waitForSelector('#storages tr[data-storage="offsite"]');
    check((await page.textContent('#storages tr[data-storage="offsite"]')).includes('1 good'), 'one good copy counted');
    page.once('dialog', d => d.accept());
    await page.click('#storages .remove-storage[data-name="offsite"]');
    await page.waitForSelector('#storages tr[data-storage="offsite"]', { state: 'detached' });
    check(await page.$('#no-storages'), 'no destination after the removal');
    check(fs.readdirSync(offsite).length > 0, 'the copies stored there were left in place');

    check(consoleErrors.length === 0, 'browser console errors: ' + consoleErrors.join(' | '));
    // Log out: back at the login page, and the old cookie no longer works.
    await page.click('#logout');
    await page.waitForSelector('#login-button');
    check(page.url() === URL + '/login.html', 'after logout: ' + page.url());
    const r = await fetch(URL + '/ui/apps', { headers: { Cookie: 'dumper_session=' + sc.value } });
    check(r.status === 401, 'old session after logout: ' + r.status);
    const r2 = await fetch(URL + '/ui/apps');
    check(r2.status === 401, 'no session: ' + r2.status);
    const r3 = await fetch(URL + '/app.js', { redirect: 'manual' });
    check(r3.status === 303, 'app.js without a session: ' + r3.status);
    await page.goto(URL + '/');
    check(page.url().endsWith('/login.html'), 'dashboard after logout: ' + page.url());
    await shot(page, '06-logged-out');
    await ctx.close();
  } finally {
    await browser.close();
  }
}

main().then(() => { if (host) host.kill('SIGTERM'); console.log('browser test passed'); },
            e => { if (host) host.kill('SIGTERM'); console.error('FAIL [site_browser]: ' + (e.stack || e)); process.exit(1); });
