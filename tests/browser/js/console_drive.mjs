// Drives a headless browser through the bellwire admin console for
// tests/browser/test_console_page.py: Debian's Chromium (/usr/bin/chromium) with playwright-core
// over CDP, or Debian's Firefox ESR (/usr/bin/firefox-esr) with puppeteer-core over WebDriver
// BiDi. No browser is ever downloaded.
//
// Environment: BELLWIRE_BROWSER ("chromium", the default, or "firefox"), BELLWIRE_CHROMIUM /
// BELLWIRE_FIREFOX (the executable), BELLWIRE_PROFILE (a fresh profile directory).
// Commands on stdin, one JSON object a line, each answered by result{id,value} or
// failed{id,message}:
//   {"cmd":"goto","url":...}                      load a page; its URL after redirects
//   {"cmd":"fill","selector":...,"value":...}     type into a field
//   {"cmd":"select","selector":...,"value":...}   choose an option
//   {"cmd":"submit","selector":...}               click a button and wait for the next page
//   {"cmd":"text","selector":...}                 the element's visible text
//   {"cmd":"waitText","selector":...,"text":...}  until the element's text contains it
//   {"cmd":"screenshot","path":...}
// Selectors are CSS, or `text=...` (an element showing that text) as playwright writes it.
// Events on stdout besides: ready{browser,version}, console{type,text}, pageerror{message}.

import { createInterface } from 'node:readline';

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

const VIEWPORT = { width: 1280, height: 800 }; // a laptop screen

async function chromiumDriver() {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(process.env.BELLWIRE_PROFILE, {
    executablePath: process.env.BELLWIRE_CHROMIUM,
    headless: true,
    chromiumSandbox: false, // root in a container
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    env: { ...process.env },
    viewport: VIEWPORT,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', message => emit('console', { type: message.type(), text: message.text() }));
  page.on('pageerror', error => emit('pageerror', { message: String(error?.stack ?? error) }));
  return {
    version: context.browser()?.version() ?? 'persistent',
    fill: (selector, value) => page.fill(selector, value),
    select: (selector, value) => page.selectOption(selector, value),
    click: selector => page.click(selector),
    text: selector => page.innerText(selector),
    waitFor: (selector, text, timeout) =>
      page.waitForFunction(
        ([s, t]) => document.querySelector(s)?.innerText.includes(t),
        [selector, text],
        { timeout },
      ),
    page,
    close: () => context.close(),
  };
}

async function firefoxDriver() {
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: process.env.BELLWIRE_FIREFOX,
    userDataDir: process.env.BELLWIRE_PROFILE,
    headless: true,
    defaultViewport: VIEWPORT,
    env: { ...process.env },
    extraPrefsFirefox: {
      // Nothing fetched from outside loopback while the test runs.
      'app.update.enabled': false,
      'browser.shell.checkDefaultBrowser': false,
      'datareporting.policy.dataSubmissionEnabled': false,
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
    },
  });
  const page = (await browser.pages())[0] ?? (await browser.newPage());
  page.on('console', message => emit('console', { type: message.type(), text: message.text() }));
  page.on('pageerror', error => emit('pageerror', { message: String(error?.stack ?? error) }));
  // playwright's `text=...` is puppeteer's `::-p-text(...)`.
  const css = selector =>
    selector.startsWith('text=') ? `::-p-text(${selector.slice(5)})` : selector;
  return {
    version: await browser.version(),
    fill: (selector, value) => page.locator(css(selector)).fill(value),
    select: (selector, value) => page.select(css(selector), value),
    click: selector => page.locator(css(selector)).click(),
    text: selector => page.$eval(css(selector), element => element.innerText),
    waitFor: (selector, text, timeout) =>
      page.waitForFunction(
        (s, t) => document.querySelector(s)?.innerText.includes(t),
        { timeout },
        selector,
        text,
      ),
    page,
    close: () => browser.close(),
  };
}

const kind = process.env.BELLWIRE_BROWSER ?? 'chromium';
const driver = kind === 'firefox' ? await firefoxDriver() : await chromiumDriver();
const { page } = driver;

async function run(command) {
  switch (command.cmd) {
    case 'goto':
      await page.goto(command.url, { waitUntil: 'load' });
      return page.url();
    case 'fill':
      await driver.fill(command.selector, command.value);
      return null;
    case 'select':
      await driver.select(command.selector, command.value);
      return null;
    case 'submit':
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        driver.click(command.selector),
      ]);
      return page.url();
    case 'text':
      return driver.text(command.selector);
    case 'waitText':
      await driver.waitFor(command.selector, command.text, command.timeout ?? 15000);
      return driver.text(command.selector);
    case 'screenshot':
      await page.screenshot({ path: command.path, fullPage: true });
      return command.path;
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', async line => {
  if (!line.trim()) {
    return;
  }
  const command = JSON.parse(line);
  try {
    emit('result', { id: command.id, value: (await run(command)) ?? null });
  } catch (err) {
    emit('failed', { id: command.id, message: String(err?.stack ?? err) });
  }
});
lines.on('close', async () => {
  await driver.close();
  process.exit(0);
});
emit('ready', { browser: kind, version: driver.version });
