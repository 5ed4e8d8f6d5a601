"""The data dictionary (数据字典): the choices of regions, levels, industries, sources, service types …"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.input_rules import parse_id
from bpm_crm.models import DictionaryEntry, User
from bpm_crm.services import permissions
from bpm_crm.services.transaction import unit_of_work

REGION = "地区"
LEVEL = "客户等级"
INDUSTRY = "行业"
SOURCE = "客户来源"
SERVICE_TYPE = "服务类型"
CARE_KIND = "关怀类型"

# type -> items; the first three types drive behaviour and are read-only (editable=False).
DEFAULTS: dict[str, list[str]] = {
    LEVEL: ["普通", "重点", "VIP"],
    SERVICE_TYPE: ["咨询", "建议", "投诉"],
    CARE_KIND: ["生日", "节日", "售后回访", "自定义"],
    INDUSTRY: ["制造业", "批发零售", "信息技术", "餐饮", "物流", "建筑", "医疗", "教育", "金融", "其他"],
    SOURCE: ["展会", "老客户介绍", "官网咨询", "电话营销", "广告", "其他"],
}
READ_ONLY_TYPES = {LEVEL, SERVICE_TYPE, CARE_KIND}
REGIONS: dict[str, list[str]] = {
    "北京市": ["东城区", "西城区", "朝阳区", "海淀区"],
    "上海市": ["黄浦区", "浦东新区", "徐汇区", "闵行区"],
    "广东省": ["广州市", "深圳市", "佛山市", "东莞市"],
    "浙江省": ["杭州市", "宁波市", "温州市", "嘉兴市"],
    "江苏省": ["南京市", "苏州市", "无锡市", "常州市"],
    "四川省": ["成都市", "绵阳市", "宜宾市"],
    "湖北省": ["武汉市", "宜昌市", "襄阳市"],
    "山东省": ["济南市", "青岛市", "烟台市"],
}

# English labels of the seeded items; admins give their own items one in the dictionary page.
ENGLISH: dict[str, str] = {
    "普通": "Regular", "重点": "Key account", "VIP": "VIP",
    "咨询": "Inquiry", "建议": "Suggestion", "投诉": "Complaint",
    "生日": "Birthday", "节日": "Festival", "售后回访": "After-sales follow-up", "自定义": "Custom",
    "制造业": "Manufacturing", "批发零售": "Wholesale and retail", "信息技术": "Information technology",
    "餐饮": "Catering", "物流": "Logistics", "建筑": "Construction", "医疗": "Healthcare", "教育": "Education",
    "金融": "Finance", "其他": "Other",
    "展会": "Trade fair", "老客户介绍": "Customer referral", "官网咨询": "Website inquiry",
    "电话营销": "Telemarketing", "广告": "Advertising",
    "北京市": "Beijing", "东城区": "Dongcheng", "西城区": "Xicheng", "朝阳区": "Chaoyang", "海淀区": "Haidian",
    "上海市": "Shanghai", "黄浦区": "Huangpu", "浦东新区": "Pudong", "徐汇区": "Xuhui", "闵行区": "Minhang",
    "广东省": "Guangdong", "广州市": "Guangzhou", "深圳市": "Shenzhen", "佛山市": "Foshan", "东莞市": "Dongguan",
    "浙江省": "Zhejiang", "杭州市": "Hangzhou", "宁波市": "Ningbo", "温州市": "Wenzhou", "嘉兴市": "Jiaxing",
    "江苏省": "Jiangsu", "南京市": "Nanjing", "苏州市": "Suzhou", "无锡市": "Wuxi", "常州市": "Changzhou",
    "四川省": "Sichuan", "成都市": "Chengdu", "绵阳市": "Mianyang", "宜宾市": "Yibin",
    "湖北省": "Hubei", "武汉市": "Wuhan", "宜昌市": "Yichang", "襄阳市": "Xiangyang",
    "山东省": "Shandong", "济南市": "Jinan", "青岛市": "Qingdao", "烟台市": "Yantai",
}


def choices(entry_type: str) -> list[str]:
    """The items of a flat dictionary type, in their order."""
    return list(db.session.scalars(
        select(DictionaryEntry.item).where(DictionaryEntry.type == entry_type, DictionaryEntry.parent_id.is_(None))
        .order_by(DictionaryEntry.sort, DictionaryEntry.id)))


def region_paths() -> list[str]:
    """Every region as a path, provinces before their cities: "浙江省", "浙江省/杭州市", …"""
    entries = list(db.session.scalars(
        select(DictionaryEntry).where(DictionaryEntry.type == REGION).order_by(DictionaryEntry.sort,
                                                                                 DictionaryEntry.id)))
    by_parent: dict[int | None, list[DictionaryEntry]] = {}
    for entry in entries:
        by_parent.setdefault(entry.parent_id, []).append(entry)
    paths: list[str] = []

    def walk(parent_id: int | None, prefix: str) -> None:
        for entry in by_parent.get(parent_id, []):
            path = f"{prefix}/{entry.item}" if prefix else entry.item
            paths.append(path)
            walk(entry.id, path)

    walk(None, "")
    return paths


def seed_dictionary() -> int:
    """Create the default dictionary entries that are missing (idempotent); the caller commits."""
    existing = {(e.type, e.parent_id, e.item): e for e in db.session.scalars(select(DictionaryEntry))}
    added = 0

    def ensure(entry_type: str, item: str, sort: int, parent: DictionaryEntry | None = None) -> DictionaryEntry:
        nonlocal added
        key = (entry_type, parent.id if parent else None, item)
        entry = existing.get(key)
        if entry is None:
            entry = DictionaryEntry(type=entry_type, item=item, value=item, sort=sort, parent_id=key[1],
                                    editable=entry_type not in READ_ONLY_TYPES, label_en=ENGLISH.get(item))
            db.session.add(entry)
            db.session.flush()
            existing[key] = entry
            added += 1
        elif entry.label_en is None and item in ENGLISH:  # seeded before entries had English labels
            entry.label_en = ENGLISH[item]
        return entry

    for entry_type, items in DEFAULTS.items():
        for sort, item in enumerate(items):
            ensure(entry_type, item, sort)
    for sort, (province, cities) in enumerate(REGIONS.items()):
        parent = ensure(REGION, province, sort)
        for city_sort, city in enumerate(cities):
            ensure(REGION, city, city_sort, parent)
    return added


def english_labels() -> dict[str, str]:
    """Item -> its English label, for every entry that has one (pages show items through it in English)."""
    return {item: str(label) for item, label in db.session.execute(
        select(DictionaryEntry.item, DictionaryEntry.label_en).where(DictionaryEntry.label_en.is_not(None))
        .order_by(DictionaryEntry.id.desc()))}


def types() -> list[str]:
    """Every dictionary type: the known ones first, then any others found in the table."""
    known = [REGION, *DEFAULTS]
    found = db.session.scalars(select(DictionaryEntry.type).distinct())
    return known + sorted(set(found) - set(known))


def list_entries(*, entry_type: str) -> list[DictionaryEntry]:
    """The entries of one type, parents before their children, each level in its order."""
    entries = list(db.session.scalars(
        select(DictionaryEntry).where(DictionaryEntry.type == entry_type)
        .order_by(DictionaryEntry.sort, DictionaryEntry.id)))
    by_parent: dict[int | None, list[DictionaryEntry]] = {}
    for entry in entries:
        by_parent.setdefault(entry.parent_id, []).append(entry)
    ordered: list[DictionaryEntry] = []

    def walk(parent_id: int | None) -> None:
        for entry in by_parent.get(parent_id, []):
            ordered.append(entry)
            walk(entry.id)

    walk(None)
    return ordered


def get_entry(*, entry_id: int) -> DictionaryEntry:
    """One dictionary entry; NotFound otherwise."""
    entry = db.session.get(DictionaryEntry, entry_id)
    if entry is None:
        raise NotFound("字典项不存在")
    return entry


def _clean(values: dict[str, Any]) -> tuple[str, str | None, int]:
    item = (values.get("item") or "").strip()
    value = (values.get("value") or "").strip() or None
    errors: dict[str, list[str]] = {}
    if not item or len(item) > 60:
        errors["item"] = ["请填写字典项，最长60个字符"]
    if value and len(value) > 120:
        errors["value"] = ["值最长120个字符"]
    if len(_english(values) or "") > 120:
        errors["label_en"] = ["英文名称最长120个字符"]
    sort = values.get("sort")
    if sort in (None, ""):
        sort = 0
    if not isinstance(sort, int) or isinstance(sort, bool) or not -9999 <= sort <= 9999:
        errors["sort"] = ["排序应为 -9999 到 9999 之间的整数"]
        sort = 0
    if errors:
        raise Invalid("字典项信息有误", errors)
    return item, value, sort


def _english(values: dict[str, Any]) -> str | None:
    label = values.get("label_en")
    return label.strip() or None if isinstance(label, str) else None


def _parent(entry_type: str, parent_id: Any) -> DictionaryEntry | None:
    if parent_id in (None, "", 0):
        return None
    if entry_type != REGION:
        raise Invalid("只有地区可以设置上级", {"parent_id": ["只有地区可以设置上级"]})
    wanted = parse_id(parent_id)
    parent = db.session.get(DictionaryEntry, wanted) if wanted is not None else None
    if parent is None or parent.type != entry_type:
        raise Invalid("上级地区不存在", {"parent_id": ["上级地区不存在"]})
    return parent


def _unique(entry_type: str, parent_id: int | None, item: str, entry_id: int | None = None) -> None:
    query = select(DictionaryEntry.id).where(
        DictionaryEntry.type == entry_type, DictionaryEntry.item == item,
        DictionaryEntry.parent_id.is_(None) if parent_id is None else DictionaryEntry.parent_id == parent_id)
    if entry_id is not None:
        query = query.where(DictionaryEntry.id != entry_id)
    if db.session.scalar(query) is not None:
        raise Conflict("“%(item)s”已存在", code="dictionary_item_exists", item=item)


def _require_manage(user: User) -> None:
    permissions.require(user, "dictionary.manage")


@unit_of_work
def create_entry(*, user: User, entry_type: str, values: dict[str, Any]) -> DictionaryEntry:
    """Add an item to a dictionary type (regions may name a parent); commits."""
    _require_manage(user)
    if entry_type not in types():
        raise NotFound("字典类型不存在")
    if entry_type in READ_ONLY_TYPES:
        raise Forbidden("“%(type)s”由系统维护，只能查看", code="dictionary_type_read_only", type=entry_type)
    item, value, sort = _clean(values)
    parent = _parent(entry_type, values.get("parent_id"))
    _unique(entry_type, parent.id if parent else None, item)
    entry = DictionaryEntry(type=entry_type, item=item, value=value or item, sort=sort,
                            parent_id=parent.id if parent else None, editable=True, label_en=_english(values))
    db.session.add(entry)
    db.session.flush()
    return entry


def _editable(entry_id: int) -> DictionaryEntry:
    entry = get_entry(entry_id=entry_id)
    if not entry.editable:
        raise Forbidden("字典项“%(item)s”由系统维护，不能修改或删除", code="dictionary_item_read_only", item=entry.item)
    return entry


@unit_of_work
def update_entry(*, user: User, entry_id: int, values: dict[str, Any]) -> DictionaryEntry:
    """Change an editable item's text, value, order or (regions) parent; records keep their old text; commits."""
    _require_manage(user)
    entry = _editable(entry_id)
    item, value, sort = _clean(values)
    parent = _parent(entry.type, values.get("parent_id")) if "parent_id" in values else entry.parent
    if parent is not None:
        ancestor: DictionaryEntry | None = parent
        while ancestor is not None:
            if ancestor.id == entry.id:
                raise Invalid("上级地区不能是它自己或它的下级", {"parent_id": ["上级地区不能是它自己或它的下级"]})
            ancestor = ancestor.parent
    _unique(entry.type, parent.id if parent else None, item, entry.id)
    entry.item, entry.value, entry.sort = item, value or item, sort
    if "label_en" in values:
        entry.label_en = _english(values)
    entry.parent_id = parent.id if parent else None
    return entry


@unit_of_work
def delete_entry(*, user: User, entry_id: int) -> str:
    """Remove an editable item without children; records that use it keep their text; commits."""
    _require_manage(user)
    entry = _editable(entry_id)
    if db.session.scalar(select(DictionaryEntry.id).where(DictionaryEntry.parent_id == entry.id).limit(1)):
        raise Conflict("“%(item)s”下还有下级地区，请先删除下级", code="region_has_children", item=entry.item)
    item = entry.item
    db.session.delete(entry)
    return item
