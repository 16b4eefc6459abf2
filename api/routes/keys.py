"""``/v1/keys``: API key management for admin keys. The first key is made with ``elephant keys create``
on the server's machine, never over HTTP: an open server must not let a stranger lock it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from elephant.api.deps import AppContext, get_context, get_principal
from elephant.api.responses import KeysOut
from elephant.api.schemas import KeyCreateIn
from elephant.errors import Forbidden
from elephant.storage.apikeys import ApiKey, ApiKeyOut, CreatedKeyOut

router = APIRouter(prefix="/keys", tags=["keys"])
Ctx = Annotated[AppContext, Depends(get_context)]
Principal = Annotated[ApiKey | None, Depends(get_principal)]


def _require_admin(principal: ApiKey | None) -> None:
    if principal is None:
        raise Forbidden("no API key exists yet: create the first one with `elephant keys create --scope admin`")


@router.get("", response_model=KeysOut)
def list_keys(ctx: Ctx, principal: Principal,
              include_revoked: Annotated[bool, Query()] = True) -> dict[str, list[ApiKeyOut]]:
    """Every key's id, name, scope and dates (never a secret)."""
    _require_admin(principal)
    return {"keys": [k.to_dict() for k in ctx.keys.list_keys(include_revoked=include_revoked)]}


@router.post("", response_model=CreatedKeyOut, status_code=201)
def create_key(ctx: Ctx, principal: Principal, body: KeyCreateIn) -> CreatedKeyOut:
    """A new key; its secret is in this response only."""
    _require_admin(principal)
    return ctx.keys.create(scope=body.scope, name=body.name).to_dict()


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_key(ctx: Ctx, principal: Principal,
               key_id: Annotated[str, Path(min_length=1, max_length=32)]) -> ApiKeyOut:
    """Revoke a key; requests with it fail from now on."""
    _require_admin(principal)
    return ctx.keys.revoke(key_id).to_dict()
