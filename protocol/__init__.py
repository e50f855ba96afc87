"""The wire contract shared by the edge agent and the hub: messages, topics, codec, identities."""

SCHEMA_VERSION = 1
