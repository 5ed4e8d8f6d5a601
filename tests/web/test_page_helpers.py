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


def test_a_list_filter_keeps_the_chosen_value_whatever_its_shape(app):
    """filter_select: plain values, (id, name) pairs and rows by attribute; the chosen one selected whether the page
    passes it as the number it is or as the text of the query string; nothing chosen, nothing selected."""
    from types import SimpleNamespace

    from flask import render_template_string

    template = ('{% from "_macros.html" import filter_select %}'
                '{{ filter_select("f", "F", "全部", values, chosen, value=value, text=text) }}')
    rows = [SimpleNamespace(id=7, name="杭州仓"), SimpleNamespace(id=17, name="苏州仓")]
    cases = [
        (["新建", "处理中"], "处理中", None, None, ('<option value="处理中" selected>处理中</option>', 1)),
        ([(7, "李明"), (17, "王芳")], 17, 0, 1, ('<option value="17" selected>王芳</option>', 1)),
        ([(7, "李明"), (17, "王芳")], "7", 0, 1, ('<option value="7" selected>李明</option>', 1)),
        (rows, "17", "id", "name", ('<option value="17" selected>苏州仓</option>', 1)),
        (rows, None, "id", "name", ('<option value="">全部</option>', 0)),
    ]
    with app.test_request_context():
        for values, chosen, value, text, (expected, selected) in cases:
            page = render_template_string(template, values=values, chosen=chosen, value=value, text=text)
            assert expected in page and page.count(" selected") == selected, page
        called = render_template_string(
            '{% from "_macros.html" import filter_select %}'
            '{% call(row) filter_select("f", "F", "全部", rows, 7, value="id") %}<{{ row.name }}>{% endcall %}',
            rows=rows)
        assert '<option value="7" selected><杭州仓></option>' in called
