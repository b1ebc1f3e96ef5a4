"""Access policies: roles (rep, manager, admin, read-only analyst) and scopes (own, team, all).

An :class:`AccessPolicy` (config as data) gives each :class:`AccessRole` a :class:`Grant`: the
scope it may read, the scope it may write, whether it may export, and whether contact details are
masked for it. People's :class:`~pipeline_core.records.Role` map to access roles (SDR, AE, SE, AM,
PM, ops → rep; manager → manager; admin → admin; analyst → analyst); an inactive user gets nothing.

Scopes are decided on the *owner* of a record (and an opportunity's ``team_id``):

- ``own``: the actor owns it;
- ``team``: the owner is in one of the actor's teams: their own team, the teams they manage, and
  every team below those (``Team.parent_id``); an opportunity's ``team_id`` counts too;
- ``all``: everything; ``none``: nothing.

Records in the public pool (owner = ``pool_owner``) may be read (not written) by every role that
can read at all, so that reps can claim from it (see :mod:`pipeline_core.assignment.pool`).

The decisions here are pure; :class:`pipeline_core.access.store.ScopedStore` enforces them on
every read, query, export and write of a store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar, cast

import attrs
from pydantic import Field

from pipeline_core._definition import (
    Definition,
    definition,
    from_plain,
    plain,
    raise_problems,
    to_plain,
)
from pipeline_core._model import Record
from pipeline_core._plain_form import check_fields
from pipeline_core._values import FrozenDict
from pipeline_core.access.masking import mask_record
from pipeline_core.records import Role, Team, User

__all__ = [
    "AccessDecision",
    "AccessPolicy",
    "AccessRole",
    "Action",
    "Directory",
    "Grant",
    "Scope",
]

Action = Literal["read", "write", "export"]
"""What an access decision is about."""

_R = TypeVar("_R", bound=Record)


class AccessRole(StrEnum):
    """What a person may do, as far as records are concerned."""

    REP = "rep"
    """Works their own records (SDR, AE, SE, AM, PM, ops)."""
    MANAGER = "manager"
    """Works the records of their teams and the teams below them."""
    ADMIN = "admin"
    """Works every record."""
    ANALYST = "analyst"
    """Reads every record, contact details masked; writes nothing."""


class Scope(StrEnum):
    """Which records a grant covers."""

    NONE = "none"
    """No record."""
    OWN = "own"
    """Records the actor owns."""
    TEAM = "team"
    """Records owned in the actor's teams (own, managed, and every team below those)."""
    ALL = "all"
    """Every record."""


_FLAG = plain(schema=Annotated[bool, Field(strict=True)], dump="always")


@definition("Grant")
@attrs.frozen
class Grant(Definition):
    """What one access role may do: the scope it reads, the scope it writes, whether it may export
    (and import in bulk), whether contact details are masked for it."""

    read: Scope
    write: Scope
    export: bool = attrs.field(default=False, metadata=_FLAG)
    mask_contacts: bool = attrs.field(default=False, metadata=_FLAG)

    def __attrs_post_init__(self) -> None:
        raise_problems("Grant", self, (check_fields,))


@attrs.frozen
class AccessDecision:
    """Allowed or not, and why (``"rep u7 may read own records; owner is u3"``)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@attrs.frozen
class Directory:
    """Who is in which team: the users and teams access decisions look up."""

    users: Mapping[str, User]
    teams: Mapping[str, Team]
    _children: Mapping[str, tuple[str, ...]] = attrs.field(init=False, eq=False, repr=False)
    _scope_of: Callable[[str, str | None], frozenset[str]] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        children: dict[str, list[str]] = {}
        for t in self.teams.values():
            if t.parent_id is not None:
                children.setdefault(t.parent_id, []).append(t.id)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})
        # one memo per directory: an actor's scope is asked for on every decision
        object.__setattr__(self, "_scope_of", functools.cache(self._teams_below))

    @classmethod
    def of(cls, users: Iterable[User], teams: Iterable[Team]) -> Directory:
        """Build from records."""
        return cls({u.id: u for u in users}, {t.id: t for t in teams})

    def team_of(self, user_id: str | None) -> str | None:
        """The team of a user (``None`` if unknown or teamless)."""
        if user_id is None:
            return None
        user = self.users.get(user_id)
        return None if user is None else user.team_id

    def teams_in_scope(self, actor: User) -> frozenset[str]:
        """The actor's team, the teams they manage, and all teams below them."""
        return self._scope_of(actor.id, actor.team_id)

    def _teams_below(self, actor_id: str, team_id: str | None) -> frozenset[str]:
        roots = {t.id for t in self.teams.values() if t.manager_id == actor_id}
        if team_id is not None:
            roots.add(team_id)
        out: set[str] = set()
        stack = sorted(roots)
        while stack:
            tid = stack.pop()
            if tid in out:
                continue
            out.add(tid)
            stack.extend(self._children.get(tid, ()))
        return frozenset(out)


_DEFAULT_ROLES: dict[Role, AccessRole] = {
    Role.SDR: AccessRole.REP,
    Role.AE: AccessRole.REP,
    Role.SE: AccessRole.REP,
    Role.AM: AccessRole.REP,
    Role.PM: AccessRole.REP,
    Role.OPS: AccessRole.REP,
    Role.MANAGER: AccessRole.MANAGER,
    Role.ADMIN: AccessRole.ADMIN,
    Role.ANALYST: AccessRole.ANALYST,
}

_DEFAULT_GRANTS: dict[AccessRole, Grant] = {
    AccessRole.REP: Grant(read=Scope.OWN, write=Scope.OWN),
    AccessRole.MANAGER: Grant(read=Scope.TEAM, write=Scope.TEAM, export=True),
    AccessRole.ADMIN: Grant(read=Scope.ALL, write=Scope.ALL, export=True),
    AccessRole.ANALYST: Grant(read=Scope.ALL, write=Scope.NONE, export=True, mask_contacts=True),
}


_ALWAYS = plain(dump="always")


def _frozen_grants(mapping: Mapping[AccessRole, Grant]) -> Mapping[AccessRole, Grant]:
    # An immutable, hashable copy (the policy is a frozen value).
    return cast(Mapping[AccessRole, Grant], FrozenDict(cast(Mapping[str, Any], mapping)))


def _frozen_roles(mapping: Mapping[Role, AccessRole]) -> Mapping[Role, AccessRole]:
    return cast(Mapping[Role, AccessRole], FrozenDict(cast(Mapping[str, Any], mapping)))


@definition("AccessPolicy")
@attrs.frozen
class AccessPolicy(Definition):
    """Grants per access role and the mapping of people's roles to access roles.

    :meth:`default` is rep: own/own; manager: team/team + export; admin: all/all + export;
    analyst: read all, write nothing, export, contact details masked. ``to_dict`` and
    ``json_schema`` are derived (:mod:`pipeline_core._definition`).
    """

    grants: Mapping[AccessRole, Grant] = attrs.field(
        factory=lambda: _frozen_grants(_DEFAULT_GRANTS),
        converter=_frozen_grants,
        metadata=_ALWAYS,
    )
    roles: Mapping[Role, AccessRole] = attrs.field(
        factory=lambda: _frozen_roles(_DEFAULT_ROLES), converter=_frozen_roles, metadata=_ALWAYS
    )
    pool_owner: str | None = attrs.field(default="public-pool", metadata=_ALWAYS)

    @classmethod
    def default(cls) -> AccessPolicy:
        """The default policy (see the class doc)."""
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessPolicy:
        """Validate plain data; unspecified grants and roles keep their defaults.

        Raises :class:`~pipeline_core.errors.ConfigError` listing every problem.
        """
        if isinstance(data, Mapping):
            data = dict(data)
            defaults = to_plain(cls())
            for key in ("grants", "roles"):
                given = data.get(key)
                if isinstance(given, Mapping):
                    data[key] = {**defaults[key], **given}
        return from_plain(cls, data)

    # -- decisions ----------------------------------------------------------------------------

    def role_of(self, actor: User) -> AccessRole | None:
        """The actor's access role; ``None`` for an inactive user (who may do nothing)."""
        if not actor.active:
            return None
        return self.roles.get(actor.role)

    def grant_of(self, actor: User) -> Grant:
        """The actor's grant (nothing at all for inactive or unmapped users)."""
        role = self.role_of(actor)
        if role is None:
            return Grant(read=Scope.NONE, write=Scope.NONE)
        return self.grants.get(role, Grant(read=Scope.NONE, write=Scope.NONE))

    def masks(self, actor: User) -> bool:
        """Whether contact details are masked for this actor."""
        return self.grant_of(actor).mask_contacts

    def decide(
        self,
        actor: User,
        action: Action,
        owner_id: str | None,
        directory: Directory,
        *,
        team_id: str | None = None,
    ) -> AccessDecision:
        """May ``actor`` do ``action`` on a record owned by ``owner_id`` (of team ``team_id``)?"""
        grant = self.grant_of(actor)
        role = self.role_of(actor)
        who = f"{role.value if role else 'inactive user'} {actor.id}"
        if action == "export" and not grant.export:
            return AccessDecision(False, f"{who} may not export")
        scope = grant.write if action == "write" else grant.read
        if (
            action != "write"
            and scope is not Scope.NONE
            and self.pool_owner is not None
            and owner_id == self.pool_owner
        ):
            return AccessDecision(True, f"{who} may read the public pool")
        allowed = _in_scope(scope, actor, owner_id, team_id, directory)
        verb = "may" if allowed else "may not"
        return AccessDecision(
            allowed, f"{who} {verb} {action} ({scope.value} scope); owner is {owner_id}"
        )

    def can(
        self,
        actor: User,
        action: Action,
        record: Record,
        directory: Directory,
    ) -> AccessDecision:
        """:meth:`decide` for a record that has an owner (lead, opportunity, account, activity,
        SLA outcome). Records without an owner of their own (contacts, stage events, journal
        entries) are decided through their parent by
        :class:`~pipeline_core.access.store.ScopedStore`; here they need ``all`` scope."""
        owner = getattr(record, "owner_id", None)
        team = getattr(record, "team_id", None)
        if not hasattr(record, "owner_id"):
            grant = self.grant_of(actor)
            scope = grant.write if action == "write" else grant.read
            ok = scope is Scope.ALL and (action != "export" or grant.export)
            return AccessDecision(ok, f"{type(record).__name__} without an owner needs all scope")
        return self.decide(
            actor, action, owner, directory, team_id=team if isinstance(team, str) else None
        )

    def mask(self, record: _R, known: Iterable[str] = ()) -> _R:
        """``record`` masked for a viewer whose grant masks contact details
        (:func:`pipeline_core.access.masking.mask_record`)."""
        return mask_record(record, known)

    def view(self, actor: User, record: _R) -> _R:
        """The record as ``actor`` sees it (masked for analysts)."""
        return self.mask(record) if self.masks(actor) else record


def _in_scope(
    scope: Scope, actor: User, owner_id: str | None, team_id: str | None, directory: Directory
) -> bool:
    if scope is Scope.ALL:
        return True
    if scope is Scope.NONE:
        return False
    if owner_id is not None and owner_id == actor.id:
        return True
    if scope is Scope.OWN:
        return False
    teams = directory.teams_in_scope(actor)
    owner_team = directory.team_of(owner_id)
    return (owner_team is not None and owner_team in teams) or (
        team_id is not None and team_id in teams
    )
