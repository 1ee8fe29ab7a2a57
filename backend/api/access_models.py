"""Bodies and answers of the feature-flag and signed-link API, for validation and the OpenAPI document.

The models check types and sizes; ``backend.access.flags`` and ``backend.access.links`` check
the rest (and are the only judges of what is stored).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, model_validator

from backend.access.flags import CHANGEABLE, DESCRIPTION_MAX, TARGET_MAX, TARGETS_MAX
from backend.access.links import LABEL_MAX, PAGE_PERMISSIONS, QUERY_MAX
from backend.api.spec import Body, Query
from backend.api.types import flag, whole_number

FLAG_BODY_MAX_BYTES = 64 * 1024
LINK_BODY_MAX_BYTES = 16 * 1024
KEY_REGEX = r"^[a-z][a-z0-9_.-]{1,63}$"

Key = Annotated[StrictStr, Field(min_length=2, max_length=64, pattern=KEY_REGEX,
                                 description="a lowercase letter, then 1 to 63 of a-z 0-9 _ . -")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=TARGET_MAX)]
Roles = Annotated[list[Name], Field(max_length=TARGETS_MAX,
                                    description="when not empty, only users with one of these roles are eligible")]
Users = Annotated[list[Name], Field(max_length=TARGETS_MAX, description="users for whom the flag is always on")]
Description = Annotated[StrictStr, Field(max_length=DESCRIPTION_MAX)]
Rollout = Annotated[StrictInt, Field(ge=0, le=100, description="percentage of eligible users (stable per user)")]


# -- flags -------------------------------------------------------------------------------
class FlagCreate(Body):
    max_body_bytes: ClassVar[int] = FLAG_BODY_MAX_BYTES

    key: Key
    description: Description = ""
    enabled: StrictBool = False
    rollout: Rollout = 100
    roles: Roles = Field(default_factory=list)
    users: Users = Field(default_factory=list)


class FlagPatch(Body):
    """The version read with the flag, and the fields to change (the others stay as they are)."""

    max_body_bytes: ClassVar[int] = FLAG_BODY_MAX_BYTES

    version: StrictInt = Field(ge=1, lt=2**31, description="the version read with the flag")
    description: Description | None = None
    enabled: StrictBool | None = None
    rollout: Rollout | None = None
    roles: Roles | None = None
    users: Users | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> FlagPatch:
        for name in CHANGEABLE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: give a value or leave the field out")
        return self

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in CHANGEABLE if name in self.model_fields_set}


class FlagModel(BaseModel):
    key: str
    description: str
    enabled: bool
    rollout: int
    roles: list[str]
    users: list[str]
    version: int = Field(description="send it back with a change: a stale version is refused (409)")
    updated_at: str
    updated_by: str


class FlagList(BaseModel):
    flags: list[FlagModel] = Field(description="by key")


class FlagCheck(BaseModel):
    key: str
    on: bool = Field(description="whether the flag is on for the caller (a flag that does not exist is off)")


class FlagDeleted(BaseModel):
    deleted: FlagModel


class FlagDeleteQuery(Query):
    version: whole_number(1, 2**31 - 1, "delete only at this version (409 if it changed)") | None = None  # type: ignore[valid-type]


# -- links -------------------------------------------------------------------------------
PagePath = Literal[tuple(PAGE_PERMISSIONS)]  # type: ignore[valid-type]


class LinkCreate(Body):
    max_body_bytes: ClassVar[int] = LINK_BODY_MAX_BYTES

    path: PagePath = Field(description="the page the link shows")  # type: ignore[valid-type]
    query: StrictStr = Field("", max_length=QUERY_MAX + 1, description="the view's URL query (with or without '?')")
    days: StrictInt = Field(ge=1, le=366, description="how long the link works (at most the server's limit)")
    label: StrictStr = Field("", max_length=LABEL_MAX, description="a name to tell links apart")


class LinkScope(BaseModel):
    portfolio_managers: list[str] | None
    desks: list[str] | None
    books: list[str] | None


class LinkModel(BaseModel):
    id: str
    maker: str
    label: str
    path: str
    query: str
    href: str = Field(description="the view the link shows")
    scope: LinkScope = Field(description="the rows the link shows: the maker's when it was made (null: all)")
    created_at: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None
    status: Literal["active", "expired", "revoked", "dead"] = Field(
        description="dead: its maker is disabled or removed, or may no longer see its rows")


class LinkCreated(BaseModel):
    url: str = Field(description="the link's address on this server; shown only now, keep it")
    link: LinkModel


class LinkList(BaseModel):
    links: list[LinkModel] = Field(description="newest first")


class LinkListQuery(Query):
    all: flag("1: everyone's links (needs admin.links)") = False  # type: ignore[valid-type]
