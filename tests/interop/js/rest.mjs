// Scenario a: the AWS SDK v3 clients drive bellwire's REST API and parse every response.
//
// Every step is reported as {"event":"step","name":..., "ok":..., ...}; the run ends with
// {"event":"done","ok":..., "failed":[names]}. Each response is walked: every member whose name
// ends in "Timestamp" must have come back as a valid Date (the wire carries epoch numbers).

import assert from 'node:assert/strict';

import {
  CreateAppInstanceAdminCommand,
  CreateAppInstanceCommand,
  CreateAppInstanceUserCommand,
  DescribeAppInstanceAdminCommand,
  DescribeAppInstanceCommand,
  DescribeAppInstanceUserCommand,
  ListAppInstanceUsersCommand,
  ListAppInstancesCommand,
  UpdateAppInstanceUserCommand,
} from '@aws-sdk/client-chime-sdk-identity';
import {
  ChannelMessagePersistenceType,
  ChannelMessageType,
  CreateChannelCommand,
  CreateChannelMembershipCommand,
  DeleteChannelMessageCommand,
  DescribeChannelCommand,
  DescribeChannelMembershipCommand,
  GetChannelMessageCommand,
  GetMessagingSessionEndpointCommand,
  ListChannelMembershipsCommand,
  ListChannelMembershipsForAppInstanceUserCommand,
  ListChannelMessagesCommand,
  ListChannelsCommand,
  ListTagsForResourceCommand,
  NotFoundException,
  RedactChannelMessageCommand,
  SendChannelMessageCommand,
  TagResourceCommand,
  UpdateChannelCommand,
  UpdateChannelMessageCommand,
  UpdateChannelReadMarkerCommand,
} from '@aws-sdk/client-chime-sdk-messaging';

import { describeError, emit, env, identityClient, messagingClient } from './lib/harness.mjs';

const identity = identityClient();
const messaging = messagingClient();
const failed = [];
const state = {};

// Every *Timestamp member anywhere in the output must be a Date holding a real time.
function timestamps(value, path = '$', found = []) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => timestamps(item, `${path}[${i}]`, found));
  } else if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, member] of Object.entries(value)) {
      const here = `${path}.${key}`;
      if (key.endsWith('Timestamp') && member !== undefined) {
        assert.ok(member instanceof Date, `${here} is ${typeof member} ${JSON.stringify(member)}, not a Date`);
        assert.ok(!Number.isNaN(member.getTime()), `${here} is an invalid Date`);
        // Sanity: within a day of now (seconds vs milliseconds confusion would be far off).
        assert.ok(Math.abs(member.getTime() - Date.now()) < 86_400_000, `${here} = ${member.toISOString()} is not near now`);
        found.push(here);
      } else if (key !== '$metadata') {
        timestamps(member, here, found);
      }
    }
  }
  return found;
}

async function step(name, fn) {
  try {
    const detail = (await fn()) ?? {};
    emit('step', { name, ok: true, ...detail });
  } catch (err) {
    failed.push(name);
    emit('step', { name, ok: false, error: describeError(err) });
  }
}

// Send a command, check its timestamps, return the output.
async function call(client, command) {
  const output = await client.send(command);
  const checked = timestamps(output);
  assert.ok(output.$metadata.httpStatusCode >= 200 && output.$metadata.httpStatusCode < 300);
  return { output, checked };
}

const suffix = `${Date.now()}`;

await step('CreateAppInstance', async () => {
  const { output } = await call(identity, new CreateAppInstanceCommand({ Name: `interop-${suffix}`, Metadata: 'js' }));
  assert.match(output.AppInstanceArn, /^arn:aws:chime:[a-z0-9-]+:\d{12}:app-instance\/[^/]+$/);
  state.app = output.AppInstanceArn;
  return { arn: state.app };
});

await step('DescribeAppInstance', async () => {
  const { output, checked } = await call(identity, new DescribeAppInstanceCommand({ AppInstanceArn: state.app }));
  assert.equal(output.AppInstance.AppInstanceArn, state.app);
  assert.equal(output.AppInstance.Name, `interop-${suffix}`);
  assert.ok(checked.includes('$.AppInstance.CreatedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('ListAppInstances', async () => {
  const { output } = await call(identity, new ListAppInstancesCommand({ MaxResults: 50 }));
  assert.ok(output.AppInstances.some(a => a.AppInstanceArn === state.app));
});

await step('CreateAppInstanceUser', async () => {
  for (const id of ['alice', 'bob']) {
    const { output } = await call(
      identity,
      new CreateAppInstanceUserCommand({ AppInstanceArn: state.app, AppInstanceUserId: id, Name: id.toUpperCase() }),
    );
    assert.equal(output.AppInstanceUserArn, `${state.app}/user/${id}`);
    state[id] = output.AppInstanceUserArn;
  }
});

await step('DescribeAppInstanceUser', async () => {
  const { output, checked } = await call(identity, new DescribeAppInstanceUserCommand({ AppInstanceUserArn: state.alice }));
  assert.equal(output.AppInstanceUser.Name, 'ALICE');
  assert.ok(checked.includes('$.AppInstanceUser.CreatedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('UpdateAppInstanceUser', async () => {
  const { output } = await call(
    identity,
    new UpdateAppInstanceUserCommand({ AppInstanceUserArn: state.bob, Name: 'Bob', Metadata: 'm' }),
  );
  assert.equal(output.AppInstanceUserArn, state.bob);
});

await step('ListAppInstanceUsers', async () => {
  const { output } = await call(identity, new ListAppInstanceUsersCommand({ AppInstanceArn: state.app }));
  assert.deepEqual(output.AppInstanceUsers.map(u => u.AppInstanceUserArn).sort(), [state.alice, state.bob].sort());
});

await step('CreateAppInstanceAdmin', async () => {
  const { output } = await call(
    identity,
    new CreateAppInstanceAdminCommand({ AppInstanceArn: state.app, AppInstanceAdminArn: state.alice }),
  );
  assert.equal(output.AppInstanceAdmin.Arn, state.alice);
  const described = await call(
    identity,
    new DescribeAppInstanceAdminCommand({ AppInstanceArn: state.app, AppInstanceAdminArn: state.alice }),
  );
  assert.ok(described.checked.includes('$.AppInstanceAdmin.CreatedTimestamp'), `timestamps: ${described.checked}`);
});

await step('CreateChannel', async () => {
  const { output } = await call(
    messaging,
    new CreateChannelCommand({ AppInstanceArn: state.app, Name: 'general', Mode: 'UNRESTRICTED', Privacy: 'PUBLIC', ChimeBearer: state.alice }),
  );
  assert.match(output.ChannelArn, /\/channel\/[^/]+$/);
  state.channel = output.ChannelArn;
  return { arn: state.channel };
});

await step('UpdateChannel', async () => {
  const { output } = await call(
    messaging,
    new UpdateChannelCommand({ ChannelArn: state.channel, Name: 'general-2', Mode: 'UNRESTRICTED', ChimeBearer: state.alice }),
  );
  assert.equal(output.ChannelArn, state.channel);
});

await step('DescribeChannel', async () => {
  const { output, checked } = await call(messaging, new DescribeChannelCommand({ ChannelArn: state.channel, ChimeBearer: state.alice }));
  assert.equal(output.Channel.Name, 'general-2');
  assert.equal(output.Channel.Mode, 'UNRESTRICTED');
  assert.equal(output.Channel.Privacy, 'PUBLIC');
  assert.equal(output.Channel.CreatedBy.Arn, state.alice);
  assert.ok(checked.includes('$.Channel.CreatedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('CreateChannelMembership', async () => {
  const { output } = await call(
    messaging,
    new CreateChannelMembershipCommand({ ChannelArn: state.channel, MemberArn: state.bob, Type: 'DEFAULT', ChimeBearer: state.alice }),
  );
  assert.equal(output.ChannelArn, state.channel);
  assert.equal(output.Member.Arn, state.bob);
});

await step('DescribeChannelMembership', async () => {
  const { output, checked } = await call(
    messaging,
    new DescribeChannelMembershipCommand({ ChannelArn: state.channel, MemberArn: state.bob, ChimeBearer: state.alice }),
  );
  assert.equal(output.ChannelMembership.Member.Arn, state.bob);
  assert.equal(output.ChannelMembership.Type, 'DEFAULT');
  assert.ok(checked.includes('$.ChannelMembership.CreatedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('ListChannelMemberships', async () => {
  const { output } = await call(messaging, new ListChannelMembershipsCommand({ ChannelArn: state.channel, ChimeBearer: state.alice }));
  const members = output.ChannelMemberships.map(m => m.Member.Arn);
  assert.ok(members.includes(state.bob), `members: ${members}`);
  return { members };
});

await step('SendChannelMessage', async () => {
  state.messages = [];
  for (const [content, type, persistence] of [
    ['hello from js', ChannelMessageType.STANDARD, ChannelMessagePersistenceType.PERSISTENT],
    ['second', ChannelMessageType.STANDARD, ChannelMessagePersistenceType.PERSISTENT],
    ['ctl', ChannelMessageType.CONTROL, ChannelMessagePersistenceType.NON_PERSISTENT],
  ]) {
    const { output } = await call(
      messaging,
      new SendChannelMessageCommand({
        ChannelArn: state.channel,
        Content: content,
        Type: type,
        Persistence: persistence,
        Metadata: type === ChannelMessageType.STANDARD ? 'meta' : undefined,
        ChimeBearer: state.bob,
      }),
    );
    assert.equal(output.ChannelArn, state.channel);
    assert.ok(output.MessageId, 'MessageId');
    assert.equal(output.Status?.Value, 'SENT');
    state.messages.push(output.MessageId);
  }
  return { messageIds: state.messages };
});

await step('ListChannelMessages', async () => {
  const { output, checked } = await call(
    messaging,
    new ListChannelMessagesCommand({ ChannelArn: state.channel, ChimeBearer: state.alice, SortOrder: 'ASCENDING' }),
  );
  const listed = output.ChannelMessages.map(m => [m.MessageId, m.Content, m.Type, m.Sender?.Arn]);
  assert.deepEqual(listed, [
    [state.messages[0], 'hello from js', 'STANDARD', state.bob],
    [state.messages[1], 'second', 'STANDARD', state.bob],
  ]);
  assert.ok(checked.includes('$.ChannelMessages[0].CreatedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('UpdateChannelMessage', async () => {
  const { output } = await call(
    messaging,
    new UpdateChannelMessageCommand({ ChannelArn: state.channel, MessageId: state.messages[0], Content: 'edited', Metadata: 'meta2', ChimeBearer: state.bob }),
  );
  assert.equal(output.MessageId, state.messages[0]);
});

await step('GetChannelMessage', async () => {
  const { output, checked } = await call(
    messaging,
    new GetChannelMessageCommand({ ChannelArn: state.channel, MessageId: state.messages[0], ChimeBearer: state.alice }),
  );
  const message = output.ChannelMessage;
  assert.equal(message.Content, 'edited');
  assert.equal(message.Metadata, 'meta2');
  assert.equal(message.Persistence, 'PERSISTENT');
  assert.equal(message.Redacted, false);
  assert.equal(message.Status?.Value, 'SENT');
  assert.ok(checked.includes('$.ChannelMessage.CreatedTimestamp'), `timestamps: ${checked}`);
  assert.ok(checked.includes('$.ChannelMessage.LastEditedTimestamp'), `timestamps: ${checked}`);
  return { timestamps: checked };
});

await step('RedactChannelMessage', async () => {
  await call(messaging, new RedactChannelMessageCommand({ ChannelArn: state.channel, MessageId: state.messages[1], ChimeBearer: state.bob }));
  const { output } = await call(
    messaging,
    new GetChannelMessageCommand({ ChannelArn: state.channel, MessageId: state.messages[1], ChimeBearer: state.alice }),
  );
  assert.equal(output.ChannelMessage.Redacted, true);
});

await step('DeleteChannelMessage', async () => {
  await call(messaging, new DeleteChannelMessageCommand({ ChannelArn: state.channel, MessageId: state.messages[1], ChimeBearer: state.alice }));
});

await step('UpdateChannelReadMarker', async () => {
  const { output } = await call(messaging, new UpdateChannelReadMarkerCommand({ ChannelArn: state.channel, ChimeBearer: state.bob }));
  assert.equal(output.ChannelArn, state.channel);
});

await step('ListChannels', async () => {
  const { output, checked } = await call(messaging, new ListChannelsCommand({ AppInstanceArn: state.app, ChimeBearer: state.alice }));
  const summary = output.Channels.find(c => c.ChannelArn === state.channel);
  assert.ok(summary, 'channel listed');
  assert.equal(summary.Name, 'general-2');
  return { timestamps: checked };
});

await step('ListChannelMembershipsForAppInstanceUser', async () => {
  const { output, checked } = await call(
    messaging,
    new ListChannelMembershipsForAppInstanceUserCommand({ AppInstanceUserArn: state.bob, ChimeBearer: state.bob }),
  );
  const summary = output.ChannelMemberships.find(m => m.ChannelSummary.ChannelArn === state.channel);
  assert.ok(summary, JSON.stringify(output.ChannelMemberships));
  return { timestamps: checked };
});

await step('TagResource+ListTagsForResource', async () => {
  await call(messaging, new TagResourceCommand({ ResourceARN: state.channel, Tags: [{ Key: 'team', Value: 'interop' }] }));
  const { output } = await call(messaging, new ListTagsForResourceCommand({ ResourceARN: state.channel }));
  assert.deepEqual(output.Tags, [{ Key: 'team', Value: 'interop' }]);
});

await step('GetMessagingSessionEndpoint', async () => {
  const { output } = await call(messaging, new GetMessagingSessionEndpointCommand({}));
  assert.equal(output.Endpoint.Url, env('BELLWIRE_ENDPOINT_HOST'));
  return { url: output.Endpoint.Url };
});

await step('NotFoundException', async () => {
  const missing = `${state.app}/channel/does-not-exist`;
  await assert.rejects(
    messaging.send(new DescribeChannelCommand({ ChannelArn: missing, ChimeBearer: state.alice })),
    err => {
      assert.ok(err instanceof NotFoundException, `${err.name}: ${err.message}`);
      assert.equal(err.$metadata.httpStatusCode, 404);
      assert.ok(err.message, 'a message');
      return true;
    },
  );
});

emit('done', { ok: failed.length === 0, failed, app: state.app, channel: state.channel, alice: state.alice, bob: state.bob });
