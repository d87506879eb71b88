"""The nightly schedule's cron is read in an explicit time zone from params.yaml."""

from __future__ import annotations

import pydantic
import pytest

from palsyflow.config import Params


def test_schedule_defaults_to_utc_and_takes_an_iana_zone():
    assert Params().schedule.timezone == "UTC"
    assert Params.model_validate({"schedule": {"timezone": "Europe/Berlin"}}).schedule.timezone == "Europe/Berlin"


def test_an_unknown_time_zone_is_refused_with_its_name():
    with pytest.raises(pydantic.ValidationError, match="Mars/Olympus"):
        Params.model_validate({"schedule": {"timezone": "Mars/Olympus"}})

