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

The decisions here are pure; :class:`pipeline_core.assignment.scoped.ScopedStore` enforces them on
every read, query, export and write of a store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar, cast

import attrs
from pydantic import Field

from pipeline_core._model import FrozenDict, Record, deep_freeze
from pipeline_core._optional import require
from pipeline_core.assignment._config import Strict, validate_model
from pipeline_core.records import (
    Account,
    Activity,
    Contact,
    JournalEntry,
    Lead,
    NextStep,
    Opportunity,
    Role,
    StageEvent,
    Team,
    User,
)

__all__ = [
    "FREE_TEXT_FIELDS",
    "MASK_PHONE_REGIONS",
    "PERSONAL_FIELDS",
    "AccessDecision",
    "AccessPolicy",
    "AccessRole",
    "Action",
    "Directory",
    "Grant",
    "Scope",
    "mask_email",
    "mask_known",
    "mask_name",
    "mask_phone",
    "mask_text",
]

Action = Literal["read", "write", "export"]

_R = TypeVar("_R", bound=Record)


class AccessRole(StrEnum):
    """What a person may do, as far as records are concerned."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"
    ANALYST = "analyst"


class Scope(StrEnum):
    """Which records a grant covers."""

    NONE = "none"
    OWN = "own"
    TEAM = "team"
    ALL = "all"


@attrs.frozen
class Grant:
    """What one access role may do."""

    read: Scope
    write: Scope
    export: bool = False
    mask_contacts: bool = False


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
    _scopes: dict[str, frozenset[str]] = attrs.field(factory=dict, eq=False, repr=False)

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
        key = f"{actor.id}\x00{actor.team_id}"
        cached = self._scopes.get(key)
        if cached is not None:
            return cached
        roots = {t.id for t in self.teams.values() if t.manager_id == actor.id}
        if actor.team_id is not None:
            roots.add(actor.team_id)
        children: dict[str, list[str]] = {}
        for t in self.teams.values():
            if t.parent_id is not None:
                children.setdefault(t.parent_id, []).append(t.id)
        out: set[str] = set()
        stack = sorted(roots)
        while stack:
            tid = stack.pop()
            if tid in out:
                continue
            out.add(tid)
            stack.extend(children.get(tid, ()))
        result = self._scopes[key] = frozenset(out)
        return result


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


class _GrantModel(Strict):
    read: Scope
    write: Scope
    export: Annotated[bool, Field(strict=True)] = False
    mask_contacts: Annotated[bool, Field(strict=True)] = False


class _PolicyModel(Strict):
    grants: dict[AccessRole, _GrantModel] = Field(default_factory=dict)
    roles: dict[Role, AccessRole] = Field(default_factory=dict)
    pool_owner: str | None = "public-pool"


def _frozen_grants(mapping: Mapping[AccessRole, Grant]) -> Mapping[AccessRole, Grant]:
    # An immutable, hashable copy (the policy is a frozen value).
    return cast(Mapping[AccessRole, Grant], FrozenDict(cast(Mapping[str, Any], mapping)))


def _frozen_roles(mapping: Mapping[Role, AccessRole]) -> Mapping[Role, AccessRole]:
    return cast(Mapping[Role, AccessRole], FrozenDict(cast(Mapping[str, Any], mapping)))


def _keep(value: str, head: int, tail: int) -> str:
    # Show at most `head` leading and `tail` trailing characters, never more than a third of the
    # value and always with at least 3 characters hidden: shrink the shown parts (tail first).
    n = len(value)
    while head + tail > 0 and (3 * (head + tail) > n or n - head - tail < 3):
        if tail > 0:
            tail -= 1
        else:
            head -= 1
    hidden = max(3, n - head - tail)
    return value[:head] + "*" * hidden + (value[n - tail :] if tail else "")


def mask_phone(phone: str) -> str:
    """Hide a phone number but its last digits: at most 4 and at most a third of it is shown.

    ``"13800138000"`` → ``"********000"`` (3 of 11 shown); ``"12345"`` → ``"****5"`` (a mask
    never leaves most of a value visible, whatever its length).
    """
    return _keep(phone, 0, 4)


def mask_email(email: str) -> str:
    """Hide an e-mail address: the first character of the local part and the top-level domain are
    kept only while they are at most a third of the address.

    ``"zhang.wei@example.com"`` → ``"z***@***.com"``; ``"joe@acme.example"`` → ``"***@***"``.
    """
    local, at, domain = email.rpartition("@")
    if not at:
        return _keep(email, 0, 0)
    tld = domain.rpartition(".")[2] if "." in domain else ""
    head = 1 if len(local) >= 4 else 0
    shown = head + (len(tld) + 1 if tld else 0)
    if 3 * shown > len(email):
        tld = ""
        shown = head
    if 3 * shown > len(email):
        head = 0
    return f"{local[:head]}***@***" + (f".{tld}" if tld else "")


def mask_name(name: str) -> str:
    """Hide a person's name but its first character when that is at most a third of it.

    ``"张伟"`` → ``"***"``; ``"欧阳娜娜"`` → ``"欧***"``; ``"Joe"`` → ``"***"`` (never more
    than a third shown, at least three characters hidden).
    """
    return _keep(name, 1, 0)


# "@" as typed by Chinese input methods too: full-width "＠" (U+FF20) and small "﹫" (U+FE6B).
_AT_SIGNS = "@\uff20\ufe6b"
_NOT_IN_EMAIL = rf"[^\s{_AT_SIGNS}<>()\[\],;:\"'，。；：、（）]+"
_EMAIL_IN_TEXT = re.compile(rf"{_NOT_IN_EMAIL}[{_AT_SIGNS}]{_NOT_IN_EMAIL}\.{_NOT_IN_EMAIL}")
# Digits (any script's, full-width included) with at most one separator between two of them:
# spaces, brackets, dots, hyphens and dashes, underscores, slashes, tildes, commas and the
# full-width and ideographic forms of these.
_DIGIT_RUN = re.compile(
    r"\+?\d(?:[\s().\-_,/~\u2010-\u2015\u2212\uff0c\uff0d\uff0e\uff3f\u3001\u3002]?\d){6,}"
)

MASK_PHONE_REGIONS: tuple[str, ...] = ("CN", "US")
"""Regions whose national phone formats :func:`mask_text` recognises (besides ``+`` numbers)."""


def mask_text(text: str, regions: tuple[str, ...] = MASK_PHONE_REGIONS) -> str:
    """Free text with every e-mail address and phone number in it masked.

    E-mail addresses (with ``@`` or the full-width ``＠``/``﹫`` of Chinese input methods) are
    found by a pattern and masked by :func:`mask_email`; phone numbers by
    ``phonenumbers``' ``PhoneNumberMatcher`` (leniency ``POSSIBLE``, national formats of
    ``regions``) and, as a safety net, any run of 7 or more digits of any script (with one space,
    dot, dash, bracket, underscore, slash, tilde or comma, ASCII, full-width or ideographic,
    between two of them), masked by :func:`mask_phone`. Without ``phonenumbers`` (extra ``team``)
    the digit-run rule alone applies. Long numbers that are not phones (an amount such as
    ``2000000``) are masked too: for a masked viewer, over-masking is the safe side.
    """
    if not text:
        return text
    spans: list[tuple[int, int]] = [m.span() for m in _EMAIL_IN_TEXT.finditer(text)]
    try:
        require("phonenumbers", "team")
        import phonenumbers
    except ImportError:  # pragma: no cover - the digit-run rule still masks numbers
        pass
    else:
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            ):
                spans.append((match.start, match.end))
    spans.extend(m.span() for m in _DIGIT_RUN.finditer(text))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        piece = text[start:end]
        out.append(text[pos:start])
        at = next((c for c in _AT_SIGNS if c in piece), None)
        out.append(mask_email(piece.replace(at, "@")) if at else mask_phone(piece))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_known(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of the given personal values (the names and WeChat ids of
    the records it is about) masked by :func:`mask_name`, longest first. Values shorter than two
    characters are left alone (they would mask ordinary words)."""
    for value in sorted({v for v in values if len(v) >= 2}, key=lambda v: (-len(v), v)):
        if value in text:
            text = text.replace(value, mask_name(value))
    return text


def _mask_free(value: Any, known: tuple[str, ...] = ()) -> Any:
    # Phones and e-mails inside free text, and the known personal values, in strings, tuples,
    # mappings and nested records.
    if isinstance(value, str):
        return mask_known(mask_text(value), known)
    if isinstance(value, tuple):
        return tuple(_mask_free(v, known) for v in value)
    if isinstance(value, list):
        return [_mask_free(v, known) for v in value]
    if isinstance(value, Mapping):
        # keys too: a spreadsheet import may turn a phone or an e-mail into a field name
        return deep_freeze({_mask_free(k, known): _mask_free(v, known) for k, v in value.items()})
    if isinstance(value, NextStep):
        action = mask_known(mask_text(value.action), known)
        return NextStep._trusted({"action": action, "due_at": value.due_at})
    return value


PERSONAL_FIELDS: dict[type[Record], dict[str, Callable[[str], str]]] = {
    Lead: {"contact_name": mask_name, "phone": mask_phone, "email": mask_email},
    Contact: {"name": mask_name, "phone": mask_phone, "email": mask_email, "wechat": mask_name},
    User: {"email": mask_email},
}
"""Personal fields masked for viewers whose grant masks contact details, and how."""

FREE_TEXT_FIELDS: dict[type[Record], tuple[str, ...]] = {
    Lead: ("company", "needs", "pain_points", "next_step", "disqualified_reason", "custom"),
    Opportunity: ("name", "needs", "next_step", "lost_reason", "won_reason", "custom"),
    Account: ("name", "custom"),
    Contact: ("title", "custom"),
    Activity: ("notes", "next_action"),
    StageEvent: ("reason",),
    JournalEntry: ("reason", "payload"),
}
"""Free-text fields (and custom fields, names and values) in which phones and e-mails are
masked by :func:`mask_text` for viewers whose grant masks contact details. Deal and customer
names count as free text: reps type B2C customers' phones into them."""


@attrs.frozen
class AccessPolicy:
    """Grants per access role and the mapping of people's roles to access roles.

    :meth:`default` is rep: own/own; manager: team/team + export; admin: all/all + export;
    analyst: read all, write nothing, export, contact details masked.
    """

    grants: Mapping[AccessRole, Grant] = attrs.field(
        factory=lambda: _frozen_grants(_DEFAULT_GRANTS), converter=_frozen_grants
    )
    roles: Mapping[Role, AccessRole] = attrs.field(
        factory=lambda: _frozen_roles(_DEFAULT_ROLES), converter=_frozen_roles
    )
    pool_owner: str | None = "public-pool"

    @classmethod
    def default(cls) -> AccessPolicy:
        """The default policy (see the class doc)."""
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessPolicy:
        """Validate plain data; unspecified grants and roles keep their defaults.

        Raises :class:`~pipeline_core.errors.ConfigError` listing every problem.
        """
        model = validate_model(_PolicyModel, data, "AccessPolicy")
        grants = dict(_DEFAULT_GRANTS)
        grants.update({k: Grant(**v.model_dump()) for k, v in model.grants.items()})
        roles = dict(_DEFAULT_ROLES)
        roles.update(model.roles)
        return cls(grants=grants, roles=roles, pool_owner=model.pool_owner)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal policy."""
        return {
            "grants": {
                k.value: {
                    "read": g.read.value,
                    "write": g.write.value,
                    "export": g.export,
                    "mask_contacts": g.mask_contacts,
                }
                for k, g in sorted(self.grants.items())
            },
            "roles": {k.value: v.value for k, v in sorted(self.roles.items())},
            "pool_owner": self.pool_owner,
        }

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of :meth:`from_dict`'s input."""
        return _PolicyModel.model_json_schema()

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
        entries) are decided through their parent by :class:`~pipeline_core.assignment.scoped.
        ScopedStore`; here they need ``all`` scope."""
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
        """A copy with every personal field masked (:data:`PERSONAL_FIELDS`: lead and contact
        names, phones, e-mails, WeChat ids, user e-mails) and, inside free text
        (:data:`FREE_TEXT_FIELDS`), the phones and e-mails (:func:`mask_text`) and the record's
        own personal values plus ``known`` ones (the names and WeChat ids of related records,
        :func:`mask_known`) masked, at the same version."""
        changes: dict[str, Any] = {}
        names = set(known)
        for name, how in PERSONAL_FIELDS.get(type(record), {}).items():
            value = getattr(record, name)
            if isinstance(value, str):
                changes[name] = how(value)
                names.add(value)
        known_values = tuple(sorted(names))
        for name in FREE_TEXT_FIELDS.get(type(record), ()):
            value = getattr(record, name)
            masked = _mask_free(value, known_values)
            if masked != value:
                changes[name] = masked
        if not changes:
            return record
        data = {name: getattr(record, name) for name, _ in record.__pc_fields__}
        data.update(changes)
        return type(record)._trusted(data)

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
