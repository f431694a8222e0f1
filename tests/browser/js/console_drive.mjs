// Drives headless Chromium (Debian's /usr/bin/chromium; no browser is ever downloaded) with
// playwright-core through the bellwire admin console for tests/browser/test_console_page.py.
//
// Environment: BELLWIRE_CHROMIUM (the executable), BELLWIRE_PROFILE (a fresh --user-data-dir).
// Commands on stdin, one JSON object a line, each answered by result{id,value} or
// failed{id,message}:
//   {"cmd":"goto","url":...}                      load a page; its URL after redirects
//   {"cmd":"fill","selector":...,"value":...}     type into a field
//   {"cmd":"select","selector":...,"value":...}   choose an option
//   {"cmd":"submit","selector":...}               click a button and wait for the next page
//   {"cmd":"text","selector":...}                 the element's visible text
//   {"cmd":"waitText","selector":...,"text":...}  until the element's text contains it
//   {"cmd":"screenshot","path":...}
// Events on stdout besides: ready, console{type,text}, pageerror{message}.

import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

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
  viewport: { width: 1280, height: 800 }, // a laptop screen
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', message => emit('console', { type: message.type(), text: message.text() }));
page.on('pageerror', error => emit('pageerror', { message: String(error?.stack ?? error) }));

async function run(command) {
  switch (command.cmd) {
    case 'goto':
      await page.goto(command.url, { waitUntil: 'load' });
      return page.url();
    case 'fill':
      await page.fill(command.selector, command.value);
      return null;
    case 'select':
      await page.selectOption(command.selector, command.value);
      return null;
    case 'submit':
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(command.selector)]);
      return page.url();
    case 'text':
      return page.innerText(command.selector);
    case 'waitText':
      await page.waitForFunction(
        ([selector, text]) => document.querySelector(selector)?.innerText.includes(text),
        [command.selector, command.text],
        { timeout: command.timeout ?? 15000 },
      );
      return page.innerText(command.selector);
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
  await context.close();
  process.exit(0);
});
emit('ready', { version: context.browser()?.version() ?? 'persistent' });
