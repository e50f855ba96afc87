"""Keep secrets out of logs, stored ERP answers and error bodies.

Every secret the services read from a file (runtime.config.read_secret) is remembered here;
`scrub` replaces each remembered secret, and anything shaped like `password=...` or
`Bearer ...`, with `[secret]`. The log formatter (runtime.logs) runs every line through it,
so a library that logs a packet or an ERP that echoes a token back cannot leak it.
"""

import re

_MIN_LEN = 6  # shorter strings would match ordinary words
_known: set[str] = set()
_SHAPES = re.compile(r"(?i)(password\s*[=:]\s*'?|authorization\s*[=:]\s*'?(?:bearer\s+|basic\s+)?"
                     r"|\bbearer\s+)(?!\[secret\])[^\s,)'\"}]+")


def remember(secret: str) -> str:
    if len(secret) >= _MIN_LEN:
        _known.add(secret)
    return secret


def scrub(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, "[secret]")
    return _SHAPES.sub(lambda m: m.group(1) + "[secret]", text)
