// SPDX-License-Identifier: GPL-2.0-or-later
// The household UI in a real browser: Debian's chromium driven by playwright-core, inside the lab
// (run.sh starts chromium in the lan1 namespace). Log in, see lan1 and its addresses, rename it
// "Game console" with the keyboard (Escape cancels, Enter saves), open a TCP port for it in the UI
// (the picker and the rules list show the name), see it listed, connect from the WAN, delete it in
// the UI, see the connection fail, see a pinhole a real UPnP client (upnpc) opens appear within 2 s,
// then untick "Apps on this device may open ports" on lan1's card (it asks first; Escape cancels),
// block: the app's pinhole goes and upnpc is refused (606); tick it again: upnpc works.
// Screenshots of every page go to $SHOTS. Exit 0 = all passed.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error('missing environment ' + k);
  return process.env[k];
};
const LAB = env('LAB');
const LAB_DIR = env('LAB_DIR');
const TOP = env('TOP');
const SHOTS = env('SHOTS');
const BASE = env('WEB_BASE');
const PASSWORD = env('WEB_PASSWORD');
const CHROMIUM = env('CHROMIUM_WRAPPER');
const LAN1_EUI64 = env('LAN1_EUI64');
const LAN1_MAC = env('LAN1_MAC');
const LAN1_V4 = env('LAN1_V4');
const LAN2_MAC = env('LAN2_MAC');
const CPE_WAN4 = env('CPE_WAN4');
const GIVE_PORT = Number(env('GIVE_PORT'));
const PORT = Number(process.env.TEST_PORT || 8081);

let checks = 0;
const t0 = Date.now();
function ok(msg) {
  checks++;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}] ok: ${msg}`);
}
function fail(msg) {
  throw new Error(msg);
}

function inNs(ns, cmd, args) {
  return spawnSync('ip', ['netns', 'exec', LAB + ns, cmd, ...args], { encoding: 'utf8', timeout: 15000 });
}
function canConnect(addr, port) {
  const r = inNs('wan', '/usr/bin/python3', [path.join(TOP, 'tests/lab/probe.py'), 'connect', 'tcp', addr, String(port), '1']);
  return r.status === 0;
}
async function shot(page, name) {
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log('   screenshot ' + file);
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--no-proxy-server', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.setDefaultTimeout(10000);

    // ---- login
    await page.goto(BASE + '/');
    await page.getByLabel('Router web password').waitFor();
    ok('the login page is shown');
    await shot(page, '01-login');
    await page.getByLabel('Router web password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong password.').waitFor();
    ok('a wrong password is refused');
    await page.getByLabel('Router web password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#nav').waitFor({ state: 'visible' });
    ok('logged in with the keyboard');
    const cookies = await context.cookies();
    const c = cookies.find((k) => k.name === 'igdd_session');
    if (!c || !c.httpOnly || c.sameSite !== 'Strict') fail('session cookie is not HttpOnly + SameSite=Strict: ' + JSON.stringify(c));
    ok('session cookie is HttpOnly and SameSite=Strict');
    if (await page.evaluate(() => document.cookie.includes('igdd_session'))) fail('page script can read the session cookie');
    ok('page script cannot read the session cookie');

    // ---- status strip
    await page.locator('#status .item').first().waitFor();
    const status = await page.locator('#status').innerText();
    if (!/Pinholes/.test(status)) fail('status strip without rule counts: ' + status);
    ok('status strip: ' + status.replace(/\s+/g, ' '));

    // ---- devices
    await page.getByRole('link', { name: 'Devices' }).click();
    await page.locator('#page-devices').waitFor({ state: 'visible' });
    await page.waitForTimeout(300);
    const devicesApi = await page.locator('#devices-note').isHidden();
    let lan1Listed = false;
    if (devicesApi) {
      const card = page.locator(`article.device[data-mac="${LAN1_MAC}"]`);
      await card.waitFor();
      const text = await card.innerText();
      if (!text.includes(LAN1_EUI64)) fail('lan1 card without its EUI-64 address: ' + text);
      if (!/stable/.test(text)) fail('lan1 card without address kinds: ' + text);
      lan1Listed = true;
      ok('Devices page lists lan1 with ' + LAN1_EUI64 + ' and its kind');
      // names from the DHCP server's lease file, with where they came from
      await card.locator('h3', { hasText: 'lan1-pc' }).waitFor({ timeout: 6000 });
      const src = await card.locator('.name-source').innerText();
      if (!/from its DHCP request/.test(src)) fail('lan1 card does not say where its name came from: ' + src);
      ok('lan1 is shown as "lan1-pc" ' + src);
      const card2 = page.locator(`article.device[data-mac="${LAN2_MAC}"]`);
      await card2.locator('h3', { hasText: 'lan2-console' }).waitFor({ timeout: 6000 });
      ok('lan2 is shown as "lan2-console" from its DHCP request');
    } else {
      ok('the devices API is not there yet (404): devices come from the rules (checked after adding one)');
    }
    await shot(page, '02-devices');

    // ---- rename lan1: Escape cancels, Enter saves; the name shows on the card
    const NAME = 'Game console';
    if (lan1Listed) {
      const card = () => page.locator(`article.device[data-mac="${LAN1_MAC}"]`);
      await card().getByRole('button', { name: /^Rename/ }).click();
      const input = card().getByLabel('Name', { exact: true });
      await input.waitFor();
      if (!(await input.evaluate((e) => e === document.activeElement))) fail('the name field does not get the focus');
      await input.fill('Not this one');
      await page.keyboard.press('Escape');
      await card().getByRole('button', { name: /^Rename/ }).waitFor();
      if (await card().locator('h3').innerText() === 'Not this one') fail('Escape saved the name');
      if (!(await page.evaluate(() => document.activeElement && document.activeElement.dataset.action === 'rename'))) {
        fail('after Escape the focus is not back on the Rename button');
      }
      ok('Escape cancels the rename and gives the focus back to Rename');
      await page.keyboard.press('Enter');   // the focused Rename button opens the form again
      await card().getByLabel('Name', { exact: true }).fill(NAME);
      await shot(page, '02a-devices-rename');
      await page.keyboard.press('Enter');
      await card().locator('h3', { hasText: NAME }).waitFor();
      const src = await card().locator('.name-source').innerText();
      if (!/named by you/.test(src) || !/lan1-pc/.test(src)) fail('after the rename the card does not put the household first: ' + src);
      ok('the household\'s name comes first, the DHCP one is still shown: ' + src);
      const said = await page.locator('#devices-result').innerText();
      if (!said.includes(NAME)) fail('no confirmation of the rename: ' + said);
      ok('lan1 renamed "' + NAME + '" with the keyboard: ' + said);
      await page.waitForTimeout(2500);   // a poll later the name is still there
      if (!(await card().locator('h3').innerText()).includes(NAME)) fail('the name went away after a poll');
      ok('the name survives the next poll');
      await shot(page, '02b-devices-renamed');
    }

    // ---- add a rule for lan1
    await page.getByRole('link', { name: 'Add rule' }).click();
    await page.locator('#page-add').waitFor({ state: 'visible' });
    const hasOption = lan1Listed && (await page.locator(`#add-device option[value="${LAN1_MAC}"]`).count()) > 0;
    if (hasOption) {
      const opt = await page.locator(`#add-device option[value="${LAN1_MAC}"]`).innerText();
      if (!opt.includes(NAME)) fail('the device picker does not show lan1\'s name: ' + opt);
      await page.getByLabel('Device', { exact: true }).selectOption(LAN1_MAC);
      ok('picked lan1 in the device list by its name: ' + opt);
      if (await page.locator('#add-v4').isVisible()) await page.locator('#add-v4').uncheck();
    } else {
      await page.getByLabel('Or type an IPv6 address').fill(LAN1_EUI64);
      ok('typed lan1\'s address (no device list yet)');
    }
    await page.getByLabel('TCP', { exact: true }).check();
    await page.getByLabel('Port or ports').fill(String(PORT));
    await page.getByLabel('What is it for? (optional)').fill('browser test');
    const follow = await page.locator('#add-follow').innerText();
    if (!/follows the device|network prefix/.test(follow)) fail('the page does not say the rule follows the device: ' + follow);
    ok('the page says the rule follows the device: "' + follow.slice(0, 80) + '…"');
    await shot(page, '03-add');
    await page.getByRole('button', { name: 'Open port' }).click();
    await page.locator('#add-result').filter({ hasText: 'Opened' }).waitFor();
    ok('the UI opened the port: ' + (await page.locator('#add-result').innerText()));

    // ---- rules: listed, and the connection works
    await page.getByRole('link', { name: 'Rules' }).click();
    const row = page.locator('#rules-body tr').filter({ hasText: 'browser test' });
    await row.first().waitFor();
    const rowText = await row.first().innerText();
    if (!rowText.includes(String(PORT)) || !/TCP/.test(rowText)) fail('the rule row lacks its port or protocol: ' + rowText);
    ok('the rule is listed: ' + rowText.replace(/\s+/g, ' ').slice(0, 120));
    if (lan1Listed) {
      if (!rowText.includes(NAME)) fail('the rule row does not name the device: ' + rowText);
      ok('the rule row names the device "' + NAME + '"');
    }
    await shot(page, '04-rules');
    if (!canConnect(LAN1_EUI64, PORT)) fail(`wan -> [${LAN1_EUI64}]:${PORT} does not connect with the rule`);
    ok(`wan -> [${LAN1_EUI64}]:${PORT}/tcp connects`);
    await page.waitForTimeout(4500); // two more polls: the packet counter and its chart move
    const pk = Number(await row.first().locator('.packets').innerText());
    if (pk < 1) fail('the packet counter did not count the connection: ' + pk);
    ok('the packet counter shows ' + pk);
    // the chart of packets over the lease: an SVG with a line, the last connection marked and named
    // (read in one go in the page: a poll redraws the row every 2 s)
    const ch = await row.first().evaluate((tr) => {
      const svg = tr.querySelector('svg.chart');
      if (!svg) return null;
      const r = svg.getBoundingClientRect();
      return { pts: Number(svg.dataset.points), lines: svg.querySelectorAll('path.line').length,
        dots: svg.querySelectorAll('circle.last').length, label: svg.getAttribute('aria-label'),
        last: (tr.querySelector('.last-packet') || {}).textContent || '',
        w: r.width, h: r.height };
    });
    if (!ch) fail('no chart in the rule row');
    if (ch.pts < 2 || ch.lines !== 1) fail('the chart has no line of packets: ' + JSON.stringify(ch));
    if (ch.dots !== 1) fail('the chart does not mark the last connection: ' + JSON.stringify(ch));
    if (!/last connection admitted at/.test(ch.label)) fail('the chart does not say when the last connection came: ' + ch.label);
    if (!/^last connection \d/.test(ch.last)) fail('no time of the last connection under the chart: ' + ch.last);
    if (ch.w < 100 || ch.h < 24) fail('the chart is not drawn at its size: ' + JSON.stringify(ch));
    ok('the packets chart: ' + ch.pts + ' points, ' + ch.label + ' ("' + ch.last + '")');
    await row.first().screenshot({ path: path.join(SHOTS, '05a-rule-chart.png') }).catch(() => {});   // a poll may redraw it meanwhile
    await shot(page, '05-rules-traffic');

    if (!devicesApi) {
      await page.getByRole('link', { name: 'Devices' }).click();
      const card = page.locator('article.device').filter({ hasText: LAN1_EUI64 });
      await card.first().waitFor();
      const text = await card.first().innerText();
      if (!/stable|eui64/i.test(text)) fail('lan1 card without its address kind: ' + text);
      ok('Devices page lists lan1 with ' + LAN1_EUI64 + ' (' + text.replace(/\s+/g, ' ').slice(0, 80) + ')');
      await shot(page, '06-devices-from-rules');
      await page.getByRole('link', { name: 'Rules' }).click();
    }

    // ---- delete in the UI: the connection fails
    await row.first().getByRole('button', { name: /^Delete/ }).click();
    await row.first().waitFor({ state: 'detached' });
    ok('the rule is gone from the list after Delete');
    if (canConnect(LAN1_EUI64, PORT)) fail(`wan -> [${LAN1_EUI64}]:${PORT} still connects after Delete`);
    ok(`wan -> [${LAN1_EUI64}]:${PORT}/tcp blocked after Delete`);

    // ---- a pinhole a real UPnP app opens (miniupnpc's upnpc on lan1) appears by itself
    // (upnpc first discovers the IGD over SSDP for up to 2 s; the clock starts when it has the pinhole)
    const r = inNs('lan1', 'upnpc', ['-i', '-6', '-A', '', '0', LAN1_EUI64, '5004', '17', '600']);
    const tAdd = Date.now();
    if (r.status !== 0 || !/Pinhole ID = [0-9]+/.test(r.stdout)) fail('upnpc -A failed: ' + r.stdout + r.stderr);
    await page.locator('#rules-body tr').filter({ hasText: 'UPnP AddPinhole' }).filter({ hasText: '5004' })
      .first().waitFor({ timeout: 2500 });
    const took = (Date.now() - tAdd) / 1000;
    if (took > 2.0 + 0.5) fail('the UPnP pinhole took ' + took + ' s to appear');
    ok(`a pinhole opened by upnpc (UPnP AddPinhole) appeared in ${took.toFixed(2)} s with its description, without a reload`);
    await shot(page, '07-rules-live');

    // ---- a console's port: upnpc on lan1 maps 9308 (as a PS4 asks, and it never tries another);
    // the household gives it to lan2 on the Rules page, and the WAN reaches lan2
    {
      const m = inNs('lan1', 'upnpc', ['-i', '-a', LAN1_V4, String(GIVE_PORT), String(GIVE_PORT), 'TCP', '600']);
      if (m.status !== 0 || !/is redirected to internal/.test(m.stdout)) fail('upnpc -a failed: ' + m.stdout + m.stderr);
      await page.getByRole('link', { name: 'Rules' }).click();
      const prow = () => page.locator('#rules-body tr').filter({ hasText: GIVE_PORT + ' → ' + GIVE_PORT });
      await prow().first().waitFor({ timeout: 2500 });
      const held = await prow().first().locator('.devname').innerText();
      if (!held.includes(NAME)) fail('the port mapping row does not say which device holds it: ' + held);
      ok('port ' + GIVE_PORT + ' is held by "' + held + '" (lan1)');
      if (canConnect(CPE_WAN4, GIVE_PORT)) fail('the WAN reached port ' + GIVE_PORT + ' before lan2 had it');
      await prow().first().getByRole('button', { name: /^Give .* to another device/ }).click();
      const pick = prow().first().locator('select[data-role="give-to"]');
      await pick.waitFor();
      await pick.selectOption(LAN2_MAC);
      await shot(page, '07c-rules-give');
      await prow().first().getByRole('button', { name: 'Give', exact: true }).click();
      await page.locator('#message').filter({ hasText: 'now goes to lan2-console' }).waitFor();
      await prow().filter({ hasText: 'lan2-console' }).first().waitFor();
      ok('the household gave port ' + GIVE_PORT + ' to lan2-console: ' + (await page.locator('#message').innerText()));
      if (!canConnect(CPE_WAN4, GIVE_PORT)) fail(`wan -> ${CPE_WAN4}:${GIVE_PORT} does not reach lan2 after the give`);
      ok(`wan -> ${CPE_WAN4}:${GIVE_PORT}/tcp reaches lan2`);
      await shot(page, '07d-rules-given');
    }

    // ---- block apps on lan1: asked first, the app-made pinhole goes, upnpc is refused; allow again
    if (lan1Listed) {
      await page.getByRole('link', { name: 'Devices' }).click();
      const card = () => page.locator(`article.device[data-mac="${LAN1_MAC}"]`);
      const box = () => card().getByLabel('Apps on this device may open ports (UPnP, PCP)');
      await box().waitFor();
      if (!(await box().isChecked())) fail('apps on lan1 are not allowed to begin with');
      await box().focus();
      await page.keyboard.press('Space');
      const question = card().locator('.confirm');
      await question.waitFor();
      const asked = await question.innerText();
      if (!/will be removed/.test(asked) || !/1 port opening/.test(asked)) fail('the question does not say the app rule goes: ' + asked);
      ok('unticking asks first: ' + asked.replace(/\s+/g, ' ').slice(0, 140));
      await shot(page, '07a-devices-block-confirm');
      await page.keyboard.press('Escape');
      await question.waitFor({ state: 'detached' });
      if (!(await box().isChecked())) fail('Escape blocked the apps');
      if (!(await page.evaluate(() => document.activeElement && document.activeElement.dataset.action === 'apps'))) {
        fail('after Escape the focus is not back on the switch');
      }
      ok('Escape cancels and gives the focus back to the switch');
      await page.keyboard.press('Space');
      await card().getByRole('button', { name: 'Block apps' }).click();
      await page.locator('#devices-result').filter({ hasText: 'may not open ports' }).waitFor();
      const said = await page.locator('#devices-result').innerText();
      if (!/1 port opening removed/.test(said)) fail('the answer does not say how many rules went: ' + said);
      if (await box().isChecked()) fail('the switch is still on after blocking');
      ok('apps on lan1 blocked: ' + said);
      await shot(page, '07b-devices-blocked');
      const refused = inNs('lan1', 'upnpc', ['-i', '-6', '-A', '', '0', LAN1_EUI64, '5005', '17', '600']);
      if (/Pinhole ID = [0-9]+/.test(refused.stdout) || !/606/.test(refused.stdout + refused.stderr)) {
        fail('upnpc -A from blocked lan1 was not refused with 606: ' + refused.stdout + refused.stderr);
      }
      ok('upnpc on blocked lan1 gets 606 Action not authorized');
      await page.waitForTimeout(2500);   // a poll later the switch still says blocked
      if (await box().isChecked()) fail('the switch came back on after a poll');
      await box().check();
      await page.locator('#devices-result').filter({ hasText: 'may open ports.' }).waitFor();
      ok('apps on lan1 allowed again: ' + (await page.locator('#devices-result').innerText()));
      const again = inNs('lan1', 'upnpc', ['-i', '-6', '-A', '', '0', LAN1_EUI64, '5005', '17', '600']);
      if (again.status !== 0 || !/Pinhole ID = [0-9]+/.test(again.stdout)) fail('upnpc -A after allowing failed: ' + again.stdout + again.stderr);
      ok('upnpc on lan1 opens a pinhole again');
    }

    // ---- settings
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel(/Longest time/).waitFor();
    await page.getByLabel(/Longest time/).fill('5');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#settings-result').filter({ hasText: 'Not saved' }).waitFor();
    ok('a bad max lease is refused: ' + (await page.locator('#settings-result').innerText()));
    await page.getByLabel(/Longest time/).fill('7200');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#settings-result').filter({ hasText: 'Saved.' }).waitFor();
    ok('settings saved');
    await shot(page, '08-settings');

    // ---- a phone
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Rules' }).click();
    await page.locator('#rules-body tr').first().waitFor();
    await shot(page, '09-rules-phone');
    ok('rules page rendered at phone width');

    // ---- log out
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Router web password').waitFor();
    ok('logged out');

    const bad = errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
    if (bad.length) fail('browser errors: ' + bad.join(' | '));
    ok('no script errors and no CSP violations in the console');
  } finally {
    await browser.close();
  }
  console.log(`ui.test.js: all ${checks} checks passed`);
}

main().catch((e) => {
  console.log('FAIL: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
