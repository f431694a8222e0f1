"""The versioned schema. Each migration runs once, in order, inside one transaction.

The SQL is kept to what SQLite and PostgreSQL both accept, so one list serves both engines.
Never edit a released migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Iterator

MIGRATIONS: tuple[str, ...] = (
    # 1: the Chime SDK identity and messaging resources
    """
    CREATE TABLE app_instances (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        metadata TEXT,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        retention_days INTEGER
    );
    CREATE TABLE users (
        arn TEXT PRIMARY KEY,
        app_instance_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        metadata TEXT,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        expiration_days INTEGER,
        expiration_criterion TEXT
    );
    CREATE INDEX users_by_app_instance ON users (app_instance_arn, arn);
    CREATE TABLE admins (
        app_instance_arn TEXT NOT NULL,
        admin_arn TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (app_instance_arn, admin_arn)
    );
    CREATE TABLE tags (
        resource_arn TEXT NOT NULL,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (resource_arn, tag_key)
    );
    CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        token TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, token)
    );
    CREATE TABLE channels (
        arn TEXT PRIMARY KEY,
        app_instance_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        mode TEXT NOT NULL,
        privacy TEXT NOT NULL,
        metadata TEXT,
        created_by TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        last_message DOUBLE PRECISION,
        seq BIGINT NOT NULL DEFAULT 0,
        expiration_days INTEGER,
        expiration_criterion TEXT
    );
    CREATE INDEX channels_by_app_instance ON channels (app_instance_arn, arn);
    CREATE TABLE memberships (
        channel_arn TEXT NOT NULL,
        member_arn TEXT NOT NULL,
        type TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        read_marker DOUBLE PRECISION,
        preferences TEXT,
        PRIMARY KEY (channel_arn, member_arn)
    );
    CREATE INDEX memberships_by_member ON memberships (member_arn, channel_arn);
    CREATE TABLE moderators (
        channel_arn TEXT NOT NULL,
        moderator_arn TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (channel_arn, moderator_arn)
    );
    CREATE INDEX moderators_by_user ON moderators (moderator_arn, channel_arn);
    CREATE TABLE bans (
        channel_arn TEXT NOT NULL,
        member_arn TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (channel_arn, member_arn)
    );
    CREATE TABLE messages (
        channel_arn TEXT NOT NULL,
        message_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sender_arn TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        content TEXT,
        metadata TEXT,
        type TEXT NOT NULL,
        persistence TEXT NOT NULL,
        redacted INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        last_updated DOUBLE PRECISION NOT NULL,
        last_edited DOUBLE PRECISION,
        status TEXT NOT NULL,
        attributes TEXT,
        content_type TEXT,
        target_arn TEXT,
        push TEXT,
        PRIMARY KEY (channel_arn, message_id)
    );
    CREATE UNIQUE INDEX messages_by_seq ON messages (channel_arn, seq);
    """,
    # 2: IAM users, access keys, roles, inline policies and STS sessions. Names are unique
    # case-insensitively (name_key = lower(name)), as in IAM. Session tokens are kept only as
    # SHA-256 digests; secrets as given, because SigV4 verification needs them.
    """
    CREATE TABLE iam_users (
        name_key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        user_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        tags TEXT
    );
    CREATE TABLE iam_access_keys (
        access_key_id TEXT PRIMARY KEY,
        user_key TEXT NOT NULL,
        secret TEXT NOT NULL,
        status TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX iam_access_keys_by_user ON iam_access_keys (user_key, created);
    CREATE TABLE iam_roles (
        name_key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        description TEXT,
        trust_policy TEXT NOT NULL,
        max_session_duration INTEGER NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        tags TEXT
    );
    CREATE TABLE iam_inline_policies (
        owner_kind TEXT NOT NULL,
        owner_key TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (owner_kind, owner_key, policy_name)
    );
    CREATE TABLE sts_sessions (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        token_sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner_key TEXT NOT NULL,
        owner_name TEXT NOT NULL,
        session_name TEXT NOT NULL,
        tags TEXT,
        session_policy TEXT,
        created DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX sts_sessions_by_owner ON sts_sessions (kind, owner_key);
    CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires);
    """,
    # 3: a version of what CHANNEL_DETAILS shows every member alike that the event sequence does
    # not cover (memberships, their read markers and names), so prefetch can reuse it.
    """
    ALTER TABLE channels ADD COLUMN details_version INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: remembered answers found by their token alone. The (scope, token) primary key made every
    # send insert a ~300-byte entry at a random place of a wide index; a token index is narrow,
    # and the rows themselves are appended in time order. The scope is still compared on lookup.
    """
    CREATE TABLE idempotency_answers (
        scope TEXT NOT NULL,
        token TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    INSERT INTO idempotency_answers (scope, token, fingerprint, result, created)
        SELECT scope, token, fingerprint, result, created FROM idempotency;
    DROP TABLE idempotency;
    ALTER TABLE idempotency_answers RENAME TO idempotency;
    CREATE INDEX idempotency_by_token ON idempotency (token);
    """,
    # 5: elastic channels (spec §7). The channel keeps its immutable configuration; each
    # sub-channel keeps its own counts (regular members, moderator memberships), so balancing
    # reads at most MaximumSubChannels small rows and never counts memberships. A moderator may
    # hold one membership per sub-channel, so the sub-channel joins the memberships' key ('' on
    # regular channels); messages of an elastic channel name their sub-channel.
    """
    ALTER TABLE channels ADD COLUMN elastic_max_sub_channels INTEGER;
    ALTER TABLE channels ADD COLUMN elastic_target_memberships INTEGER;
    ALTER TABLE channels ADD COLUMN elastic_min_percentage INTEGER;
    CREATE TABLE sub_channels (
        channel_arn TEXT NOT NULL,
        sub_channel_id TEXT NOT NULL,
        ordinal BIGINT NOT NULL,
        members BIGINT NOT NULL DEFAULT 0,
        moderators BIGINT NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (channel_arn, sub_channel_id)
    );
    CREATE TABLE memberships_keyed (
        channel_arn TEXT NOT NULL,
        member_arn TEXT NOT NULL,
        type TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        read_marker DOUBLE PRECISION,
        preferences TEXT,
        sub_channel_id TEXT NOT NULL DEFAULT '',
        moderator INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (channel_arn, member_arn, sub_channel_id)
    );
    INSERT INTO memberships_keyed (channel_arn, member_arn, type, invited_by, created, updated,
                                   read_marker, preferences)
        SELECT channel_arn, member_arn, type, invited_by, created, updated, read_marker,
               preferences FROM memberships;
    DROP TABLE memberships;
    ALTER TABLE memberships_keyed RENAME TO memberships;
    CREATE INDEX memberships_by_member ON memberships (member_arn, channel_arn);
    CREATE INDEX memberships_by_sub_channel ON memberships (channel_arn, sub_channel_id, member_arn);
    ALTER TABLE messages ADD COLUMN sub_channel_id TEXT;
    CREATE INDEX messages_by_sub_channel ON messages (channel_arn, sub_channel_id, seq)
        WHERE sub_channel_id IS NOT NULL;
    """,
    # 6: streaming export (spec §11A.1). A configuration per (app instance, data type); the
    # durable outbox, written in the transaction of the change it records, its ids taken from one
    # counter row (so they follow commit order on every engine: the row is locked until commit);
    # and named leases, so that one node at a time relays a sink or sweeps (multi-node safe).
    """
    CREATE TABLE streaming_configurations (
        app_instance_arn TEXT NOT NULL,
        data_type TEXT NOT NULL,
        resource_arn TEXT NOT NULL,
        PRIMARY KEY (app_instance_arn, data_type)
    );
    CREATE TABLE export_counter (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO export_counter (name, value) VALUES ('outbox', 0);
    CREATE TABLE export_outbox (
        id BIGINT PRIMARY KEY,
        resource_arn TEXT NOT NULL,
        channel_arn TEXT NOT NULL,
        record TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX export_outbox_by_sink ON export_outbox (resource_arn, id);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX messages_by_age ON messages (created);
    """,
    # 7: channel flows, the channel each is associated with (at most one flow per channel), and
    # the processor invocations waiting for their callback: durable work that a restart resumes.
    """
    CREATE TABLE channel_flows (
        arn TEXT PRIMARY KEY,
        app_instance_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        processors TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX channel_flows_by_app_instance ON channel_flows (app_instance_arn, arn);
    CREATE TABLE channel_flow_associations (
        channel_arn TEXT PRIMARY KEY,
        flow_arn TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX channel_flow_associations_by_flow
        ON channel_flow_associations (flow_arn, channel_arn);
    CREATE TABLE flow_invocations (
        callback_id TEXT PRIMARY KEY,
        channel_arn TEXT NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        flow_arn TEXT NOT NULL,
        processor TEXT NOT NULL,
        message TEXT NOT NULL,
        state TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        ended DOUBLE PRECISION,
        detail TEXT,
        fingerprint TEXT
    );
    CREATE INDEX flow_invocations_by_message ON flow_invocations (channel_arn, message_id);
    CREATE INDEX flow_invocations_by_state ON flow_invocations (state, created);
    """,
    # 8: the IAM version: every IAM/STS write takes the next one in its transaction, so the
    # nodes sharing a store apply IAM changes in order and notice a change the bus lost.
    """
    CREATE TABLE iam_version (
        id INTEGER PRIMARY KEY,
        version BIGINT NOT NULL
    );
    INSERT INTO iam_version (id, version) VALUES (1, 0);
    """,
    # 9: AppInstanceBots (their configuration; their identity in channels is a users row under
    # the same ARN) and the push endpoints of users.
    """
    CREATE TABLE app_instance_bots (
        arn TEXT PRIMARY KEY,
        app_instance_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        metadata TEXT,
        configuration TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX app_instance_bots_by_app_instance ON app_instance_bots (app_instance_arn, arn);
    CREATE TABLE user_endpoints (
        user_arn TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        name TEXT,
        type TEXT NOT NULL,
        resource_arn TEXT NOT NULL,
        attributes TEXT NOT NULL,
        allow_messages TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_arn, endpoint_id)
    );
    """,
    # 10: channel flows of several processors: each invocation is one step (its processor's
    # ExecutionOrder) of the chain the flow had when the message was submitted (NULL: one).
    """
    ALTER TABLE flow_invocations ADD COLUMN step INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE flow_invocations ADD COLUMN chain TEXT
    """,
    # 11: each sub-channel of an elastic channel numbers its own events (the channel's numbers
    # are shared by its sub-channels), so that nodes order them and notice a lost one.
    """
    ALTER TABLE sub_channels ADD COLUMN seq BIGINT NOT NULL DEFAULT 0
    """,
    # 12: the EventBridge failure events of channel flow processors not yet accepted by the
    # default event bus's URL: written with the FallbackAction they report, so that a restart
    # (kill -9 included) delivers them. ``due``: when a node may claim the row for a delivery
    # (a claimed row is held for one delivery's longest time); ``attempts``: deliveries begun.
    """
    CREATE TABLE flow_failure_events (
        event_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL,
        due DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX flow_failure_events_by_due ON flow_failure_events (due)
    """,
    # 13: a connect without prefetch reads its user's memberships from the index by member
    # alone (the sub-channel in it), not with one table lookup per membership as well. The read
    # marker stays out of the index: it changes far more often than a session connects.
    """
    DROP INDEX memberships_by_member;
    CREATE INDEX memberships_by_member ON memberships (member_arn, channel_arn, sub_channel_id)
    """,
    # 14: remembered answers are forgotten oldest first, a batch at a time, through an index:
    # without it every prune read the whole table (a day of a busy server's tokens) while the
    # only writer of the embedded store waited. New rows land at its end (their time).
    """
    CREATE INDEX idempotency_by_created ON idempotency (created)
    """,
    # 15: ended flow invocations are forgotten oldest first, a batch at a time, through an index
    # (the sweep runs every minute; without it each sweep read the whole table in a write).
    """
    CREATE INDEX flow_invocations_by_ended ON flow_invocations (ended)
    """,
    # 16: who still has to invoke a flow's processor. ``accepted``: when the processor answered
    # 2xx (NULL: not yet), after which no node invokes it again; ``claimed_until``: until when
    # the node invoking it holds it (NULL: the node that wrote it, for one call's longest time
    # after ``created``), after which any node may take it over.
    """
    ALTER TABLE flow_invocations ADD COLUMN accepted DOUBLE PRECISION;
    ALTER TABLE flow_invocations ADD COLUMN claimed_until DOUBLE PRECISION
    """,
    # 17: console sign-ins, so that any node or worker answers a signed-in browser (they were in
    # one process's memory). Keyed by a hash of the cookie: the table names no usable cookie.
    """
    CREATE TABLE console_sessions (
        token_key TEXT PRIMARY KEY,
        access_key_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX console_sessions_by_expires ON console_sessions (expires)
    """,
    # 18: the node whose claim an invocation is under (its writer's, or the last to claim it):
    # a node restarted after a crash takes its own back at once instead of waiting for them.
    """
    ALTER TABLE flow_invocations ADD COLUMN claimed_by TEXT
    """,
    # 19: the messages of deleted channels, removed in the background a batch at a time: a
    # channel with a million messages took its DeleteChannel 13 s on the embedded engine, every
    # other write of the node waiting. Its messages are unreachable once the channel row is
    # gone; a channel created again with the same ChannelId first removes them. The purge goes
    # through the channel's numbers (``done`` of ``upto``, its last): a range of the
    # (channel, seq) index, which no planner's estimate turns into a scan of the channel.
    """
    CREATE TABLE channel_purges (
        channel_arn TEXT PRIMARY KEY,
        upto BIGINT NOT NULL,
        done BIGINT NOT NULL DEFAULT 0
    )
    """,
    # 20: the messages of sub-channels a SCALE_IN deleted, removed the same way: the member
    # whose leave emptied a sub-channel with a long history waited for its deletion, and every
    # other write of the node with it. Unreachable once the sub-channel row is gone (a message
    # of an elastic channel is read only with its live sub-channel). The purge goes through
    # the channel's numbers as a channel's does (``done`` of ``upto``, the channel's number at
    # the deletion), skipping those where the sub-channel has none.
    """
    CREATE TABLE sub_channel_purges (
        channel_arn TEXT NOT NULL,
        sub_channel_id TEXT NOT NULL,
        upto BIGINT NOT NULL,
        done BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (channel_arn, sub_channel_id)
    )
    """,
    # 21: a deleted channel's memberships go with its messages, after them: a channel with
    # hundreds of thousands of members held the embedded engine's writer for seconds to delete
    # them. ``members_after``: the last member ARN the purge has deleted (NULL: none yet).
    """
    ALTER TABLE channel_purges ADD COLUMN members_after TEXT
    """,
    # 22: a user's bans by the user: deleting a user (DeleteAppInstanceUser, its expiration)
    # deletes its bans, and without this index SQLite scanned every ban of the store for it.
    """
    CREATE INDEX bans_by_member ON bans (member_arn, channel_arn)
    """,
    # 23: the channels and users with ExpirationSettings: the sweep looked for the expired
    # ones through every channel and every user of the store, in a write (54 and 44 ms at
    # 500,000 each on SQLite), where only the few with settings can expire.
    """
    CREATE INDEX channels_expiring ON channels (arn) WHERE expiration_days IS NOT NULL;
    CREATE INDEX users_expiring ON users (arn) WHERE expiration_days IS NOT NULL
    """,
    # 24: messages by channel and age, in place of by age alone. The retention sweep found an
    # instance's expired messages by walking every message of the instance and sorting them
    # (1.6 s a batch at a million messages on SQLite, in a write); with this index it probes
    # each of the instance's channels for its messages older than the cutoff. By age alone
    # the walk would pass through every other instance's old messages instead.
    """
    DROP INDEX messages_by_age;
    CREATE INDEX messages_by_age ON messages (channel_arn, created)
    """,
)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer bellwire: this one refuses to touch it."""


def statements(version: int) -> list[str]:
    """The statements of migration ``version`` (1-based), in order."""
    return [s for s in MIGRATIONS[version - 1].split(";") if s.strip()]


def pending(current: int) -> Iterator[int]:
    """The versions to apply to a schema at ``current``; refuses a schema newer than known."""
    if current > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database schema is version {current}, newer than this bellwire "
            f"({len(MIGRATIONS)}); upgrade bellwire"
        )
    return iter(range(current + 1, len(MIGRATIONS) + 1))


# The one table both engines keep their schema version in.
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
