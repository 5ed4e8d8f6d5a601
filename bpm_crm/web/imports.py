"""Import pages: upload a file, map its columns, preview every row, commit all or nothing, see the result."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.error_messages import translate
from bpm_crm.errors import Conflict, DomainError, Invalid
from bpm_crm.forms.imports import ImportUploadForm
from bpm_crm.i18n import _
from bpm_crm.models import ImportJob
from bpm_crm.services import excel, import_rows, imports
from bpm_crm.services.import_rows import Issue
from bpm_crm.services.imports import IGNORE, Preview
from bpm_crm.services.paging import Page
from bpm_crm.web.exports import xlsx_response
from bpm_crm.web.pages import signed_in
from bpm_crm.web.query_args import page_arg

bp = Blueprint("imports", __name__, url_prefix="/imports")

PREVIEW_PAGE_SIZE = 100
FILTERS = ("all", "error", "duplicate", "ok")

# The labels and messages the import service uses, marked so the catalog translates them.
LABELS = {
    "客户名称": _("客户名称"), "简称": _("简称"), "地区": _("地区"), "行业": _("行业"), "客户来源": _("客户来源"),
    "客户等级": _("客户等级"), "满意度": _("满意度"), "信用度": _("信用度"), "联系人": _("联系人"), "电话": _("电话"),
    "传真": _("传真"), "网址": _("网址"), "地址": _("地址"), "邮编": _("邮编"), "营业执照号": _("营业执照号"),
    "法人代表": _("法人代表"), "注册资金": _("注册资金"), "年营业额": _("年营业额"), "开户行": _("开户行"),
    "银行账号": _("银行账号"), "税号": _("税号"), "备注": _("备注"), "客户经理": _("客户经理"),
    "客户编号": _("客户编号"), "姓名": _("姓名"), "性别": _("性别"), "职位": _("职位"), "办公电话": _("办公电话"),
    "手机": _("手机"), "邮箱": _("邮箱"), "生日": _("生日"),
    "客户名称相同": _("客户名称相同"), "电话相同": _("电话相同"), "税号相同": _("税号相同"),
    "同一客户下姓名相同": _("同一客户下姓名相同"), "同一客户下手机或办公电话相同": _("同一客户下手机或办公电话相同"),
}
MESSAGES = (
    _("“%(field)s”必填"), _("“%(field)s”最长 %(max)s 个字符"), _("“%(field)s”不是有效的电话号码：%(value)s"),
    _("“%(field)s”不是有效的邮箱地址：%(value)s"), _("“%(field)s”应为6位数字：%(value)s"),
    _("“%(field)s”的值“%(value)s”不在数据字典中（可选：%(choices)s）"),
    _("“%(field)s”的值“%(value)s”不在数据字典中（如：浙江省/杭州市）"), _("“%(field)s”应为 1–5 的整数：%(value)s"),
    _("“%(field)s”不是有效的金额：%(value)s"), _("“%(field)s”不是有效的日期（如 1985-06-18）：%(value)s"),
    _("“%(field)s”应为男或女：%(value)s"), _("客户经理“%(value)s”不存在、已停用或不在您的管理范围内"),
    _("有多位同名用户“%(value)s”，请填写用户名"), _("客户编号“%(value)s”不存在或您无权修改该客户"),
    _("有多个名为“%(value)s”的客户，请用客户编号指明"), _("客户“%(value)s”不存在或您无权修改该客户"),
    _("“客户编号”或“客户名称”必填"), _("与已有客户 %(number)s 的%(field)s相同"), _("与第 %(line)s 行的%(field)s相同"),
    _("该客户已有%(field)s相同的联系人"), _("与第 %(line)s 行是同一客户下%(field)s相同的联系人"),
    _("列“%(column)s”对应的字段未知"), _("列“%(first)s”和“%(column)s”都对应“%(field)s”，每个字段只能对应一列"),
    _("必填字段未对应到任何列：%(fields)s"), _("请把“客户编号”或“客户名称”对应到一列，用来找到联系人所属的客户"),
    _("请选择重复规则：%(rules)s"), _("姓名"), _("导入任务不存在或您无权查看"), _("此导入已提交过，不能重复导入"),
    _("此导入已完成，不能再修改"), _("没有可导入的数据：所有行都是重复的"), _("请选择导入类型"),
    _("导入类型应为客户或联系人"), _("导入类型不存在"),
)



@bp.app_template_filter("import_label")
def label(text: str) -> str:
    """A field label or rule name of the service in the reader's language."""
    known = LABELS.get(text)
    return str(known) if known is not None else text


@bp.app_template_filter("import_issue")
def issue_text(issue: Issue | None) -> str:
    """A row problem in the reader's language, its field names translated too."""
    if issue is None:
        return ""
    params: dict[str, Any] = dict(issue.params)
    for key in ("field", "fields", "rules"):
        if key in params:
            params[key] = "、".join(label(part) for part in str(params[key]).split("、"))
    return gettext(issue.template, **params) if params else gettext(issue.template)


def _rows_page(preview: Preview, show: str, page_number: int) -> Page:
    rows = [row for row in preview.rows if show == "all" or row.status == show]
    pages = max(1, -(-len(rows) // PREVIEW_PAGE_SIZE))
    page_number = min(max(1, page_number), pages)
    start = (page_number - 1) * PREVIEW_PAGE_SIZE
    return Page(items=rows[start:start + PREVIEW_PAGE_SIZE], total=len(rows), page=page_number,
                per_page=PREVIEW_PAGE_SIZE)


def _render_job(job: ImportJob, *, status: int = 200, mapping: dict[str, str] | None = None,
                rule: str | None = None, mapping_errors: dict[str, list[Issue]] | None = None):
    user = signed_in()
    if job.status == imports.COMMITTED:
        return render_template("imports/result.html", job=job, kind_label=label(imports.KINDS[job.kind]),
                               records=imports.created_records(job=job, user=user)), status
    preview = imports.preview(job_id=job.id, user=user)
    show = request.args.get("show", "all")
    show = show if show in FILTERS else "all"
    rows = _rows_page(preview, show, page_arg())
    fields = import_rows.FIELDS[job.kind]
    return render_template(
        "imports/show.html", job=job, preview=preview, rows=rows, show=show, fields=fields,
        mapping=mapping or job.mapping, rule=rule or job.duplicate_rule,
        rules=import_rows.DUPLICATE_RULES[job.kind], mapping_errors=mapping_errors or {},
        kind_label=label(imports.KINDS[job.kind]), ignore=IGNORE,
    ), status


@bp.get("/")
@login_required
def index():
    """Recent imports and the upload form."""
    return _index(ImportUploadForm())


def _index(form: ImportUploadForm, status: int = 200):
    jobs = imports.recent_jobs(user=signed_in())
    return render_template("imports/index.html", form=form, jobs=jobs, kinds=imports.KINDS,
                           max_rows=excel.MAX_ROWS, max_mb=excel.MAX_UPLOAD_BYTES // (1024 * 1024)), status


@bp.post("/")
@login_required
def upload():
    """Step 1: read the file; on success go on to the column mapping."""
    form = ImportUploadForm()
    if not form.validate_on_submit():
        return _index(form, 422)
    storage = form.file.data
    try:
        job = imports.upload(user=signed_in(), kind=form.kind.data, filename=storage.filename or "",
                             data=storage.read(excel.MAX_UPLOAD_BYTES + 1))
    except Invalid as exc:
        messages = exc.field_errors.get("file") or exc.field_errors.get("kind")
        form.file.errors = [translate(message) for message in messages] if messages else [translate(exc)]
        return _index(form, 422)
    flash(gettext("已读取 %(rows)s 行数据，请核对列对应和检查结果", rows=len(job.rows)), "success")
    return redirect(url_for("imports.show", job_id=job.id))


@bp.get("/template/<kind>.xlsx")
@login_required
def template(kind: str):
    """An empty import file with every column title, for filling in."""
    headers = [label(title) for title in imports.template_headers(kind=kind, user=signed_in())]
    return xlsx_response(name=gettext("%(kind)s导入模板", kind=label(imports.KINDS[kind])), headers=headers,
                         rows=[])


@bp.get("/<id:job_id>")
@login_required
def show(job_id: int):
    """Steps 2 and 3: the column mapping and the check of every row; or the result once committed."""
    return _render_job(imports.get_job(job_id=job_id, user=signed_in()))


@bp.post("/<id:job_id>/mapping")
@login_required
def save_mapping(job_id: int):
    """Save the column mapping and duplicate rule, then show the new check."""
    job = imports.get_job(job_id=job_id, user=signed_in())
    mapping = {header: request.form.get(f"col-{index}", IGNORE) for index, header in enumerate(job.headers)}
    rule = request.form.get("duplicate_rule", "")
    try:
        imports.set_mapping(job_id=job_id, user=signed_in(), mapping=mapping, duplicate_rule=rule)
    except Conflict as exc:
        flash(translate(exc), "warning")
        return redirect(url_for("imports.show", job_id=job_id))
    except Invalid:
        flash(gettext("列对应有误，请按提示修改"), "danger")
        problems = imports.mapping_problems(kind=job.kind, mapping=mapping, rule=rule)
        return _render_job(job, status=422, mapping=mapping, rule=rule, mapping_errors=problems)
    flash(gettext("已按新的列对应重新检查"), "success")
    return redirect(url_for("imports.show", job_id=job_id))


@bp.post("/<id:job_id>/commit")
@login_required
def commit(job_id: int):
    """Step 4: write every row at once, or nothing when a row has an error."""
    job = imports.get_job(job_id=job_id, user=signed_in())
    try:
        job = imports.commit(job_id=job_id, user=signed_in())
    except Conflict as exc:
        flash(translate(exc), "warning")
        return redirect(url_for("imports.show", job_id=job_id))
    except Invalid:
        flash(gettext("有数据行存在错误，整个导入已取消，没有写入任何数据。请修改文件后重新上传。"), "danger")
        return _render_job(job, status=422)
    except DomainError as exc:
        flash(translate(exc), "danger")
        return redirect(url_for("imports.show", job_id=job_id))
    result = job.result or {}
    flash(gettext("导入完成：新建 %(created)s 条，跳过重复 %(skipped)s 条", created=result.get("created", 0),
                  skipped=result.get("skipped_duplicates", 0)), "success")
    return redirect(url_for("imports.show", job_id=job_id))
