"""The embedded MQTT broker, its auth and ACL plugins, and store credentials."""
