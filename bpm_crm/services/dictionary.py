"""The data dictionary (数据字典): the choices of regions, levels, industries, sources, service types …"""
from __future__ import annotations

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import DictionaryEntry

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
                                    editable=entry_type not in READ_ONLY_TYPES)
            db.session.add(entry)
            db.session.flush()
            existing[key] = entry
            added += 1
        return entry

    for entry_type, items in DEFAULTS.items():
        for sort, item in enumerate(items):
            ensure(entry_type, item, sort)
    for sort, (province, cities) in enumerate(REGIONS.items()):
        parent = ensure(REGION, province, sort)
        for city_sort, city in enumerate(cities):
            ensure(REGION, city, city_sort, parent)
    return added
