"""The page helpers every blueprint uses: a form page (form_view) and a button's action (act)."""
from __future__ import annotations

import pytest
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.web import pages


class NameForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired()])


@pytest.fixture
def rendered(monkeypatch):
    """What form_view rendered: the template's name and its context."""
    seen: dict = {}

    def render(template, **context):
        seen.update(template=template, **context)
        return "page"

    monkeypatch.setattr(pages, "render_template", render)
    return seen


def test_a_form_page_is_shown_checked_refused_or_done(app, rendered):
    calls = []

    def view(save):
        form = NameForm(meta={"csrf": False})
        return pages.form_view(form, "x.html", record=None, save=save,
                               done=lambda result: ("done", result))

    with app.test_request_context("/", method="GET"):
        assert view(lambda: calls.append("saved")) == ("page", 200) and calls == []
    with app.test_request_context("/", method="POST", data={"name": ""}):
        assert view(lambda: calls.append("saved")) == ("page", 422) and calls == []
        assert rendered["form"].name.errors and rendered["record"] is None
    with app.test_request_context("/", method="POST", data={"name": "甲"}):
        def refuse():
            raise Invalid("名称已被使用", {"name": ["名称已被使用"]})
        assert view(refuse) == ("page", 422)
        assert rendered["form"].name.errors == ["名称已被使用"]
        assert get_flashed_messages(with_categories=True) == [("danger", "名称已被使用")]
    with app.test_request_context("/", method="POST", data={"name": "甲"}):
        def conflict():
            raise Conflict("已被他人修改")
        assert view(conflict) == ("page", 409)
    with app.test_request_context("/", method="POST", data={"name": "甲"}):
        assert view(lambda: 7) == ("done", 7)


def test_a_buttons_action_says_what_happened(app):
    def press(action, **kwargs):
        with app.test_request_context("/", method="POST"):
            return pages.act(action, **kwargs), get_flashed_messages(with_categories=True)

    assert press(lambda: ["a", "b"], success=lambda people: f"已催办 {len(people)} 人") == (
        True, [("success", "已催办 2 人")])

    def invalid():
        raise Invalid("请更正标出的字段", {"to_user_id": ["请选择转办对象"], "comment": ["请更正标出的字段"]})
    assert press(invalid, success="不应出现") == (False, [("danger", "请更正标出的字段；请选择转办对象")])

    def conflict():
        raise Conflict("此任务已被认领")
    assert press(conflict) == (False, [("warning", "此任务已被认领")])

    def forbidden():
        raise Forbidden("您不能删除此记录")
    assert press(forbidden) == (False, [("danger", "您不能删除此记录")])

    def missing():
        raise NotFound("记录不存在")
    with app.test_request_context("/", method="POST"):
        with pytest.raises(NotFound):
            pages.act(missing, success="不应出现")
        assert get_flashed_messages() == []
