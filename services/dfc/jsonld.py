"""JSON-LD processing offline: PyLD with a document loader that knows only the shipped context.

A producer's catalog names its context by URL; fetching it would need the network (there is
none at run time) and would let any document make the gateway fetch a URL of its choosing. The
loader answers the DFC context URLs from `context/context_1.16.0.json` and refuses every other.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from pyld import jsonld
from pyld.jsonld import JsonLdError

from services.dfc.terms import CONTEXT_URL, CONTEXT_VERSION

# The URLs connector-ruby 1.3.0 preloads its 1.16.0 context for (lib/…/connector/context.rb),
# compared without scheme and trailing slash (it folds https onto http the same way).
CONTEXT_URLS = (
    CONTEXT_URL,
    "https://www.datafoodconsortium.org",
    "http://www.datafoodconsortium.org/wp-content/plugins/wordpress-context-jsonld/"
    f"context_{CONTEXT_VERSION}.jsonld",
    "http://www.datafoodconsortium.org/wp-content/plugins/wordpress-context-jsonld/context.jsonld",
    "http://static.datafoodconsortium.org/ontologies/context.json",
)


class ContextRefused(ValueError):
    """A document names a context Vivres does not ship."""


def _key(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


_KNOWN = frozenset(_key(url) for url in CONTEXT_URLS)


@cache
def context_document() -> dict[str, Any]:
    """The shipped DFC context document (`{"@context": {...}}`)."""
    text = (resources.files("services.dfc").joinpath(f"context/context_{CONTEXT_VERSION}.json")
            .read_text(encoding="utf-8"))
    return json.loads(text)


def load_document(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """PyLD's documentLoader: the shipped context for the DFC URLs, a refusal for any other."""
    if _key(url) not in _KNOWN:
        raise JsonLdError(f"context {url} is not shipped with Vivres (it loads nothing from the "
                          "network)", "jsonld.LoadDocumentError", {"url": url},
                          code="loading remote context failed")
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": copy.deepcopy(context_document())}


# And as PyLD's default, so that no call, even one without options, can reach the network.
jsonld.set_document_loader(load_document)


def _options() -> dict[str, Any]:
    # base "": a relative @id stays relative instead of being resolved against a guessed URL
    return {"documentLoader": load_document, "base": ""}


def _refusal(error: JsonLdError) -> ContextRefused:
    cause: BaseException | None = error
    while cause is not None:  # PyLD raises its own error `from` the loader's
        if isinstance(cause, JsonLdError) and cause.type == "jsonld.LoadDocumentError":
            url = (cause.details or {}).get("url")
            return ContextRefused(f"context {url} is not shipped with Vivres "
                                  "(it loads nothing from the network)")
        cause = cause.__cause__
    return ContextRefused(f"not a JSON-LD document Vivres can read: {error.args[0]}")


# PyLD keeps a module-wide cache of resolved contexts (an LRU dict, not thread-safe): one
# expansion at a time, so that the gateway may run an import in a worker thread.
_PYLD = threading.Lock()

# What PyLD raises, besides its JsonLdError, on some malformed documents (a keyword given a
# value of the wrong type: `{"@included": true}` is a TypeError deep inside), and on a document
# nested deeper than the interpreter's recursion limit.
_MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError)


def _processed(process: Callable[[Any], Any], document: Any) -> Any:
    """`process(document)` with PyLD, any failure of it a ContextRefused."""
    if not isinstance(document, dict | list):  # PyLD would take a string for a URL to load
        raise ContextRefused("a JSON-LD document is a JSON object or array")
    try:
        with _PYLD:
            return process(document)
    except JsonLdError as error:
        raise _refusal(error) from error
    except _MALFORMED as error:
        raise ContextRefused(f"not a JSON-LD document Vivres can read ({error!r:.200})") \
            from error


def expand(document: Any) -> list[dict[str, Any]]:
    """The document expanded (full IRIs), its contexts from the shipped file only."""
    return _processed(lambda doc: jsonld.expand(doc, _options()), document)


def flatten(document: Any) -> list[dict[str, Any]]:
    """The document's nodes, expanded and flattened: one node object per subject (blank nodes
    named `_:b0`…), every value a list."""
    flat = _processed(lambda doc: jsonld.flatten(doc, None, _options()), document)
    return flat if isinstance(flat, list) else flat.get("@graph", [])
