"""The OpenAPI request bodies of the records are their field rules: the document cannot drift from the checks."""
from __future__ import annotations

import json

import pytest

from bpm_crm.api import customers as customer_api
from bpm_crm.api import quotes as quote_api
from bpm_crm.api import service_requests as service_api
from bpm_crm.forms.care import CARE_DONE, CARE_TASK
from bpm_crm.forms.churn import CHURN_WARNING, CONFIRMATION, MEASURE
from bpm_crm.forms.contact import CONTACT
from bpm_crm.forms.customer import CUSTOMER
from bpm_crm.forms.interaction import INTERACTION
from bpm_crm.forms.json_schema import json_schema
from bpm_crm.forms.opportunity import OPPORTUNITY
from bpm_crm.forms.quote import QUOTE, QUOTE_LINE
from bpm_crm.forms.service_request import SERVICE_REQUEST

EXPECTED = {
    "ContactInput": json_schema(CONTACT),
    "ContactPatch": json_schema(CONTACT, partial=True),
    "InteractionInput": json_schema(INTERACTION),
    "InteractionPatch": json_schema(INTERACTION, partial=True),
    "CustomerInput": json_schema(CUSTOMER, options=customer_api.OPTIONS, read_only=["status"],
                                 extra=customer_api.OWNER),
    "CustomerPatch": json_schema(CUSTOMER, partial=True, options=customer_api.OPTIONS,
                                 read_only=["level", "status"], description=customer_api.PATCH),
    "OpportunityInput": json_schema(OPPORTUNITY),
    "OpportunityPatch": json_schema(OPPORTUNITY, partial=True),
    "CareTaskInput": json_schema(CARE_TASK),
    "CareTaskPatch": json_schema(CARE_TASK, partial=True),
    "CareTaskDone": json_schema(CARE_DONE),
    "ChurnWarningInput": json_schema(CHURN_WARNING),
    "ChurnMeasureInput": json_schema(MEASURE),
    "ChurnConfirmation": json_schema(CONFIRMATION),
    "ServiceRequestInput": json_schema(SERVICE_REQUEST, extra=service_api.ANSWER),
    "ServiceRequestPatch": json_schema(SERVICE_REQUEST, partial=True),
    "QuoteInput": json_schema(QUOTE, extra=quote_api.LINES),
    "QuotePatch": json_schema(QUOTE, partial=True),
    "QuoteLineInput": json_schema(QUOTE_LINE, description="product_id or product_name is required"),
    "QuoteLinePatch": json_schema(QUOTE_LINE, partial=True),
}


@pytest.fixture
def backend() -> str:
    """The document does not depend on the database."""
    return "sqlite"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_documented_request_body_is_the_records_rules(client, name):
    document = client.get("/api/v1/openapi.json").json
    assert document["components"]["schemas"][name] == json.loads(json.dumps(EXPECTED[name]))


def test_a_rule_shows_in_the_document_as_a_json_schema_constraint(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    contact = schemas["ContactInput"]
    assert contact["required"] == ["customer_id", "name", "gender", "position", "office_phone"]
    assert contact["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 60}
    assert contact["properties"]["gender"] == {"enum": ["男", "女"]}
    assert contact["properties"]["mobile"]["oneOf"][0]["pattern"] == CONTACT["mobile"].pattern
    assert schemas["OpportunityInput"]["properties"]["probability"] == {"type": "integer", "minimum": 0,
                                                                        "maximum": 100}
    assert schemas["CustomerInput"]["properties"]["status"]["oneOf"][0]["enum"] == ["正常", "已流失"]
    assert schemas["ContactPatch"]["required"] == [] and schemas["ContactPatch"]["additionalProperties"] is False
