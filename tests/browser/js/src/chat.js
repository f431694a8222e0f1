// A small chat page: the AWS SDK for JavaScript v3 and amazon-chime-sdk-js's
// DefaultMessagingSession, configured for bellwire exactly as the README's JavaScript quick
// start shows. Bundled for the browser by esbuild; driven by tests/browser/test_chat_page.py
// through window.chat (each function logs a "chat:" line to the console and renders the page).

import { ChimeSDKIdentityClient, DescribeAppInstanceUserCommand } from '@aws-sdk/client-chime-sdk-identity';
import {
  ChimeSDKMessagingClient,
  CreateChannelCommand,
  ListChannelMessagesCommand,
  SendChannelMessageCommand,
} from '@aws-sdk/client-chime-sdk-messaging';
import {
  ConsoleLogger,
  DefaultMessagingSession,
  LogLevel,
  MessagingSessionConfiguration,
} from 'amazon-chime-sdk-js';

const state = {
  userArn: null,
  user: null,
  channel: null,
  starts: 0,
  connecting: [],
  stops: [],
  messages: [],
  errors: [],
};
let identity;
let messaging;
let session;
let waiters = [];

function step(text) {
  console.log(`chat: ${text}`);
  const li = document.createElement('li');
  li.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  document.getElementById('steps').append(li);
}

function render() {
  document.getElementById('user').textContent = state.user ?? '-';
  document.getElementById('channel').textContent = state.channel ?? '-';
  document.getElementById('status').textContent =
    `session started ${state.starts}x, stopped ${state.stops.length}x`;
  const list = document.getElementById('messages');
  list.replaceChildren(
    ...state.messages.map(m => {
      const li = document.createElement('li');
      li.textContent = `${m.sender}: ${m.content}`;
      return li;
    }),
  );
}

function failed(where, err) {
  const detail = { where, name: err?.name, message: err?.message, code: err?.code };
  state.errors.push(detail);
  // start() rejects with a CloseEvent, which has a code and a reason but no name or message.
  const what = err?.message !== undefined ? `${err.name}: ${err.message}` : `close ${err?.code} ${err?.reason}`;
  step(`FAILED ${where}: ${what}`);
  render();
  return detail;
}

// --- what the README shows ---------------------------------------------------------------------

function configure({ endpoint, region, credentials, userArn, endpointUrl }) {
  // The only bellwire-specific part: `endpoint`. GetMessagingSessionEndpoint then returns
  // bellwire's host, and the session signs its wss:// URL with this client's region and keys.
  const config = { endpoint, region, credentials, maxAttempts: 1 };
  identity = new ChimeSDKIdentityClient(config);
  messaging = new ChimeSDKMessagingClient(config);
  const configuration = new MessagingSessionConfiguration(userArn, null, endpointUrl, messaging);
  configuration.reconnectTimeoutMs = 30000;
  session = new DefaultMessagingSession(configuration, new ConsoleLogger('chime', LogLevel.INFO));
  session.addObserver({
    messagingSessionDidStartConnecting(reconnecting) {
      state.connecting.push(reconnecting);
      step(`connecting (reconnecting=${reconnecting})`);
    },
    messagingSessionDidStart() {
      state.starts += 1;
      step(`session started (#${state.starts})`);
      render();
    },
    messagingSessionDidStop(event) {
      state.stops.push(event.code);
      step(`session stopped ${event.code}`);
      render();
    },
    messagingSessionDidReceiveMessage(message) {
      if (message.type === 'CREATE_CHANNEL_MESSAGE') {
        const body = JSON.parse(message.payload);
        state.messages.push({ id: body.MessageId, content: body.Content, sender: body.Sender.Name });
        step(`received "${body.Content}" from ${body.Sender.Name}`);
        render();
        waiters = waiters.filter(w => !w(body));
      }
    },
  });
  state.userArn = userArn;
  step(`configured for ${endpoint}`);
}

async function describeMe() {
  try {
    const out = await identity.send(
      new DescribeAppInstanceUserCommand({ AppInstanceUserArn: state.userArn }),
    );
    state.user = out.AppInstanceUser.Name;
    step(`signed in as ${state.user}`);
    render();
    return { ok: true, name: state.user };
  } catch (err) {
    return { ok: false, error: failed('DescribeAppInstanceUser', err) };
  }
}

async function createChannel(appInstanceArn, name, memberArns) {
  try {
    const out = await messaging.send(
      new CreateChannelCommand({
        AppInstanceArn: appInstanceArn,
        Name: name,
        MemberArns: memberArns,
        ChimeBearer: state.userArn,
      }),
    );
    state.channel = out.ChannelArn;
    step(`created channel ${name}`);
    render();
    return { ok: true, channelArn: out.ChannelArn, requestId: out.$metadata.requestId };
  } catch (err) {
    return { ok: false, error: failed('CreateChannel', err) };
  }
}

async function connect() {
  try {
    await session.start();
    step('start() resolved');
    return { ok: true };
  } catch (err) {
    // start() rejects with the CloseEvent of the failed attempt.
    return { ok: false, error: failed('start', err), code: err?.code, reason: err?.reason };
  }
}

async function send(content) {
  try {
    const out = await messaging.send(
      new SendChannelMessageCommand({
        ChannelArn: state.channel,
        Content: content,
        Type: 'STANDARD',
        Persistence: 'PERSISTENT',
        ChimeBearer: state.userArn,
      }),
    );
    step(`sent "${content}"`);
    return { ok: true, messageId: out.MessageId };
  } catch (err) {
    return { ok: false, error: failed('SendChannelMessage', err) };
  }
}

async function history() {
  try {
    const out = await messaging.send(
      new ListChannelMessagesCommand({ ChannelArn: state.channel, ChimeBearer: state.userArn }),
    );
    return { ok: true, contents: out.ChannelMessages.map(m => m.Content) };
  } catch (err) {
    return { ok: false, error: failed('ListChannelMessages', err) };
  }
}

// A modeled error must arrive as the modeled exception with its request id: this needs
// x-amzn-ErrorType and x-amzn-RequestId exposed to the page.
async function provokeNotFound() {
  try {
    await messaging.send(
      new SendChannelMessageCommand({
        ChannelArn: `${state.channel}-missing`,
        Content: 'x',
        Type: 'STANDARD',
        Persistence: 'PERSISTENT',
        ChimeBearer: state.userArn,
      }),
    );
    return { ok: true };
  } catch (err) {
    step(`expected error: ${err.name}`);
    return { ok: false, name: err.name, status: err.$metadata?.httpStatusCode, requestId: err.$metadata?.requestId };
  }
}

function waitForMessage(content, timeoutMs) {
  const found = state.messages.find(m => m.content === content);
  if (found) {
    return Promise.resolve({ ok: true, ...found });
  }
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve({ ok: false, timedOut: true }), timeoutMs);
    waiters.push(body => {
      if (body.Content !== content) {
        return false;
      }
      clearTimeout(timer);
      resolve({ ok: true, id: body.MessageId, content: body.Content, sender: body.Sender.Name });
      return true;
    });
  });
}

async function waitForStarts(count, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (state.starts < count && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
  }
  return { ok: state.starts >= count, starts: state.starts, connecting: state.connecting };
}

function snapshot() {
  return state;
}

window.chat = {
  configure,
  describeMe,
  createChannel,
  connect,
  send,
  history,
  provokeNotFound,
  waitForMessage,
  waitForStarts,
  snapshot,
};
step('page loaded');
