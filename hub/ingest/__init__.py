"""Receiving store batches over MQTT: admission, the exactly-once event log, quarantine."""
