"""The directory over HTTP: /v1/territories, /v1/shops, /v1/producers, /v1/hubs, each with
list, get one, create, correct (PATCH) and close; and /v1/tokens, to issue a token for an
entry of the directory (shown once) and list a subject's. The rules are the directory's
(services.directory.rules); a refusal answers with its status and, per problem, `type`, `msg`
and `fr` (the sentence in French, for the pages and the CLI)."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.auth.tokens import Principal, issue
from services.bus.catalog import TOKENS
from services.directory.rules import (
    HUB,
    PRODUCER,
    SHOP,
    TERRITORY,
    Kind,
    Refusal,
    territories_of,
    token_problems,
    unknown,
)
from services.directory.writer import DirectoryWriter, Refused
from services.events.auth import Role
from services.events.catalog import ShopRegistered
from services.events.directory import HubRegistered, ProducerRegistered, TerritoryRegistered
from services.gateway.auth import principal
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import Label, Latitude, Longitude, Name, ShopId, Slug, Timezone

Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 Monday ... 7 Sunday.")]
Weekdays = Annotated[list[Weekday], Field(max_length=7)]
Labels = Annotated[list[Slug], Field(max_length=20)]


class TerritoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    territory_id: Slug
    name: Name
    timezone: Timezone = "Europe/Paris"
    caisse: Slug | None = None


class ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop_id: ShopId
    name: Name
    territory: Slug
    kind: Literal["sociale", "solidaire"]
    commune: Name | None = None
    timezone: Timezone | None = Field(None, description="Default: its territory's.")
    opening_days: Weekdays = []


class ProducerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    producer_id: Slug
    farm_name: Name
    commune: Name
    farm_lat_e6: Latitude
    farm_lon_e6: Longitude
    organic: bool = False
    labels: Labels = []
    territories: Annotated[list[Slug], Field(min_length=1, max_length=20)]


class HubIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hub_id: Slug
    territory: Slug
    name: Name
    lat_e6: Latitude
    lon_e6: Longitude
    delivery_weekdays: Weekdays = []


def _patch_of(model: type[BaseModel], id_field: str) -> type[BaseModel]:
    """The model of a correction: the entry's fields but its id, each optional, with the
    same constraints (pydantic keeps a field's pattern, bounds and validators apart from its
    annotation: without them a PATCH took any timezone, latitude or id)."""
    fields: dict[str, Any] = {
        name: (Optional[Annotated[(info.annotation, *info.metadata)] if info.metadata  # noqa: UP045
                        else info.annotation], Field(None, description=info.description))
        for name, info in model.model_fields.items() if name != id_field}
    return create_model(f"{model.__name__[:-2]}Patch", __config__=ConfigDict(extra="forbid"),
                        **fields)


def _refused(refusals: list[Refusal]) -> JSONResponse:
    return JSONResponse({"detail": [r.detail() for r in refusals]},
                        status_code=refusals[0].status)


async def _answer(write: Awaitable[Any]) -> Any:
    try:
        written = await write
    except Refused as refused:
        return _refused(refused.refusals)
    return written


def _writer(deps: GatewayDeps) -> DirectoryWriter:
    return DirectoryWriter(deps.directory, deps.publisher, deps.clock)


def _router(kind: Kind, plural: str, model: type[BaseModel], entry: type[Any],
            prepare: Callable[[GatewayDeps, dict[str, Any]], dict[str, Any]] = lambda _d, f: f,
            ) -> APIRouter:
    """The five routes of one kind of entry."""
    router = APIRouter(prefix=f"/v1/{plural}", tags=["directory"])
    patch_model = _patch_of(model, kind.id_field)
    Id = Annotated[str, Path(min_length=1, max_length=64, alias=kind.id_field)]
    errors = {403: {"description": "this token may not write this entry"},
              409: {"description": "the id exists with other values, or the entry is closed"},
              422: {"description": "unknown territory, invalid timezone, an id of another "
                                   "kind, a location outside France"}}

    @router.get("", response_model=list[entry], name=f"list {plural}")
    async def list_(_who: Annotated[Principal, Depends(principal)], deps: Deps,
                    territory: Annotated[Slug | None, Query()] = None,
                    closed: Annotated[bool, Query(description="Closed ones too.")] = False
                    ) -> list[Any]:
        table = deps.directory.table(kind)
        return sorted((e for e in table.values()
                       if (closed or e.closed_at is None)
                       and (territory is None or territory in territories_of(kind, e)
                            or (kind is TERRITORY and e.territory_id == territory))),
                      key=lambda e: getattr(e, kind.id_field))

    @router.get("/{" + kind.id_field + "}", response_model=entry, name=f"get one of {plural}",
                responses={404: {"description": "no such entry"}})
    async def get_one(entry_id: Id, _who: Annotated[Principal, Depends(principal)],
                      deps: Deps) -> Any:
        found = deps.directory.get(kind, entry_id)
        if found is None:
            return _refused([unknown(kind, entry_id)])
        return found

    @router.post("", response_model=entry, status_code=status.HTTP_201_CREATED,
                 name=f"create one of {plural}",
                 responses={200: {"description": "it already said so: nothing changed"},
                            **errors})
    async def create(body: model,  # type: ignore[valid-type]
                     who: Annotated[Principal, Depends(principal)], deps: Deps) -> Any:
        fields = prepare(deps, body.model_dump())
        written = await _answer(_writer(deps).create(who, kind, fields))
        if isinstance(written, JSONResponse):
            return written
        if not written.changed:
            return JSONResponse(written.entry.model_dump(mode="json"), status_code=200)
        return written.entry

    @router.patch("/{" + kind.id_field + "}", response_model=entry,
                  name=f"correct one of {plural}",
                  responses={404: {"description": "no such entry"}, **errors})
    async def update(entry_id: Id, body: patch_model,  # type: ignore[valid-type]
                     who: Annotated[Principal, Depends(principal)], deps: Deps) -> Any:
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items()
                   if v is not None}
        written = await _answer(_writer(deps).update(who, kind, entry_id, changes))
        return written if isinstance(written, JSONResponse) else written.entry

    @router.post("/{" + kind.id_field + "}/close", response_model=entry,
                 name=f"close one of {plural}",
                 responses={404: {"description": "no such entry"}, **errors})
    async def close(entry_id: Id, who: Annotated[Principal, Depends(principal)],
                    deps: Deps) -> Any:
        written = await _answer(_writer(deps).close(who, kind, entry_id))
        return written if isinstance(written, JSONResponse) else written.entry

    return router


def _shop_timezone(deps: GatewayDeps, fields: dict[str, Any]) -> dict[str, Any]:
    """A shop's timezone defaults to its territory's."""
    if fields.get("timezone") is None:
        territory = deps.directory.territories.get(fields["territory"])
        fields["timezone"] = territory.timezone if territory is not None else "Europe/Paris"
    return fields


routers = (
    _router(TERRITORY, "territories", TerritoryIn, TerritoryRegistered),
    _router(SHOP, "shops", ShopIn, ShopRegistered, _shop_timezone),
    _router(PRODUCER, "producers", ProducerIn, ProducerRegistered),
    _router(HUB, "hubs", HubIn, HubRegistered),
)

tokens = APIRouter(prefix="/v1/tokens", tags=["directory"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    subject: Annotated[str | None, Field(None, min_length=1, max_length=64,
                                         description="The épicerie, producer or hub (its "
                                                     "id); the caisse for a committee.")]
    label: Label = ""


class TokenOut(BaseModel):
    token: str = Field(description="Shown once: only its digest is kept.")
    role: Role
    subject: str | None
    label: str
    issued_at: datetime


class TokenSeen(BaseModel):
    """A token as listed: never the token itself."""

    digest_prefix: str
    role: Role
    subject: str | None
    label: str
    issued_at: datetime
    revoked: bool


@tokens.post("", response_model=TokenOut, status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "this token may not issue that one"},
                        422: {"description": "a subject the directory does not know"}})
async def issue_token(body: TokenIn, who: Annotated[Principal, Depends(principal)],
                      deps: Deps) -> Any:
    """Issue a token for an entry of the directory (an operator; a hub for its territory's
    épiceries and producers). The token is in this answer only."""
    found = token_problems(who, body.role, body.subject, deps.directory)
    if found:
        return _refused(found)
    token, event = issue(body.role, body.subject, body.label, deps.clock())
    await deps.publisher.publish(TOKENS, event)
    deps.tokens.put(event)
    return TokenOut(token=token, role=event.role, subject=event.subject, label=event.label,
                    issued_at=event.issued_at)


class Caller(BaseModel):
    """Who a token speaks for: what a page needs to know whose data it shows."""

    role: Role
    subject: str | None


@tokens.get("/me", response_model=Caller)
async def who_am_i(who: Annotated[Principal, Depends(principal)]) -> Caller:
    """The role and subject (the épicerie, producer, hub or caisse) of the token presented."""
    return Caller(role=who.role, subject=who.subject)


@tokens.get("", response_model=list[TokenSeen])
async def list_tokens(who: Annotated[Principal, Depends(principal)],
                      subject: Annotated[str, Query(min_length=1, max_length=64)],
                      deps: Deps) -> Any:
    """A subject's tokens, revoked ones included (an operator; a hub for its territory's)."""
    found = [p for p in token_problems(who, Role.SHOP, subject, deps.directory, listing=True)
             if p.status == 403]
    if found:
        return _refused(found)
    return sorted((TokenSeen(digest_prefix=t.token_sha256[:12], role=t.role,
                             subject=t.subject, label=t.label, issued_at=t.issued_at,
                             revoked=t.revoked)
                   for t in deps.tokens.values() if t.subject == subject),
                  key=lambda t: t.issued_at)
