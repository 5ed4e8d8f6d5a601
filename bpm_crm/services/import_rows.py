"""Cells of an import file: the importable fields, their header aliases, converting and checking each cell.

Problems are `Issue`s — a message template with its values — so pages can show them in the reader's language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import User
from bpm_crm.services import dictionary, permissions


@dataclass(frozen=True)
class FieldSpec:
    """One importable field: its label, how its cells are checked, the headers that map to it."""

    name: str
    label: str
    kind: str = "text"  # text, phone, email, postcode, choice, region, score, money, date, gender, owner, ref
    max_length: int = 60
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: str | None = None  # dictionary type for kind "choice"


CUSTOMER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "客户名称", max_length=120, required=True,
              aliases=("客户名称", "名称", "公司名称", "客户", "单位名称", "企业名称", "公司", "客户全称")),
    FieldSpec("short_name", "简称", aliases=("简称", "客户简称", "公司简称")),
    FieldSpec("region", "地区", "region", aliases=("地区", "区域", "所在地区", "省市", "所在地")),
    FieldSpec("industry", "行业", "choice", choices=dictionary.INDUSTRY, aliases=("行业", "所属行业")),
    FieldSpec("source", "客户来源", "choice", choices=dictionary.SOURCE, aliases=("来源", "客户来源")),
    FieldSpec("level", "客户等级", "choice", choices=dictionary.LEVEL, aliases=("等级", "客户等级", "级别")),
    FieldSpec("satisfaction", "满意度", "score", aliases=("满意度", "客户满意度")),
    FieldSpec("credit", "信用度", "score", aliases=("信用度", "信用", "信用等级")),
    FieldSpec("contact_name", "联系人", aliases=("联系人", "主要联系人")),
    FieldSpec("phone", "电话", "phone", max_length=40,
              aliases=("电话", "联系电话", "公司电话", "电话号码", "座机", "手机")),
    FieldSpec("fax", "传真", "phone", max_length=40, aliases=("传真", "传真号码")),
    FieldSpec("website", "网址", max_length=200, aliases=("网址", "网站", "公司网址", "主页")),
    FieldSpec("address", "地址", max_length=200, aliases=("地址", "公司地址", "详细地址", "联系地址")),
    FieldSpec("postcode", "邮编", "postcode", max_length=10, aliases=("邮编", "邮政编码")),
    FieldSpec("licence_no", "营业执照号", max_length=40,
              aliases=("营业执照号", "营业执照", "营业执照注册号", "执照号", "统一社会信用代码")),
    FieldSpec("legal_representative", "法人代表", aliases=("法人代表", "法人", "法定代表人")),
    FieldSpec("registered_capital", "注册资金", "money", aliases=("注册资金", "注册资本", "注册资金(万元)")),
    FieldSpec("annual_turnover", "年营业额", "money", aliases=("年营业额", "营业额", "年销售额")),
    FieldSpec("bank", "开户行", max_length=120, aliases=("开户行", "开户银行", "银行")),
    FieldSpec("bank_account", "银行账号", aliases=("银行账号", "账号", "银行帐号", "开户账号")),
    FieldSpec("tax_no", "税号", max_length=40, aliases=("税号", "纳税人识别号", "税务登记号", "纳税人识别码")),
    FieldSpec("remarks", "备注", max_length=2000, aliases=("备注", "说明")),
    FieldSpec("owner", "客户经理", "owner", aliases=("客户经理", "负责人", "所属客户经理", "业务员", "销售")),
)

CONTACT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("customer_number", "客户编号", "ref", max_length=20, aliases=("客户编号", "客户编码", "编号")),
    FieldSpec("customer_name", "客户名称", "ref", max_length=120,
              aliases=("客户名称", "客户", "公司名称", "单位名称", "所属客户", "公司")),
    FieldSpec("name", "姓名", required=True, aliases=("姓名", "联系人", "联系人姓名", "名字")),
    FieldSpec("gender", "性别", "gender", required=True, aliases=("性别",)),
    FieldSpec("position", "职位", required=True, aliases=("职位", "职务", "岗位")),
    FieldSpec("office_phone", "办公电话", "phone", max_length=40, required=True,
              aliases=("办公电话", "电话", "座机", "工作电话", "联系电话")),
    FieldSpec("mobile", "手机", "phone", max_length=40, aliases=("手机", "手机号", "手机号码", "移动电话")),
    FieldSpec("email", "邮箱", "email", max_length=120, aliases=("邮箱", "电子邮件", "电子邮箱", "email", "e-mail")),
    FieldSpec("birthday", "生日", "date", aliases=("生日", "出生日期", "生日日期")),
    FieldSpec("remarks", "备注", max_length=2000, aliases=("备注", "说明")),
)

FIELDS: dict[str, tuple[FieldSpec, ...]] = {"customers": CUSTOMER_FIELDS, "contacts": CONTACT_FIELDS}

# Duplicate rules per kind: how two rows are "the same" record.
DUPLICATE_RULES: dict[str, dict[str, str]] = {
    "customers": {"name": "客户名称相同", "phone": "电话相同", "tax_no": "税号相同"},
    "contacts": {"name": "同一客户下姓名相同", "phone": "同一客户下手机或办公电话相同"},
}

PHONE = re.compile(r"^[0-9+\-() 转#,，;；/]{5,40}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
POSTCODE = re.compile(r"^\d{6}$")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
GENDERS = {"男": "男", "女": "女", "男性": "男", "女性": "女", "m": "男", "f": "女", "male": "男", "female": "女",
           "先生": "男", "女士": "女"}


@dataclass(frozen=True)
class Issue:
    """A problem or duplicate note: a message template and its values, so pages can show it translated."""

    template: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template % self.params if self.params else self.template


def bad(template: str, spec: FieldSpec, text: str) -> Issue:
    return Issue(template, {"field": spec.label, "value": text})


class RowChecker:
    """Converts and checks the cells of one job's rows against the dictionary, the user's scope, the database."""

    def __init__(self, user: User, kind: str) -> None:
        self.user = user
        self.kind = kind
        self.choices = {name: dictionary.choices(name)
                        for name in (dictionary.INDUSTRY, dictionary.SOURCE, dictionary.LEVEL)}
        self.regions = dictionary.region_paths()
        self._owners: dict[str, list[User]] | None = None

    def owners(self) -> dict[str, list[User]]:
        """Active users the importer may give customers to, by username and by full name."""
        if self._owners is None:
            found: dict[str, list[User]] = {}
            query = select(User).where(User.active.is_(True),
                                       permissions.scope_clause(self.user, "customer.import", [User.id]))
            for person in db.session.scalars(query):
                found.setdefault(person.username.lower(), []).append(person)
                if person.full_name.lower() != person.username.lower():
                    found.setdefault(person.full_name.lower(), []).append(person)
            self._owners = found
        return self._owners

    def region(self, text: str) -> str | None:
        path = re.sub(r"\s*[/／\\\-—>|,，、\s]\s*", "/", text.strip()).strip("/")
        if path in self.regions:
            return path
        ends = [p for p in self.regions if p.rsplit("/", 1)[-1] == path]
        if len(ends) == 1:
            return ends[0]
        joined = [p for p in self.regions if p.replace("/", "") == path.replace("/", "")]
        return joined[0] if len(joined) == 1 else None

    def convert(self, spec: FieldSpec, text: str) -> tuple[Any, Issue | None]:
        """(value, error) of one cell; an empty cell is None."""
        if text == "":
            return None, (Issue("“%(field)s”必填", {"field": spec.label}) if spec.required else None)
        if spec.kind not in ("score", "money", "date") and len(text) > spec.max_length:
            return None, Issue("“%(field)s”最长 %(max)s 个字符", {"field": spec.label, "max": str(spec.max_length)})
        if spec.kind == "phone" and (not PHONE.match(text) or len(phone_key(text)) < 7):
            return None, bad("“%(field)s”不是有效的电话号码：%(value)s", spec, text)
        if spec.kind == "email" and not EMAIL.match(text):
            return None, bad("“%(field)s”不是有效的邮箱地址：%(value)s", spec, text)
        if spec.kind == "postcode" and not POSTCODE.match(text):
            return None, bad("“%(field)s”应为6位数字：%(value)s", spec, text)
        if spec.kind == "choice":
            allowed = self.choices[spec.choices or ""]
            if text not in allowed:
                return None, Issue("“%(field)s”的值“%(value)s”不在数据字典中（可选：%(choices)s）",
                             {"field": spec.label, "value": text, "choices": "、".join(allowed)})
        if spec.kind == "region":
            region = self.region(text)
            if region is None:
                return None, bad("“%(field)s”的值“%(value)s”不在数据字典中（如：浙江省/杭州市）", spec, text)
            return region, None
        if spec.kind == "score":
            if not re.fullmatch(r"[1-5](\.0+)?", text):
                return None, bad("“%(field)s”应为 1–5 的整数：%(value)s", spec, text)
            return int(float(text)), None
        if spec.kind == "money":
            return self.money(spec, text)
        if spec.kind == "date":
            return self.date(spec, text)
        if spec.kind == "gender":
            gender = GENDERS.get(text.lower())
            return (gender, None) if gender else (None, bad("“%(field)s”应为男或女：%(value)s", spec, text))
        if spec.kind == "owner":
            return self.owner(text)
        return text, None

    @staticmethod
    def money(spec: FieldSpec, text: str) -> tuple[Decimal | None, Issue | None]:
        raw = text.replace(",", "").replace("，", "").replace("￥", "").replace("¥", "").replace("元", "").strip()
        factor = Decimal(10000) if raw.endswith("万") else Decimal(1)
        try:
            value = Decimal(raw.removesuffix("万")) * factor
        except InvalidOperation:
            return None, bad("“%(field)s”不是有效的金额：%(value)s", spec, text)
        if not value.is_finite() or value < 0 or value >= Decimal("1e14"):
            return None, bad("“%(field)s”不是有效的金额：%(value)s", spec, text)
        return value.quantize(Decimal("0.01")), None

    @staticmethod
    def date(spec: FieldSpec, text: str) -> tuple[date | None, Issue | None]:
        for fmt in DATE_FORMATS:
            try:
                value = datetime.strptime(text.split(" ")[0], fmt).date()
            except ValueError:
                continue
            if value.year < 1900 or value > clock.today(current_app.config["BABEL_DEFAULT_TIMEZONE"]):
                break
            return value, None
        return None, bad("“%(field)s”不是有效的日期（如 1985-06-18）：%(value)s", spec, text)

    def owner(self, text: str) -> tuple[User | None, Issue | None]:
        matches = self.owners().get(text.lower(), [])
        if not matches:
            return None, Issue("客户经理“%(value)s”不存在、已停用或不在您的管理范围内", {"value": text})
        if len({person.id for person in matches}) > 1:
            return None, Issue("有多位同名用户“%(value)s”，请填写用户名", {"value": text})
        return matches[0], None


def name_key(text: Any) -> str:
    return re.sub(r"\s+", "", str(text or "")).casefold()


def phone_key(text: Any) -> str:
    return re.sub(r"\D", "", str(text or ""))
