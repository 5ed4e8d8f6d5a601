"""Every step a process history records reads as words, never as the code the services write."""
from __future__ import annotations

import re
from pathlib import Path

from bpm_crm.web import display

SERVICES = Path(__file__).resolve().parents[2] / "bpm_crm"


def recorded_actions() -> set[str]:
    """The actions the services and handlers write to a process's history."""
    found: set[str] = set()
    for path in [*SERVICES.glob("services/*.py"), *SERVICES.glob("handlers/*.py")]:
        text = path.read_text(encoding="utf-8")
        found.update(re.findall(r"instances\.record\(\s*[\w.]+,\s*\"([a-z_]+)\"", text))
        found.update(re.findall(r"ProcessEvent\([^)]*?action=\"([a-z_]+)\"", text, flags=re.S))
    return found


def test_every_recorded_action_has_a_label_and_an_icon():
    actions = recorded_actions()
    assert {"returned", "transferred", "added_signer", "withdrawn", "nudged", "comment"} <= actions
    missing = sorted(action for action in actions if action not in display.ACTIONS)
    assert missing == []
    assert sorted(action for action in actions if action not in display.ACTION_ICONS) == []


def test_labels_read_in_english(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        assert display.action_label("returned") == "Send back"
        assert display.action_label("approval_auto") == "Approved automatically"
