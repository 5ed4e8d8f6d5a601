"""`next` and referrers never send the browser off the site, whatever a browser would make of them."""
from __future__ import annotations

import io
import re

import pytest

from bpm_crm.extensions import db
from bpm_crm.models import Customer
from bpm_crm.services.demo import DEMO_PASSWORD
from bpm_crm.web.redirects import safe_next, same_site_path

from .helpers import page_text

UNSAFE = [
    None, "", "evil.example", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "http:/evil.example", "javascript:alert(1)", "data:text/html,x",
    "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example", " /customers/", "/customers/ ",
    "/customers/\x00", "/\x7f/evil.example", "/\u3000/evil.example", "/\u00a0/evil.example", "/\u200b/x",
    "/customers/?q=a b",
]
SAFE = ["/", "/opportunities/?q=abc", "/customers/12", "/customers/?q=%2F%2Fevil.example", "/%09/evil.example",
        "/customers/?view=pool&page=2", "/客户"]


@pytest.mark.parametrize("target", UNSAFE)
def test_unsafe_targets_are_refused(target):
    assert safe_next(target) is None
    assert same_site_path(target, "localhost") is None


@pytest.mark.parametrize("target", SAFE)
def test_paths_on_the_site_are_kept(target):
    assert safe_next(target) == target
    assert same_site_path(target, "localhost") == target


def test_referrers_of_this_host_give_their_path():
    assert same_site_path("http://localhost/customers/?view=pool", "localhost") == "/customers/?view=pool"
    assert same_site_path("https://localhost:8443/x", "localhost:8443") == "/x"
    for url in ("http://evil.example/customers/", "ftp://localhost/x", "http://localhost/\t/evil.example",
                "http://localhost//evil.example", "http://localhost"):
        assert same_site_path(url, "localhost") is None, url


def links_off_site(page: str) -> list[str]:
    """Links and form targets that name evil.example (the language forms echo the current URL: that is fine)."""
    return re.findall(r'(?:href|action)="[^"]*evil\.example[^"]*"', page)


@pytest.fixture
def mine(app, users, tmp_path) -> Customer:
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")
    record = Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id)
    db.session.add(record)
    db.session.commit()
    return record


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example",
                                    "/%5Cevil.example", "%2F%2Fevil.example", "https:%2F%2Fevil.example"])
def test_the_upload_page_neither_links_nor_returns_off_site(login, mine, target):
    browser = login("manager1")
    form = browser.get(f"/attachments/new?record_type=customer&record_id={mine.id}&next={target}")
    assert form.status_code == 200
    assert not links_off_site(page_text(form))
    assert f'href="/customers/{mine.id}"' in page_text(form)
    response = browser.post(f"/attachments/new?record_type=customer&record_id={mine.id}&next={target}",
                            data={"file": (io.BytesIO(b"abc"), "a.txt")}, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{mine.id}"


def test_the_upload_page_keeps_a_local_next(login, mine):
    browser = login("manager1")
    form = page_text(browser.get(f"/attachments/new?record_type=customer&record_id={mine.id}&next=/quotes/"))
    assert 'href="/quotes/"' in form


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example"])
def test_the_other_pages_taking_next_refuse_it_alike(client, login, mine, target):
    form = page_text(client.get("/login", query_string={"next": target}))
    assert '<input id="next" name="next" type="hidden" value="">' in form
    signed_in = client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD, "next": target})
    assert signed_in.headers["Location"] == "/"

    browser = login("manager1")
    response = browser.post("/language", data={"locale": "en", "next": target})
    assert response.headers["Location"] == "/"

    supervisor = login("supervisor1")
    response = supervisor.post(f"/customers/{mine.id}/transfer", data={
        "to_user_id": db.session.get(Customer, mine.id).owner_id, "reason": "调整", "next": target})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]
