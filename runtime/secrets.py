"""Keep secrets out of logs, stored ERP answers and error bodies.

Every secret the services read from a file (runtime.config.read_secret) is remembered here;
`scrub` replaces each remembered secret, and anything shaped like `password=...`,
`Authorization: ...` or `Bearer <credential>`, with `[secret]`.
The log formatter (runtime.logs) runs every line through it, so a library that logs a packet or
an ERP that echoes a token back cannot leak it.

Only values that look like credentials are remembered (`looks_like_credential`): a secret file
holding a common word ("token", "retail") must not make that word vanish from every message.
A weak secret is not remembered (the shapes above still catch it where it is sent); use
generated secrets (`retail-hub stores add` makes 192-bit ones).
"""

import re

MIN_LEN = 8  # shorter values would match ordinary words
_known: set[str] = set()
_VALUE = r"[^\s,)'\"}]"
_PASSWORD = re.compile(rf"(?i)(password\s*[=:]\s*'?)(?!\[secret\]){_VALUE}+")
# Authorization and a bare "bearer X" only when X is credential-sized: "missing or wrong bearer
# token" and "(Authorization: Bearer ...)" are prose, not credentials.
_CREDENTIAL = re.compile(rf"(?i)(authorization\s*[=:]\s*'?(?:bearer\s+|basic\s+)?|\bbearer\s+)"
                         rf"(?!\[secret\])({_VALUE}{{{MIN_LEN},}})")


def looks_like_credential(value: str) -> bool:
    """At least MIN_LEN characters, not one plain word, and not one character repeated: what a
    password or token looks like, and what an ordinary word in a message does not."""
    return (len(value) >= MIN_LEN and len(set(value)) >= 4
            and (not value.isalpha() or len(value) >= 16) and not value.isspace())


def remember(secret: str) -> str:
    if looks_like_credential(secret):
        _known.add(secret)
    return secret


def scrub(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, "[secret]")
    for shape in (_PASSWORD, _CREDENTIAL):
        text = shape.sub(lambda m: m.group(1) + "[secret]", text)
    return text
