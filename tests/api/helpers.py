"""Shared values and assertions of the API tests."""
from __future__ import annotations

OPPORTUNITY = {"source": "展会", "customer_name": "杭州测试科技有限公司", "probability": 60,
               "summary": "采购办公软件", "contact": "钱经理", "contact_phone": "13800138001",
               "description": "有意向更换办公系统"}


def assert_error(response, status: int) -> dict:
    """Assert the response is the API's JSON error with `status`; return its error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    return error
