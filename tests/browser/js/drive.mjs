// Drives headless Chromium (Debian's /usr/bin/chromium; no browser is ever downloaded) with
// playwright-core for tests/browser/test_chat_page.py.
//
// Environment: BELLWIRE_CHROMIUM (the executable), BELLWIRE_PROFILE (a fresh --user-data-dir),
// HOME (whose .pki/nssdb holds the CA the test trusts, as a developer would with certutil).
// Commands on stdin, one JSON object a line:
//   {"cmd":"open","id":1,"url":"https://localhost:1234/"}      load the page, wait for window.chat
//   {"cmd":"call","id":2,"fn":"connect","args":[]}              await window.chat[fn](...args)
//   {"cmd":"screenshot","id":3,"path":"/tmp/x.png"}
// Events on stdout, one JSON object a line: ready, result{id,value}, failed{id,message},
// console{type,text}, pageerror{message}, requestfailed{url,failure}.

import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

// A persistent context is how Playwright takes a --user-data-dir (a fresh one per launch).
const context = await chromium.launchPersistentContext(process.env.BELLWIRE_PROFILE, {
  executablePath: process.env.BELLWIRE_CHROMIUM,
  headless: true, // --headless
  chromiumSandbox: false, // root in a container
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  env: { ...process.env },
  viewport: { width: 1000, height: 800 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', message => emit('console', { type: message.type(), text: message.text() }));
page.on('pageerror', error => emit('pageerror', { message: String(error?.stack ?? error) }));
page.on('requestfailed', request =>
  emit('requestfailed', { url: request.url(), failure: request.failure()?.errorText }),
);

async function run(command) {
  switch (command.cmd) {
    case 'open':
      await page.goto(command.url, { waitUntil: 'load' });
      await page.waitForFunction(() => window.chat !== undefined, null, { timeout: 10000 });
      return page.url();
    case 'call':
      return page.evaluate(([fn, args]) => window.chat[fn](...args), [command.fn, command.args ?? []]);
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
