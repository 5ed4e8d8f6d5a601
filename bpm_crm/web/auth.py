"""Sign-in and sign-out pages, and the user's own account page (password, API tokens)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.services import people
from bpm_crm.web import kept_forms, language
from bpm_crm.web.pages import apply_errors, signed_in
from bpm_crm.web.redirects import safe_next

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """Username and password; `next` carries the page to return to."""

    username = StringField(_("用户名"), validators=[DataRequired(_("请输入用户名")), Length(max=60)])
    password = PasswordField(_("密码"), validators=[DataRequired(_("请输入密码")), Length(max=200)])
    remember = BooleanField(_("记住我"))
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    """The current password, then the new one twice."""

    current_password = PasswordField(_("当前密码"), validators=[DataRequired(_("请输入当前密码")),
                                                               Length(max=200)])
    password = PasswordField(_("新密码"), validators=[DataRequired(_("请填写密码")),
                                                     Length(min=8, max=200, message=_("密码至少8位"))])
    confirm = PasswordField(_("确认新密码"), validators=[DataRequired(_("请再次输入密码")),
                                                        EqualTo("password", _("两次输入的密码不一致"))])



def _throttled_page(form: LoginForm, exc: people.LoginThrottled):
    flash(gettext("登录失败次数过多，请在 %(minutes)s 分钟后再试", minutes=exc.minutes), "danger")
    return render_template("auth/login.html", form=form), 429, {"Retry-After": str(exc.retry_after)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign in and return to `next`."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    status = 200
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user = people.authenticate(username=form.username.data, password=form.password.data, channel="web",
                                       ip=request.remote_addr, user_agent=request.user_agent.string)
        except people.LoginThrottled as exc:
            return _throttled_page(form, exc)
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            language.settle_at_sign_in(user)
            kept_forms.settle_at_sign_in(user.id)
            flash(gettext("欢迎回来，%(name)s", name=user.full_name), "success")
            return kept_forms.remember_user(redirect(safe_next(form.next.data) or url_for("inbox.index")), user.id)
        flash(gettext("用户名或密码错误"), "danger")
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out and go back to the sign-in page."""
    logout_user()
    flash(gettext("您已安全退出"), "info")
    return kept_forms.forget_user(redirect(url_for("auth.login")))


def _account_page(form: PasswordChangeForm, status: int = 200):
    return render_template("auth/account.html", form=form, api_tokens=people.active_api_tokens(signed_in())), status


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The signed-in user's account: change his password (POST), see and revoke his API tokens."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _account_page(form, 422 if form.errors else 200)
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    try:
        user = people.change_password(user=signed_in(), current_password=form.current_password.data or "",
                                      new_password=form.password.data or "")
    except Invalid as exc:
        apply_errors(form, exc, message=False)  # the fields say it
        return _account_page(form, exc.status)
    # The new stamp ended every session, this one too: sign in again here (and renew remember-me if it
    # was on), so only the other browsers and devices are signed out.
    login_user(user, remember=remembered)
    flash(gettext("密码已修改，其他设备上的登录和全部 API 令牌已失效"), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/api-tokens/revoke")
@login_required
def revoke_api_tokens():
    """Revoke every API token of the signed-in user."""
    count = people.revoke_api_tokens(user=signed_in())
    flash(gettext("已撤销 %(count)s 个 API 令牌", count=count), "success")
    return redirect(url_for("auth.account"))
