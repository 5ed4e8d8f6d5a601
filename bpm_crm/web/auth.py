"""Sign-in and sign-out pages."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bpm_crm.i18n import _
from bpm_crm.services import people

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """Username and password; `next` carries the page to return to."""

    username = StringField(_("用户名"), validators=[DataRequired(_("请输入用户名")), Length(max=60)])
    password = PasswordField(_("密码"), validators=[DataRequired(_("请输入密码")), Length(max=200)])
    remember = BooleanField(_("记住我"))
    next = HiddenField()


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to, or None (never an absolute or scheme-relative URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign in and return to `next`."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    status = 200
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = people.authenticate(username=form.username.data, password=form.password.data, channel="web",
                                   ip=request.remote_addr, user_agent=request.user_agent.string)
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            flash(gettext("欢迎回来，%(name)s", name=user.full_name), "success")
            return redirect(safe_next(form.next.data) or url_for("inbox.index"))
        flash(gettext("用户名或密码错误"), "danger")
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out and go back to the sign-in page."""
    logout_user()
    flash(gettext("您已安全退出"), "info")
    return redirect(url_for("auth.login"))
