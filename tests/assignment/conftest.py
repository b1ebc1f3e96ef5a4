"""Shared fixtures for the team layer: a small organisation with two teams."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline_core.records import Role, Team, User

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def org() -> tuple[list[User], list[Team]]:
    """Team east (manager m1, reps a1 a2), team west (manager m2, rep b1), sub-team east-2 under
    east (rep c1), an admin, an analyst."""
    teams = [
        Team(id="east", name="East", manager_id="m1"),
        Team(id="east-2", name="East 2", parent_id="east"),
        Team(id="west", name="West", manager_id="m2"),
    ]
    users = [
        User(id="m1", name="Mia", role=Role.MANAGER, team_id="east"),
        User(id="a1", name="Ann", role=Role.AE, team_id="east", email="ann@corp.example"),
        User(id="a2", name="Al", role=Role.SDR, team_id="east"),
        User(id="c1", name="Cy", role=Role.AE, team_id="east-2"),
        User(id="m2", name="Max", role=Role.MANAGER, team_id="west"),
        User(id="b1", name="Bob", role=Role.AE, team_id="west"),
        User(id="root", name="Root", role=Role.ADMIN),
        User(id="ana", name="Ana", role=Role.ANALYST),
        User(id="gone", name="Gone", role=Role.AE, team_id="west", active=False),
    ]
    return users, teams
