"""决策表 grid page: the process owner sees the quote thresholds, saves a change as a new version, gets every
kind of problem listed without anything saved, cannot overwrite someone else's newer version; others may not."""
from __future__ import annotations

import re

import pytest

from bpm_crm.services import decision_tables, definitions
from bpm_crm.services.demo import DEMO_PASSWORD
from tests.services.test_decision_tables import SHIPPED

from .helpers import page_text

GRID = "/processes/quote_approval/decisions/quote_levels"


def form(rows: list[tuple[list[str], list[str]]], version: int) -> dict[str, object]:
    """The grid's fields as the browser posts them: one list per column, in row order."""
    return {"version": str(version),
            "cell-0": [cells[0] if cells else "" for cells, _outputs in rows],
            "cell-1": [cells[1] if len(cells) > 1 else "" for cells, _outputs in rows],
            "output-0": [outputs[0] for _cells, outputs in rows]}


def version() -> int:
    return definitions.latest_definition("quote_approval").version


def test_the_owner_sees_the_grid_with_its_version_and_help(login):
    page = page_text(login("owner").get(GRID))
    assert 'id="decision-grid"' in page and "报价金额（元）" in page and "最大折扣（%）" in page
    assert page.split('id="decision-row-template"')[0].count("data-rule>") == len(SHIPPED)
    assert 'value="50000 &lt;= ? &lt; 200000"' in page and 'value="? &lt; 50000"' in page
    assert '<option value="supervisor,director" selected>' in page  # outputs as a select of the allowed values
    assert f"v{version()}" in page and 'id="grid-deployed"' in page
    assert "填写说明" in page and "不能遗漏，也不能重叠" in page
    assert 'id="decision-row-template"' in page and "decision_grid.js" in page
    assert 'name="csrf_token"' in page and f'name="version" value="{version()}"' in page
    listing = page_text(login("owner").get("/processes/decisions"))
    assert GRID in listing and "报价审批级别" in listing
    assert 'id="nav-decisions-index"' in listing


def test_saving_a_change_deploys_a_new_version(login, users):
    owner = login("owner")
    before = version()
    raised = [(["? < 100000", "? <= 20"], ["supervisor"]), (["? < 100000", "? > 20"], ["supervisor,director"]),
              (["100000 <= ? < 200000", "-"], ["supervisor,director"]), SHIPPED[3]]
    saved = owner.post(GRID, data=form(raised, before))
    assert saved.status_code == 302 and saved.headers["Location"].endswith(GRID)
    assert version() == before + 1
    assert decision_tables.grid("quote_approval", "quote_levels").rows == raised
    assert definitions.latest_definition("quote_approval").deployed_by_id == users["owner"].id
    page = page_text(owner.get(GRID))
    assert f"v{before + 1}" in page and "已保存为版本" in page and users["owner"].full_name in page
    unchanged = owner.post(GRID, data=form(raised, before + 1), follow_redirects=True)
    assert "没有改动" in page_text(unchanged) and version() == before + 1


@pytest.mark.parametrize(("rows", "said"), [
    ([(["? < 50000", "-"], ["supervisor"]), (["? <= 50000", "-"], ["supervisor,director"]),
      (["? > 50000", "-"], ["supervisor,director,executive"])], "第 1 行与第 2 行重叠"),
    ([(["? < 50000", "-"], ["supervisor"]), (["? > 50000", "-"], ["supervisor,director"])], "没有任何一行覆盖"),
    ([(["-", "-"], ["总监"])], "不是可选的结果"),
    ([(["五万以下", "-"], ["supervisor"])], "无法识别“五万以下”"),
    ([(["-", "-"], [""])], "第 1 行“审批级别”"),  # no result chosen
    ([(["-", "x" * 81], ["supervisor"])], "每格最多"),
    ([], "至少需要一行"),
])
def test_each_problem_is_listed_and_nothing_is_saved(login, rows, said):
    before = version()
    response = login("owner").post(GRID, data=form(rows, before))
    page = page_text(response)
    assert response.status_code == 422
    problems = re.findall(r"<li data-grid-problem>(.*?)</li>", page)
    assert any(said in problem for problem in problems), problems
    assert version() == before and decision_tables.grid("quote_approval", "quote_levels").rows == SHIPPED
    for cells, _outputs in rows:  # what the owner typed comes back for him to correct
        assert all(f'value="{cell}"' in page for cell in cells if cell and "<" not in cell and ">" not in cell)


def test_rows_of_different_lengths_are_refused(login):
    before = version()
    data = {**form(SHIPPED, before), "cell-1": ["-"]}
    response = login("owner").post(GRID, data=data)
    assert response.status_code == 422 and "每行的格数须相同" in page_text(response)
    assert version() == before


def test_problems_read_in_english(login):
    owner = login("owner")
    assert owner.post("/language", data={"locale": "en"}).status_code == 302
    page = page_text(owner.post(GRID, data=form([(["? < 50000", "-"], ["supervisor"]),
                                                 (["? > 50000", "-"], ["supervisor,director"])], version())))
    assert "How to fill it in" in page and "Save as a new version" in page
    assert "没有任何一行覆盖" not in page


def test_a_stale_grid_is_refused(login):
    owner, admin = login("owner"), login("admin")
    before = version()
    changed = [(["? < 60000", "? <= 20"], ["supervisor"]), (["? < 60000", "? > 20"], ["supervisor,director"]),
               (["60000 <= ? < 200000", "-"], ["supervisor,director"]), SHIPPED[3]]
    assert admin.post(GRID, data=form(changed, before)).status_code == 302
    stale = owner.post(GRID, data=form(SHIPPED, before))
    page = page_text(stale)
    assert stale.status_code == 409 and 'id="grid-stale"' in page and "已被他人修改" in page
    assert version() == before + 1 and decision_tables.grid("quote_approval", "quote_levels").rows == changed


@pytest.mark.parametrize("username", ["director", "manager1", "supervisor1"])
def test_only_process_owners_may_open_or_save_the_grid(login, username):
    browser = login(username)
    before = version()
    assert browser.get(GRID).status_code == 403
    assert browser.get("/processes/decisions").status_code == 403
    assert browser.post(GRID, data=form(SHIPPED, before)).status_code == 403
    assert 'id="nav-decisions-index"' not in page_text(browser.get("/"))
    assert version() == before


def test_unknown_tables_are_404(login):
    owner = login("owner")
    for path in ("/processes/quote_approval/decisions/nothing", "/processes/nothing/decisions/quote_levels"):
        assert owner.get(path).status_code == 404
        assert owner.post(path, data=form(SHIPPED, version())).status_code == 404


def test_saving_needs_the_pages_csrf_token(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    login_page = page_text(client.get("/login"))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"username": "owner", "password": DEMO_PASSWORD, "csrf_token": token})
    before = version()
    raised = [(["? < 70000", "? <= 20"], ["supervisor"]), (["? < 70000", "? > 20"], ["supervisor,director"]),
              (["70000 <= ? < 200000", "-"], ["supervisor,director"]), SHIPPED[3]]
    refused = client.post(GRID, data=form(raised, before))
    assert refused.status_code in (302, 400) and version() == before
    page = page_text(client.get(GRID))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    saved = client.post(GRID, data={**form(raised, before), "csrf_token": token})
    assert saved.status_code == 302 and version() == before + 1
