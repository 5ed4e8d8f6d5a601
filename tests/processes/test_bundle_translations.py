"""A process bundle carries its names in other languages: deployed and versioned with the diagram."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bpm_crm.engine.definitions import DefinitionInvalid
from bpm_crm.services import definitions

BUNDLES = Path(__file__).resolve().parent / "bundles"
PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def test_the_shipped_bundle_is_deployed_with_its_english_names(app):
    latest = definitions.latest_definition("opportunity")
    version = definitions.version(latest.id)
    assert version.text("指派销售机会", "en") == "Assign the opportunity"
    assert version.text(latest.name, "en") == "Opportunity assignment and development"
    assert version.text("指派销售机会", "zh_CN") == "指派销售机会"  # the deployed language needs none
    shipped = json.loads((PROCESSES / "translations" / "opportunity.en.json").read_text())
    for form in latest.forms.values():  # every text the forms show has its English
        texts = {component.get(key) for component in _components(form) for key in ("label", "description")}
        assert texts - {None} <= set(shipped), form["id"]


def _components(form: dict) -> list[dict]:
    found = []
    for component in form.get("components", []):
        found.append(component)
        found.extend(_components(component))
    return found


def test_a_changed_translation_is_a_new_version_and_running_ones_keep_theirs(app, tmp_path):
    folder = tmp_path / "review"
    shutil.copytree(BUNDLES / "review", folder)
    (folder / "translations").mkdir()
    (folder / "translations" / "customer_review.en.json").write_text(json.dumps({"评估客户": "Rate the customer"}))
    [(first, created)] = definitions.deploy_directory(folder)
    assert created and first.translations == {"en": {"评估客户": "Rate the customer"}}
    assert definitions.deploy_directory(folder)[0][1] is False  # unchanged: no new version

    (folder / "translations" / "customer_review.en.json").write_text(json.dumps({"评估客户": "Assess the customer"}))
    [(second, created)] = definitions.deploy_directory(folder)
    assert created and second.version == first.version + 1
    assert definitions.version(first.id).text("评估客户", "en") == "Rate the customer"
    assert definitions.version(second.id).text("评估客户", "en") == "Assess the customer"


def test_a_bundle_without_translations_keeps_its_fingerprint():
    assert definitions.bundle_hash("<x/>", {}) == definitions.bundle_hash("<x/>", {}, {})


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("customer_review.en.json", "[1, 2]", "a translation must be a JSON object of texts"),
    ("customer_review.en.json", "{\"评估客户\": 3}", "a translation must be a JSON object of texts"),
    ("customer_review.en.json", "{not json", "not valid JSON"),
    ("review-english.json", "{}", "named <process id>.<locale>.json"),
])
def test_a_broken_translation_file_is_refused_by_name(app, tmp_path, name, content, problem):
    folder = tmp_path / "review"
    shutil.copytree(BUNDLES / "review", folder)
    (folder / "translations").mkdir()
    (folder / "translations" / name).write_text(content)
    with pytest.raises(DefinitionInvalid) as refused:
        definitions.deploy_directory(folder)
    assert any(name in str(p) and problem in str(p) for p in refused.value.problems)
