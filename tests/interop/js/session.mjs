// Scenarios b-g: amazon-chime-sdk-js DefaultMessagingSession against bellwire, under Node with
// `ws` as the WebSocket, exactly as a Node user would wire it.
//
// Environment (besides the connection settings read by lib/harness.mjs):
//   BELLWIRE_USER_ARN      the AppInstanceUser to connect as (and the bearer of "send")
//   BELLWIRE_PREFETCH      "connect" to set prefetchOn = PrefetchOn.Connect
//   BELLWIRE_SESSION_SECRET  a secret access key for the session's chimeClient (wrong-key tests)
//   BELLWIRE_CONFIG_ENDPOINT  passed as the (deprecated) endpointUrl of the configuration, so the
//                             first connect skips GetMessagingSessionEndpoint
//   BELLWIRE_RECONNECT_TIMEOUT_MS  reconnectTimeoutMs (default: the SDK's 10 s)
//
// Events written (JSON lines): ready, didStartConnecting{reconnecting}, didStart,
// message{type,headers,payload}, didStop{code,reason}, startResolved, startRejected{code,reason},
// sent{id,messageId,subChannelId}, subChannels{id,subChannels}, stopCalled, log{level,msg}, plus
// the harness's error events.
// Commands read from stdin: {"cmd":"send", id, channel, content, type, persistence, subChannelId,
// messageAttributes},
// {"cmd":"listSubChannels", id, channel, bearer},
// {"cmd":"stop"}, {"cmd":"exit"}.

import {
  ListSubChannelsCommand,
  SendChannelMessageCommand,
} from '@aws-sdk/client-chime-sdk-messaging';
import {
  DefaultMessagingSession,
  MessagingSessionConfiguration,
  PrefetchOn,
} from 'amazon-chime-sdk-js';

import {
  closeEventPolyfilled,
  describeError,
  emit,
  env,
  JsonLogger,
  messagingClient,
  readCommands,
} from './lib/harness.mjs';

const userArn = env('BELLWIRE_USER_ARN');
const sessionSecret = process.env.BELLWIRE_SESSION_SECRET || undefined;
const configEndpoint = process.env.BELLWIRE_CONFIG_ENDPOINT || undefined;

// The session's client: the v3 ChimeSDKMessagingClient as `chimeClient` (§3.4: its endpoint
// decides where GetMessagingSessionEndpoint goes, its region and credentials sign the URL).
const chimeClient = messagingClient({ secretAccessKey: sessionSecret });
// A separate, correctly keyed client for the "send" command.
const sender = messagingClient();

const configuration = new MessagingSessionConfiguration(userArn, null, configEndpoint, chimeClient);
if (process.env.BELLWIRE_PREFETCH === 'connect') {
  configuration.prefetchOn = PrefetchOn.Connect;
}
if (process.env.BELLWIRE_RECONNECT_TIMEOUT_MS) {
  configuration.reconnectTimeoutMs = Number(process.env.BELLWIRE_RECONNECT_TIMEOUT_MS);
}

const logger = new JsonLogger('interop');
const session = new DefaultMessagingSession(configuration, logger);

session.addObserver({
  messagingSessionDidStartConnecting(reconnecting) {
    emit('didStartConnecting', { reconnecting });
  },
  messagingSessionDidStart() {
    emit('didStart');
  },
  messagingSessionDidStop(event) {
    emit('didStop', { code: event.code, reason: event.reason, wasClean: event.wasClean });
  },
  messagingSessionDidReceiveMessage(message) {
    emit('message', {
      type: message.type,
      headers: message.headers,
      payload: message.payload,
      payloadIsString: typeof message.payload === 'string',
    });
  },
});

readCommands(async command => {
  switch (command.cmd) {
    case 'send': {
      const output = await sender.send(
        new SendChannelMessageCommand({
          ChannelArn: command.channel,
          Content: command.content,
          Type: command.type ?? 'STANDARD',
          Persistence: command.persistence ?? 'PERSISTENT',
          Metadata: command.metadata,
          MessageAttributes: command.messageAttributes,
          SubChannelId: command.subChannelId,
          ChimeBearer: userArn,
        }),
      );
      emit('sent', { id: command.id, messageId: output.MessageId, subChannelId: output.SubChannelId });
      break;
    }
    case 'listSubChannels': {
      const output = await sender.send(
        new ListSubChannelsCommand({ ChannelArn: command.channel, ChimeBearer: command.bearer }),
      );
      emit('subChannels', { id: command.id, subChannels: output.SubChannels });
      break;
    }
    case 'stop':
      session.stop();
      emit('stopCalled');
      break;
    case 'exit':
      emit('exit', { why: 'asked' });
      process.exit(0);
      break;
    default:
      emit('error', { where: 'command', error: { message: `unknown command ${command.cmd}` } });
  }
});

emit('ready', { closeEventPolyfilled, sessionId: configuration.messagingSessionId });

session.start().then(
  () => emit('startResolved'),
  err => {
    // The SDK rejects start() with the CloseEvent of the failed attempt.
    if (err && typeof err.code === 'number') {
      emit('startRejected', { code: err.code, reason: err.reason, wasClean: err.wasClean });
    } else {
      emit('startRejected', { error: describeError(err) });
    }
  },
);
