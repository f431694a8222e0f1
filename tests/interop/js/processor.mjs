// A channel flow processor in Node, as a Lambda's handler would be written: it checks bellwire's
// signature (the snippet of docs/webhooks.md), answers 202, and calls ChannelFlowCallback with
// the AWS SDK for JavaScript v3 (SigV4-signed), shouting the content or denying "forbidden".
//
// Environment (besides the connection settings read by lib/harness.mjs):
//   BELLWIRE_WEBHOOK_SECRET  the secret bellwire signs its calls with
//
// Events written (JSON lines): listening{port}, refused{why}, invoked{callbackId,messageId},
// calledBack{callbackId,deny}, plus the harness's error events.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

import { ChannelFlowCallbackCommand } from '@aws-sdk/client-chime-sdk-messaging';

import { describeError, emit, env, messagingClient, readCommands } from './lib/harness.mjs';

const secret = env('BELLWIRE_WEBHOOK_SECRET');
const client = messagingClient();

function verify(rawBody, headers, tolerance = 300) {
  const stamp = headers['x-bellwire-timestamp'] ?? '';
  if (!/^\d+$/.test(stamp) || Math.abs(Date.now() / 1000 - Number(stamp)) > tolerance) return false;
  const expected = Buffer.from(
    createHmac('sha256', secret).update(`${stamp}.`).update(rawBody).digest('hex'),
  );
  return (headers['x-bellwire-signature'] ?? '')
    .split(',')
    .map(p => p.trim())
    .filter(p => p.startsWith('v1='))
    .map(p => Buffer.from(p.slice(3)))
    .some(got => got.length === expected.length && timingSafeEqual(got, expected));
}

async function callBack(event) {
  const message = event.ChannelMessage;
  const deny = message.Content.includes('forbidden');
  const input = {
    CallbackId: event.CallbackId,
    ChannelArn: message.ChannelArn,
    ChannelMessage: deny
      ? { MessageId: message.MessageId }
      : { MessageId: message.MessageId, Content: message.Content.toUpperCase() },
    DeleteResource: deny,
  };
  try {
    const output = await client.send(new ChannelFlowCallbackCommand(input));
    emit('calledBack', { callbackId: output.CallbackId, deny });
  } catch (err) {
    emit('error', { where: 'callback', error: describeError(err) });
  }
}

const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', chunk => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    if (!verify(body, request.headers)) {
      emit('refused', { why: 'signature' });
      response.writeHead(401).end();
      return;
    }
    const event = JSON.parse(body.toString('utf8'));
    emit('invoked', {
      callbackId: event.CallbackId,
      messageId: event.ChannelMessage.MessageId,
      eventType: event.EventType,
    });
    response.writeHead(202).end();
    callBack(event);
  });
});

readCommands(async command => {
  if (command.cmd === 'exit') {
    server.close();
    process.exit(0);
  }
});

server.listen(0, '127.0.0.1', () => emit('listening', { port: server.address().port }));
