"""Errors of the shared plumbing: the one root every error `runtime` raises on purpose is under.

    PlumbingError
    ├── ConfigError        (runtime/config.py) a config that cannot be used; names the key and the file
    ├── StartupError       (runtime/service.py) the service cannot start; carries `exit_code`
    │   ├── DataDirInUse   another process holds the data_dir's lock
    │   └── CannotListen   an address from the config cannot be bound
    ├── SchemaTooNew       (runtime/migrations.py) a database written by a newer release; also a
    │                      RuntimeError
    ├── WriterClosed       (runtime/group_commit.py) the database writer closed before it ran
    │                      the job; also a RuntimeError
    ├── WindowError        (runtime/windows.py) a maintenance window that cannot be parsed; also a
    │                      ValueError
    └── Deaf               (runtime/hearing.py) raised out of an MQTT session that hears nothing

Each leaf lives beside the code that raises it (so existing imports keep working); this module
holds only the root, so `except PlumbingError` catches any of them.
"""


class PlumbingError(Exception):
    """Root of every error the `runtime` package raises on purpose."""
