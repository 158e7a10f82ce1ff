"""The public API fuzzed from its own OpenAPI documents (issue 14), on a real gateway (real broker
and registry) with the caisse service running, and on the health service.

For every operation of `app.openapi()` of the gateway and of the health service, hypothesis
(with tests/openapi_strategies.py) draws path parameters, query parameters, headers and JSON bodies
from the operation's schemas, as every role and as no one; half of the draws name the world's
own resources (its shop, product, territory, card, order), so that they get past the lookups.
Then hand-made nasty values replace, one at a time, each field of a valid request of every
route (year-0 months, days out of range, integers beyond Avro's, empty and huge strings, lone
surrogates, NUL, other digits), with a few raw bodies and Authorization headers besides.

Expected: no server error, but the caisse's documented 504 ("ask again"); every status seen is
one the document gives for its route (services/bus/openapi.py); the caisse service still runs
at the end (a request it cannot handle must be refused at the edge, not stop it).
Every (route, status) seen is logged. Generation is derandomized: the same requests each run.
The world (tokens, an order, offers, signals, an enrolled card) is the authorisation matrix's.
No topic or consumer group is created: the gateway reads its tables without a group and writes
to the catalog's topics, as the matrix does.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import structlog
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.auth.tokens import digest
from services.events.auth import Role
from services.gateway.app import create_app
from services.health.monitor import HealthConfig
from tests.integration.health_stack import running_health
from tests.integration.test_authorization_matrix import (  # noqa: F401 - fixtures reused
    POLICY,
    PUBLIC,
    REQUESTS,
    World,
    caisse_process,
    stack,
    world,
)
from tests.openapi_strategies import from_schema
from tests.support import eventually

pytestmark = pytest.mark.integration
log = structlog.get_logger("tests.fuzz")

WHO = (*(role.value for role in Role), "no token")
EXAMPLES_PER_OPERATION = 24  # x ~36 operations, plus ~1500 nasty requests: about a minute
CONCURRENCY = 16
ASK_AGAIN = 504  # the caisse did not answer in time: documented, the client asks again


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    app: str  # "gateway" or "health"
    method: str
    route: str  # as the OpenAPI document names it
    who: str  # a role, or "no token"
    path: str  # with its parameters, percent-encoded
    query: tuple[tuple[str, Any], ...] = ()
    body: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    origin: str = "schema"

    def url(self) -> str:
        # quote with surrogatepass: a lone surrogate goes as the bytes UTF-8 would give it
        query = urlencode(self.query, doseq=True, quote_via=lambda s, safe, *_: quote(
            s, safe, encoding="utf-8", errors="surrogatepass"))
        return f"{self.path}?{query}" if query else self.path


def encode_body(value: Any) -> bytes:
    """JSON with \\u escapes (a lone surrogate stays one on the server's side)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def path_of(route: str, values: dict[str, Any]) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: quote(
        str(values[m[1]]), safe="", errors="surrogatepass"), route)


def header_value(value: Any) -> bytes:
    """What an HTTP header can carry of a drawn value: latin-1, no control characters."""
    text = "".join(c for c in str(value) if " " <= c <= "~" or "\xa0" <= c <= "\xff")
    return text.strip().encode("latin-1")


# ---------------------------------------------------------------------------------------------
# From the OpenAPI document
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    method: str
    route: str
    parameters: tuple[dict, ...]
    body: dict | None  # the JSON body's schema


def operations(doc: dict) -> list[Operation]:
    found = []
    for route, methods in doc["paths"].items():
        for method, operation in methods.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found.append(Operation(method.upper(), route, tuple(operation.get("parameters", ())),
                                   body))
    return found


def anchors(w: World) -> dict[str, Any]:
    """Names of the world's own resources, by field or parameter name."""
    return {"shop_id": w.shop_a, "shop": w.shop_a, "product_id": w.product, "product": w.product,
            "territory": w.territory, "category": w.product, "card_id": w.card_x,
            "subject_id": w.shop_a, "month": w.month, "order_id": w.order_id,
            "subscription_id": w.sub_kept, "redemption_id": "r-none"}


def anchored(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: names[k] if k in names and not isinstance(v, list) else anchored(v, names)
                for k, v in value.items()}
    if isinstance(value, list):
        return [anchored(item, names) for item in value]
    return value


def request_strategy(app: str, doc: dict, op: Operation, names: dict[str, Any]
                     ) -> st.SearchStrategy[Case]:
    """Cases of one operation, drawn from its schemas (as SHOP: `schema_cases` spreads them over
    every role and no one)."""
    components = doc.get("components", {})
    parameters = [(p, from_schema(p["schema"], components)) for p in op.parameters]
    body_strategy = from_schema(op.body, components) if op.body else None

    @st.composite
    def draw_case(draw: Callable) -> Case:
        anchor = draw(st.booleans())
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        for parameter, strategy in parameters:
            where, name = parameter["in"], parameter["name"]
            if not parameter.get("required") and not draw(st.booleans()):
                continue
            value = draw(strategy)
            if anchor and name in names and where != "header":
                value = names[name]
            if value is not None:
                values[where][name] = value
        body = draw(body_strategy) if body_strategy is not None else None
        if anchor:
            body = anchored(body, names)
        return Case(app, op.method, op.route, Role.SHOP.value, path_of(op.route, values["path"]),
                    tuple((k, _query_value(v)) for k, v in values["query"].items()),
                    None if op.body is None else encode_body(body),
                    tuple((k, header_value(v)) for k, v in values["header"].items()))
    return draw_case()


def _query_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_query_value(v) for v in value)
    return json.dumps(value) if isinstance(value, bool) else str(value)


def drawn(strategy: st.SearchStrategy[Case], count: int) -> list[Case]:
    """`count` draws of the strategy, the same ones each run (derandomized, no database)."""
    found: list[Case] = []

    @hypothesis_settings(max_examples=count, derandomize=True, database=None, deadline=None,
                         phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        found.append(case)

    collect()
    return found


def schema_cases(app: str, doc: dict, names: dict[str, Any]) -> list[Case]:
    """The distinct draws of every operation, each as the next of every role and no one (an
    operation without parameters nor body: once as each)."""
    cases = []
    for op in operations(doc):
        distinct = list(dict.fromkeys(drawn(request_strategy(app, doc, op, names),
                                            EXAMPLES_PER_OPERATION)))
        if len(distinct) < len(WHO):
            distinct = [distinct[i % len(distinct)] for i in range(len(WHO))]
        cases += [replace(case, who=WHO[i % len(WHO)]) for i, case in enumerate(distinct)]
    return cases


# ---------------------------------------------------------------------------------------------
# Nasty values, one field at a time, in a valid request of each route
# ---------------------------------------------------------------------------------------------
NASTY_TEXT = ["", " ", "x" * 10_000, "\x00", "é🍞 Œuf", "\ud800", "a\udfffb", "../../etc/passwd",
              "²", "١٢٣", "-1", "null"]
NASTY_INT = [-1, 0, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 1.5, 1e308, "12", True,
             None]
NASTY_MONTH = ["0000-01", "0001-01", "1999-12", "2101-01", "9999-12", "2026-00", "2026-13",
               "2026-1", "２０２６-11", "2026-11\n"]
NASTY_DAY = ["0000-01-01", "0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31", "2026-02-30",
             "2026-11-26T00:00:00", "20261126"]
NASTY_TIME = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "2026-11-26T10:00:00",
              "2026-11-26T10:00:00+99:00", "1970-01-01T00:00:00Z"]
MONTH = re.compile(r"\d{4}-\d{2}")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def nasty_values(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return [None, "yes", 2]
    if isinstance(value, int):
        return NASTY_INT
    if isinstance(value, str):
        if MONTH.fullmatch(value):
            return NASTY_MONTH + NASTY_TEXT[:2]
        if DAY.fullmatch(value):
            return NASTY_DAY + NASTY_TEXT[:2]
        if DAY.match(value):
            return NASTY_TIME
        return NASTY_TEXT + [12]
    if isinstance(value, list):
        return [[], "x", None, value * 300]
    if isinstance(value, dict):
        return [{}, None, []]
    return [None]


def leaves(value: Any, where: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every field of a JSON value, containers included."""
    if where:
        yield where, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*where, index))


def put(value: Any, where: tuple, new: Any) -> Any:
    if not where:
        return new
    head, rest = where[0], where[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = put(copy[head], rest, new)
    return copy


def caller(allowed: Any, variant: str | None) -> str:
    """A role that may call the route, so that the request reaches validation and the handler."""
    if isinstance(allowed, dict):
        allowed = allowed[variant]
    if allowed == PUBLIC:
        return "no token"
    return sorted(role.value for role in allowed)[0]


def path_values(w: World, variant: str | None) -> dict[str, Any]:
    return {"order_id": w.order_id, "card_id": w.card_matrix, "subscription_id": w.sub_deleted,
            "action": variant, "area": "sales", "name": "SaleRecorded.avsc"}


def nasty_cases(w: World) -> list[Case]:
    cases = []
    for (method, route), allowed in POLICY.items():
        variants = list(allowed) if isinstance(allowed, dict) else [None]
        for variant in variants:
            call = REQUESTS[(method, route)](w, variant)
            base = Case("gateway", method, re.sub(r":\w+}", "}", route),
                        caller(allowed, variant), call.path,
                        tuple((call.params or {}).items()),
                        None if call.json is None else encode_body(call.json),
                        origin="valid")
            cases.append(base)
            cases.extend(_nasty_bodies(base, call.json))
            cases.extend(_nasty_query(base, call.params or {}))
            cases.extend(_nasty_path(base, w, variant))
    return cases


def _nasty_bodies(base: Case, body: Any) -> Iterator[Case]:
    if body is None:
        return
    for where, value in leaves(body):
        for nasty in nasty_values(value):
            yield replace(base, body=encode_body(put(body, where, nasty)),
                          origin=f"body {'.'.join(map(str, where))}={nasty!r:.40}")
    for raw in (b"", b"not json", b"[]", b"null", b'{"a":', b"[" * 50_000 + b"]" * 50_000,
                b"\xff\xfe", json.dumps({"x": 1}).encode()):
        yield replace(base, body=raw, origin=f"raw body {raw[:20]!r}")


def _nasty_query(base: Case, params: dict[str, Any]) -> Iterator[Case]:
    for name, value in params.items():
        for nasty in nasty_values(value):
            if nasty is not None and not isinstance(nasty, list | dict):
                yield replace(base, query=tuple((k, _query_value(nasty) if k == name else v)
                                                for k, v in params.items()),
                              origin=f"query {name}={nasty!r:.40}")
        yield replace(base, query=((name, value), (name, value)), origin=f"query {name} twice")


def _nasty_path(base: Case, w: World, variant: str | None) -> Iterator[Case]:
    names = re.findall(r"{(\w+)", base.route)
    for name in names:
        if name == "action":
            continue
        for nasty in NASTY_TEXT + ["a/b", "%2F", "x" * 300]:
            values = {**path_values(w, variant), name: nasty}
            yield replace(base, path=path_of(base.route, values),
                          origin=f"path {name}={nasty!r:.40}")


def nasty_headers(w: World) -> list[Case]:
    token = w.tokens["COMMITTEE"].encode()
    # (no trailing space: HTTP clients refuse to send one)
    authorizations = [b"", b"Bearer", b"Basic Zm9vOmJhcg==", b"Bearer " + b"x" * 8000,
                      b"Bearer vivres_\xe9\xff", b"bearer " + token, b"Bearer \t " + token,
                      b"Token " + token, token, b"Bearer " + token + b"," + token]
    cases = [Case(app, "GET", route, "(header)", route,
                  headers=(("authorization", value),), origin=f"authorization {value[:30]!r}")
             for app, route in (("gateway", "/v1/caisse/decisions"),
                                ("health", "/v1/health/streams"))
             for value in authorizations]
    cursors = [b"0:\xb2", b"\xb2:1", b"9" * 4000, b"0:" + b"9" * 40, b"-1:-1", b"0:1," * 500,
               b"\xff" * 100, b"x" * 5000]
    cases += [Case("gateway", "GET", "/v1/demand/stream", "PRODUCER", "/v1/demand/stream",
                   headers=(("last-event-id", value),), origin=f"Last-Event-ID {value[:30]!r}")
              for value in cursors]
    return cases


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------
async def send(http: httpx.AsyncClient, case: Case, headers: dict[str, Any]) -> tuple[int, str]:
    """(status, start of the body); an event stream is left as soon as its status is known."""
    sent = {**headers, **dict(case.headers)}
    if case.body is not None:
        sent["content-type"] = "application/json"
    async with http.stream(case.method, case.url(), content=case.body, headers=sent) as answer:
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            return answer.status_code, "(event stream)"
        await answer.aread()
        return answer.status_code, answer.text[:300]


def acceptable(case: Case, status: int, text: str) -> bool:
    if 0 < status < 500:  # 0: no answer at all
        return True
    return status == ASK_AGAIN and case.route.startswith("/v1/caisse/") and "again" in text


# ---------------------------------------------------------------------------------------------
# Fixtures: the health service beside the matrix's gateway and caisse
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def health(settings, world):  # noqa: F811 - the matrix's fixture
    config = HealthConfig(interval_s=1.0, window_s=4.0, groups=re.escape("vivres-fuzz-none"))
    async with running_health(settings, config, loop=False) as running:
        await running.health.monitor.collect()  # a first report: /v1/health/streams answers

        def known() -> bool:
            table = running.health.app.state.tokens()
            return table is not None and all(table.get(digest(world.tokens[who]))
                                             for who in WHO if who in world.tokens)
        await eventually(known, timeout=30, what="the world's tokens known to the health service")
        yield running


async def revoke_subscriptions(http: httpx.AsyncClient, base: str, headers: dict) -> None:
    """Revoke the producer's webhook subscriptions (the fuzz creates some)."""
    listed = await http.get(f"{base}/v1/demand/subscriptions", headers=headers)
    listed.raise_for_status()
    for subscription in listed.json():
        gone = await http.delete(f"{base}/v1/demand/subscriptions/"
                                 f"{quote(subscription['subscription_id'])}", headers=headers)
        assert gone.status_code in (204, 404), gone.text


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------
async def test_no_request_makes_a_server_error(stack, world, health,  # noqa: F811
                                               caisse_process, tmp_path) -> None:  # noqa: F811
    w = world
    gateway_doc = create_app(stack.deps).openapi()
    health_doc = health.health.app.openapi()
    names = anchors(w)
    cases = [*schema_cases("gateway", gateway_doc, names), *schema_cases("health", health_doc, {}),
             *nasty_cases(w), *nasty_headers(w)]
    bases = {"gateway": stack.url, "health": health.url}

    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=30) as http:
        async def run(case: Case) -> tuple[int, str]:
            headers = {} if case.who in ("no token", "(header)") else w.headers(case.who)
            async with limit:
                try:
                    return await send(http, replace(case, path=bases[case.app] + case.path),
                                      headers)
                except httpx.HTTPError as err:
                    return 0, f"{type(err).__name__}: {err}"
        try:
            answers = await asyncio.gather(*(run(case) for case in cases))
        finally:  # a drawn subscription matches every signal: leave none for later tests
            await revoke_subscriptions(http, stack.url, w.headers(Role.PRODUCER.value))

    seen = Counter((case.app, case.method, case.route, status)
                   for case, (status, _) in zip(cases, answers, strict=True))
    table = {" ".join(map(str, k)): n for k, n in sorted(seen.items())}
    (tmp_path / "seen.json").write_text(json.dumps(table, indent=1))
    log.info("fuzz.seen", requests=len(cases), seen=table, file=str(tmp_path / "seen.json"))
    wrong = [f"{case.method} {case.url()[:200]} as {case.who} ({case.origin}): {status} {text}"
             for case, (status, text) in zip(cases, answers, strict=True)
             if not acceptable(case, status, text)]
    assert not wrong, f"{len(wrong)} of {len(cases)} requests got a server error:\n" + \
        "\n".join(wrong[:60])
    docs = {"gateway": gateway_doc, "health": health_doc}
    undocumented = sorted({f"{app} {method} {route} {status}" for app, method, route, status
                           in seen if status and str(status) not in
                           docs[app]["paths"][route][method.lower()]["responses"]})
    assert not undocumented, f"answers the OpenAPI documents do not give: {undocumented}"
    exercised = {(app, method, route) for app, method, route, _ in seen}
    documented = {(app, op.method, op.route) for app, doc in (("gateway", gateway_doc),
                                                              ("health", health_doc))
                  for op in operations(doc)}
    assert documented <= exercised, f"never asked: {sorted(documented - exercised)}"
    assert any(status < 300 for (_, _, _, status) in seen), "nothing got past validation"
    assert caisse_process.process.poll() is None, \
        "the caisse service stopped during the fuzz: see its log"
