// Shared set-up of the interop scenarios: Node globals the Chime SDK expects, the AWS SDK v3
// clients pointed at bellwire, and a JSON-lines channel to the pytest driver.
//
// Output protocol: every line a scenario writes to stdout is one JSON object with an "event"
// field. The driver (tests/interop/test_js_clients.py) parses them; anything else on stdout is a
// bug. Human-readable noise goes to stderr.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

import { ChimeSDKIdentityClient } from '@aws-sdk/client-chime-sdk-identity';
import { ChimeSDKMessagingClient } from '@aws-sdk/client-chime-sdk-messaging';
import { ConsoleLogger, LogLevel } from 'amazon-chime-sdk-js';

const require = createRequire(import.meta.url);

// --- Node globals, as Node users of amazon-chime-sdk-js set them up ---------------------------

// DefaultWebSocketAdapter does `new WebSocket(url, [])` and reads WebSocket.OPEN etc.; Node 20
// has no WebSocket global (issue aws/amazon-chime-sdk-js#2177).
globalThis.WebSocket = require('ws');

// DefaultMessagingSession builds `new CloseEvent('close', {code: 4999, ...})` when
// GetMessagingSessionEndpoint fails (e.g. while the server restarts). Node 20 has no CloseEvent
// global, so without this the reconnect loop dies with a ReferenceError.
export const closeEventPolyfilled = typeof globalThis.CloseEvent === 'undefined';
if (closeEventPolyfilled) {
  globalThis.CloseEvent = class CloseEvent extends Event {
    constructor(type, init = {}) {
      super(type, init);
      this.code = init.code ?? 0;
      this.reason = init.reason ?? '';
      this.wasClean = init.wasClean ?? false;
    }
  };
}

// --- output ----------------------------------------------------------------------------------

const started = Date.now();

export function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, t: Date.now() - started, ...fields })}\n`);
}

// The SDK's own log lines, forwarded as JSON so the driver can quote them in failures.
export class JsonLogger extends ConsoleLogger {
  constructor(name, level = LogLevel.INFO) {
    super(name, level);
  }

  log(type, msg) {
    if (type < this.level) {
      return;
    }
    emit('log', { level: LogLevel[type], logger: this.name, msg: String(msg) });
  }
}

export function describeError(err) {
  return {
    name: err?.name,
    message: err?.message,
    code: err?.code ?? err?.Code,
    httpStatus: err?.$metadata?.httpStatusCode,
    stack: err?.stack,
  };
}

// --- configuration from the driver ------------------------------------------------------------

export function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback !== undefined) {
      return fallback;
    }
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

export function clientConfig({ secretAccessKey } = {}) {
  return {
    endpoint: env('BELLWIRE_URL'),
    region: env('BELLWIRE_REGION'),
    credentials: {
      accessKeyId: env('BELLWIRE_ACCESS_KEY_ID'),
      secretAccessKey: secretAccessKey ?? env('BELLWIRE_SECRET_ACCESS_KEY'),
    },
    // Fail fast: the driver wants a clear answer, not the SDK's retries.
    maxAttempts: 1,
  };
}

export function identityClient(options) {
  return new ChimeSDKIdentityClient(clientConfig(options));
}

export function messagingClient(options) {
  return new ChimeSDKMessagingClient(clientConfig(options));
}

// --- commands from the driver -----------------------------------------------------------------

// Each stdin line is a JSON command; `handler(command)` may be async. When stdin closes (the
// driver is gone) the process exits, so a crashed test never leaves Node running.
export function readCommands(handler) {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', async line => {
    if (!line.trim()) {
      return;
    }
    let command;
    try {
      command = JSON.parse(line);
    } catch (err) {
      emit('error', { where: 'command', error: describeError(err), line });
      return;
    }
    try {
      await handler(command);
    } catch (err) {
      emit('error', { where: command.cmd, error: describeError(err) });
    }
  });
  lines.on('close', () => {
    emit('exit', { why: 'stdin closed' });
    process.exit(0);
  });
}

process.on('unhandledRejection', reason => {
  // The SDK leaves some rejections unhandled (e.g. a failed reconnect's start promise, §3.3).
  emit('unhandledRejection', {
    reason: String(reason?.stack ?? reason),
    code: reason?.code,
    closeReason: reason?.reason,
  });
});

process.on('uncaughtException', err => {
  emit('uncaughtException', { error: describeError(err) });
});
