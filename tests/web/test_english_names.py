"""Read in English, the names the data carries are English too: process and step names, dictionary items."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.models import DictionaryEntry
from bpm_crm.services import customers

from .helpers import open_task, page_text


def english(login, username):
    browser = login(username)
    browser.post("/language", data={"locale": "en", "next": "/"})
    return browser


def test_process_and_step_names_follow_the_reader(login, new_opportunity):
    task = open_task(new_opportunity("manager1"), "assign")
    inbox = page_text(english(login, "supervisor1").get("/"))
    assert "Assign the opportunity" in inbox and "Opportunity assignment and development" in inbox
    assert "指派销售机会" not in inbox
    page = page_text(english(login, "supervisor1").get(f"/tasks/{task.id}"))
    assert '<h1 class="page-title" id="task-title">Assign the opportunity' in page
    assert "Opportunity created" not in page or "机会已创建" not in page
    chinese = page_text(login("director").get(f"/tasks/{task.id}"))  # another reader, in Chinese
    assert '<h1 class="page-title" id="task-title">指派销售机会' in chinese
    assert task.name == "指派销售机会"  # the inbox row keeps the name as deployed


def test_dictionary_items_show_their_english_labels(login, users):
    customer = customers.create_customer(user=users["manager1"], values={
        "name": "英文标签测试公司", "region": "浙江省/杭州市", "industry": "信息技术", "source": "展会"})
    page = page_text(english(login, "manager1").get(f"/customers/{customer.id}"))
    assert "Zhejiang / Hangzhou" in page and "Information technology" in page and "Trade fair" in page
    form = page_text(english(login, "manager1").get(f"/customers/{customer.id}/edit"))
    assert '<option selected value="信息技术">Information technology</option>' in form
    chinese = page_text(login("supervisor1").get(f"/customers/{customer.id}"))
    assert "浙江省 / 杭州市" in chinese and "Information technology" not in chinese


def test_an_admin_gives_his_own_item_an_english_label(login, users):
    admin = login("admin")
    admin.post("/admin/dictionary/new?type=行业", data={"item": "新能源", "label_en": "New energy", "sort": 20})
    entry = db.session.query(DictionaryEntry).filter_by(item="新能源").one()
    assert entry.label_en == "New energy"
    customer = customers.create_customer(user=users["manager1"], values={"name": "新能源测试公司",
                                                                         "industry": "新能源"})
    assert "New energy" in page_text(english(login, "manager1").get(f"/customers/{customer.id}"))
