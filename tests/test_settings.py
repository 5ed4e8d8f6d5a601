"""Settings are checked when the application starts: a wrong value stops it with a message naming the variable."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bpm_crm import cli, create_app
from bpm_crm.config import Config, SettingInvalid, TestConfig


def app_with(**settings):
    return create_app(type("Checked", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": "sqlite://", **settings}))


@pytest.mark.parametrize(("settings", "variable", "problem"), [
    ({"WORKING_HOURS": "9-18"}, "BPM_CRM_WORKING_HOURS='9-18'", "is not a span like 09:00-12:00"),
    ({"WORKING_HOURS": "09:00-12:00,11:00-18:00"}, "BPM_CRM_WORKING_HOURS", "working spans overlap"),
    ({"SERVICE_SLA": "投诉=40/4"}, "BPM_CRM_SERVICE_SLA='投诉=40/4'", "0 < response hours <= completion hours"),
    ({"SERVICE_SLA": "投诉=4h/40h"}, "BPM_CRM_SERVICE_SLA", "'投诉=4h/40h' should read type=response hours/"),
    ({"ESCALATION_MODE": "fire"}, "BPM_CRM_ESCALATION_MODE='fire'", "must be 'watch' or 'reassign'"),
])
def test_a_wrong_setting_stops_the_start_naming_its_variable(settings, variable, problem):
    with pytest.raises(SettingInvalid) as refused:
        app_with(**settings)
    assert variable in str(refused.value) and problem in str(refused.value)


def test_good_settings_start_and_are_what_the_services_count_with():
    app = app_with(WORKING_HOURS="08:30-12:00,13:30-17:30", SERVICE_SLA="投诉=2/16,咨询=1/4")
    with app.app_context():
        from bpm_crm.handlers.calendar import working_hours
        from bpm_crm.services.service_levels import target_for

        assert working_hours().seconds_per_day == 7.5 * 3600
        assert (target_for("投诉").response_hours, target_for("咨询").resolution_hours) == (2, 4)


def test_the_command_line_says_which_setting_is_wrong(monkeypatch):
    monkeypatch.setattr(Config, "SERVICE_SLA", "投诉=0/40")
    result = CliRunner().invoke(cli.main, ["deploy"])
    assert result.exit_code == 1
    assert "Error: BPM_CRM_SERVICE_SLA='投诉=0/40' cannot be used" in result.output
