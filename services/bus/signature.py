"""What Vivres POSTs to a webhook is signed, so that the receiver can tell it came from us:
`X-Vivres-Signature: sha256=<hex HMAC-SHA256 of the body under the shared secret>`."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Vivres-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
