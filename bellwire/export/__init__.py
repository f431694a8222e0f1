"""Streaming export's delivery: sinks (Redis Streams, NATS JetStream, HTTP webhooks) and the
relay that moves the durable outbox to them (docs/streaming.md)."""
