"""Realistic Chinese demo data of any size: customers, contacts, interactions, products, stock, orders.

Fast by design: ids are assigned here, rows are plain dicts inserted with Core bulk inserts in chunks,
one commit per chunk — no ORM object per row. 100,000 customers with 1,000,000 orders take minutes.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    Contact,
    Customer,
    Interaction,
    InventoryItem,
    Order,
    OrderLine,
    Product,
    Role,
    User,
    Warehouse,
)
from bpm_crm.services import dictionary

CHUNK = 10_000
POOL_SHARE = 0.10  # customers without an owner (公海)

AREA_CODES = {
    "北京市": "010", "上海市": "021", "广州市": "020", "深圳市": "0755", "佛山市": "0757", "东莞市": "0769",
    "杭州市": "0571", "宁波市": "0574", "温州市": "0577", "嘉兴市": "0573", "南京市": "025", "苏州市": "0512",
    "无锡市": "0510", "常州市": "0519", "成都市": "028", "绵阳市": "0816", "宜宾市": "0831", "武汉市": "027",
    "宜昌市": "0717", "襄阳市": "0710", "济南市": "0531", "青岛市": "0532", "烟台市": "0535",
}
POSTCODES = {
    "北京市": "100", "上海市": "200", "广州市": "510", "深圳市": "518", "佛山市": "528", "东莞市": "523",
    "杭州市": "310", "宁波市": "315", "温州市": "325", "嘉兴市": "314", "南京市": "210", "苏州市": "215",
    "无锡市": "214", "常州市": "213", "成都市": "610", "绵阳市": "621", "宜宾市": "644", "武汉市": "430",
    "宜昌市": "443", "襄阳市": "441", "济南市": "250", "青岛市": "266", "烟台市": "264",
}
DISTRICTS = {
    "广州市": ["天河区", "越秀区", "番禺区", "白云区"], "深圳市": ["南山区", "福田区", "宝安区", "龙岗区"],
    "杭州市": ["西湖区", "滨江区", "余杭区", "萧山区"], "宁波市": ["鄞州区", "北仑区", "海曙区"],
    "南京市": ["鼓楼区", "江宁区", "玄武区"], "苏州市": ["工业园区", "吴中区", "相城区", "姑苏区"],
    "成都市": ["武侯区", "高新区", "锦江区", "双流区"], "武汉市": ["江汉区", "洪山区", "东西湖区"],
    "济南市": ["历下区", "槐荫区"], "青岛市": ["市南区", "黄岛区", "城阳区"],
}
ROADS = ["人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "长江路", "黄河路", "滨江大道",
         "科技园路", "工业大道", "创业路", "学院路", "文化路", "光明路", "幸福路", "金融街", "开发区大道", "东风路"]
NAME_CHARS = "鑫华恒永宏金瑞新博天嘉润盛佳联中顺东海远百锦兴立德昌隆祥泰达通源丰信诚和益安康美晟宇航辰星凯正"
INDUSTRY_WORDS = {
    "制造业": ["机械", "精密机械", "模具", "电子", "五金", "塑胶制品", "纺织", "汽车配件", "电气设备"],
    "批发零售": ["商贸", "贸易", "百货", "电器销售"],
    "信息技术": ["科技", "信息技术", "软件", "网络科技", "数据服务"],
    "餐饮": ["餐饮管理", "食品", "酒店管理"],
    "物流": ["物流", "供应链管理", "货运代理", "仓储"],
    "建筑": ["建设工程", "建筑装饰", "建材", "市政工程"],
    "医疗": ["医疗器械", "医药", "生物科技", "健康管理"],
    "教育": ["教育科技", "培训", "文化传播"],
    "金融": ["投资管理", "融资租赁", "资产管理"],
    "其他": ["实业", "文化传媒", "环保科技", "农业发展"],
}
SUFFIXES = ["有限公司"] * 7 + ["股份有限公司", "有限责任公司", "集团有限公司"]
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
            "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴")
MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆建国志海东林峰文博晨"
FEMALE = "芳娜敏静丽艳娟霞秀玲燕红梅莉婷雪琳丹颖倩佳慧洁琴云华英萍月欣怡"
POSITIONS = ["总经理", "副总经理", "采购经理", "采购专员", "财务经理", "技术总监", "行政主管", "销售经理", "董事长",
             "办公室主任", "项目经理", "生产厂长"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
                   "156", "157", "158", "159", "180", "181", "182", "183", "186", "187", "188", "189"]
MAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"]
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "招商银行", "交通银行", "兴业银行", "浦发银行"]
PLACES = ["客户公司会议室", "我司会议室", "展会现场", "电话沟通", "微信视频", "客户工厂", "茶室"]
TOPICS = [("初次拜访，了解需求", "介绍公司产品线，客户对自动化改造有兴趣。"),
          ("产品演示", "现场演示新款设备，客户技术部提出若干参数问题。"),
          ("商务洽谈", "讨论年度采购框架协议，客户希望价格再优惠5%。"),
          ("合同签订", "双方签订采购合同，约定30天内交货。"),
          ("售后回访", "设备运行稳定，客户对安装服务满意。"),
          ("节日问候", "中秋节前送去月饼礼盒，与采购经理简单交流。"),
          ("技术交流", "双方工程师交流设备维护经验。"),
          ("价格谈判", "客户提出批量折扣要求，答应回去向主管申请。")]
PRODUCTS: list[tuple[str, str, str, int]] = [  # name, model, unit, price in yuan
    ("数控车床", "CK61", "台", 86000), ("立式加工中心", "VMC85", "台", 268000), ("伺服电机", "SM-80", "台", 2350),
    ("变频器", "VFD-75", "台", 3680), ("工业控制器", "PLC-200", "套", 5600), ("触摸屏", "HMI-10", "台", 2980),
    ("减速机", "RV-63", "台", 1450), ("气缸", "SC-50", "个", 320), ("电磁阀", "4V210", "个", 96),
    ("直线导轨", "HGR20", "米", 420), ("滚珠丝杠", "SFU1605", "根", 560), ("轴承", "6205-2RS", "套", 18),
    ("工业机器人", "IR-6", "台", 158000), ("传感器", "PS-12", "个", 145), ("配电柜", "GGD-1", "台", 12800),
    ("空气压缩机", "AC-37", "台", 23500), ("焊接设备", "NB-350", "台", 6800), ("激光切割机", "LC-3015", "台", 329000),
    ("办公软件", "OA-标准版", "套", 19800), ("仓储管理系统", "WMS-企业版", "套", 68000),
    ("服务器", "R740", "台", 42000), ("工业交换机", "IES-8", "台", 3200), ("监控摄像机", "IPC-4M", "台", 680),
    ("打印机", "LJ-M404", "台", 2600), ("安全帽", "ABS-V", "顶", 35), ("劳保手套", "NBR-12", "副", 8),
    ("润滑油", "L-HM46", "桶", 780), ("包装纸箱", "K5-60", "个", 6), ("不锈钢管", "304-50", "米", 95),
    ("铝型材", "4040", "米", 48),
]
WAREHOUSES = [("杭州总仓", "浙江省杭州市余杭区仓前街道良睦路1288号"), ("上海仓", "上海市闵行区莘庄工业区春东路508号"),
              ("广州仓", "广东省广州市白云区太和镇大源北路66号"), ("成都仓", "四川省成都市双流区西航港大道2000号"),
              ("武汉仓", "湖北省武汉市东西湖区走马岭街道汇通大道18号")]
ORDER_YEARS = 3


@dataclass
class DemoResult:
    """How many rows of each kind were generated."""

    customers: int = 0
    contacts: int = 0
    interactions: int = 0
    products: int = 0
    warehouses: int = 0
    inventory: int = 0
    orders: int = 0
    order_lines: int = 0
    promoted: int = 0
    seconds: float = 0.0


class _Faker:
    """Chinese names, phone numbers, companies and addresses from a seeded random source."""

    def __init__(self, rng: random.Random, regions: list[str]) -> None:
        self.rng = rng
        self.regions = regions
        self.cities = [r for r in regions if "/" in r]
        self.used_names: set[str] = set()

    def person(self) -> tuple[str, str]:
        rng = self.rng
        gender = "男" if rng.random() < 0.6 else "女"
        chars = MALE if gender == "男" else FEMALE
        given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.7 else "")
        return rng.choice(SURNAMES) + given, gender

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def landline(self, city: str) -> str:
        code = AREA_CODES.get(city, "0571")
        digits = 8 if len(code) == 3 or self.rng.random() < 0.7 else 7
        first = str(self.rng.randint(2, 8))
        return f"{code}-{first}{self.rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"

    def company(self, city: str, industry: str) -> str:
        rng = self.rng
        place = city.removesuffix("市").removesuffix("区").removesuffix("省")
        for attempt in range(20):
            word = rng.choice(NAME_CHARS) + rng.choice(NAME_CHARS) + (rng.choice(NAME_CHARS) if attempt > 5 else "")
            suffix = "厂" if industry == "制造业" and rng.random() < 0.08 else rng.choice(SUFFIXES)
            name = f"{place}{word}{rng.choice(INDUSTRY_WORDS.get(industry, INDUSTRY_WORDS['其他']))}{suffix}"
            if name not in self.used_names:
                break
        else:
            name = f"{name[:-4]}第{len(self.used_names)}分公司"
        self.used_names.add(name)
        return name

    def address(self, province: str, city: str) -> str:
        rng = self.rng
        if province.endswith("市"):  # municipalities: the "city" is the district
            return f"{province}{city}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
        district = rng.choice(DISTRICTS.get(city, ["经济开发区", "高新区", "城区"]))
        building = f"{rng.choice('ABCDEFG')}座{rng.randint(2, 28)}楼" if rng.random() < 0.4 else ""
        return f"{province}{city}{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号{building}"

    def postcode(self, province: str, city: str) -> str:
        prefix = POSTCODES.get(city) or POSTCODES.get(province, "310")
        return f"{prefix}{self.rng.randrange(1000):03d}"

    def tax_no(self, postcode: str) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        tail = "".join(self.rng.choice(alphabet) for _ in range(8))
        return f"91{postcode}MA{tail}"


def _next_id(table: Any) -> int:
    return int(db.session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert plain rows, one commit per chunk: COPY on PostgreSQL, executemany INSERTs elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        if db.engine.dialect.name == "postgresql":
            cursor = db.session.connection().connection.cursor()
            names = ", ".join(columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in chunk:
                    copy.write_row([row[column] for column in columns])
        else:
            db.session.execute(insert(table), chunk)
        db.session.commit()


def _reset_sequences(tables: list[Any]) -> None:
    if db.engine.dialect.name != "postgresql":
        return  # SQLite continues after the largest id by itself
    for table in tables:
        db.session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608  (our own table names)
            f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"))
    db.session.commit()


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _account_managers() -> list[int]:
    return list(db.session.scalars(
        select(User.id).join(User.roles).where(Role.code == "account_manager", User.active.is_(True))
        .order_by(User.id)))


def _weighted(rng: random.Random, items: list[str], weights: list[int]) -> str:
    return rng.choices(items, weights)[0]


def generate(*, customers: int, orders: int, seed: int = 2026,
             progress: Callable[[str], None] | None = None) -> DemoResult:
    """Add `customers` customers (with contacts and interactions) and `orders` orders; commits per chunk."""
    started = datetime.now()
    say = progress or (lambda message: None)
    rng = random.Random(seed)
    dictionary.seed_dictionary()
    db.session.commit()
    regions = dictionary.region_paths() or [f"{p}/{c}" for p, cities in dictionary.REGIONS.items() for c in cities]
    faker = _Faker(rng, regions)
    managers = _account_managers()
    creator = db.session.scalar(select(User.id).join(User.roles).where(Role.code == "admin").order_by(User.id))
    industries = dictionary.choices(dictionary.INDUSTRY) or list(dictionary.DEFAULTS[dictionary.INDUSTRY])
    sources = dictionary.choices(dictionary.SOURCE) or list(dictionary.DEFAULTS[dictionary.SOURCE])
    levels = dictionary.choices(dictionary.LEVEL) or list(dictionary.DEFAULTS[dictionary.LEVEL])
    level_weights = [75, 20, 5][:len(levels)] + [1] * max(0, len(levels) - 3)
    today = clock.now().date()
    result = DemoResult()

    products = _products(rng, result)
    customer_rows = _customers(customers, rng, faker, managers, creator, industries, sources, levels, level_weights,
                               today, result, say)
    if orders and not customer_rows:  # orders only: spread them over the customers already there
        customer_rows = [(cid, address or "", owner is not None) for cid, address, owner in db.session.execute(
            select(Customer.id, Customer.address, Customer.owner_id).order_by(Customer.id))]
    _orders(orders, rng, customer_rows, products, today, result, say)
    _reset_sequences([Customer.__table__, Contact.__table__, Interaction.__table__, Product.__table__,
                      Warehouse.__table__, InventoryItem.__table__, Order.__table__, OrderLine.__table__])
    result.promoted = _apply_level_rules(say)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    result.seconds = (datetime.now() - started).total_seconds()
    say(f"done in {result.seconds:.1f}s")
    return result


def _products(rng: random.Random, result: DemoResult) -> list[tuple[int, str, int]]:
    """The catalogue and warehouses, created once; (id, name, price in cents) of every product."""
    existing = list(db.session.execute(select(Product.id, Product.name, Product.price)).all())
    if existing:
        return [(int(pid), str(name), int(Decimal(str(price)) * 100)) for pid, name, price in existing]
    product_table: Any = Product.__table__
    warehouse_table: Any = Warehouse.__table__
    pid = _next_id(product_table)
    rows: list[dict[str, Any]] = []
    for index, (name, model, unit, price) in enumerate(PRODUCTS):
        rows.append({"id": pid + index, "code": f"P{pid + index:05d}", "name": name, "model": model,
                     "batch": f"B{2024 + index % 3}{rng.randint(1, 12):02d}", "unit": unit,
                     "price": _money(price * 100), "remarks": None})
    _insert(product_table, rows)
    wid = _next_id(warehouse_table)
    warehouses = [{"id": wid + i, "name": name, "address": address} for i, (name, address) in enumerate(WAREHOUSES)]
    _insert(warehouse_table, warehouses)
    now = clock.utcnow_naive()
    stock = [{"product_id": p["id"], "warehouse_id": w["id"], "quantity": rng.randint(0, 500), "updated_at": now}
             for p in rows for w in warehouses if rng.random() < 0.8]
    _insert(InventoryItem.__table__, stock)
    result.products, result.warehouses, result.inventory = len(rows), len(warehouses), len(stock)
    return [(int(p["id"]), str(p["name"]), int(price) * 100)
            for p, (_n, _m, _u, price) in zip(rows, PRODUCTS, strict=True)]


def _stamp(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(1, 10), rng.randint(0, 59)))  # 09:00–18:00 in Beijing, as UTC


def _customers(count: int, rng: random.Random, faker: _Faker, managers: list[int], creator: int | None,
               industries: list[str], sources: list[str], levels: list[str], level_weights: list[int],
               today: date, result: DemoResult, say: Callable[[str], None]) -> list[tuple[int, str, bool]]:
    """Insert customers with 1–3 contacts and 0–3 interactions; (id, address, has owner) per customer."""
    customer_table: Any = Customer.__table__
    contact_table: Any = Contact.__table__
    interaction_table: Any = Interaction.__table__
    next_customer, next_contact = _next_id(customer_table), _next_id(contact_table)
    next_interaction = _next_id(interaction_table)
    made: list[tuple[int, str, bool]] = []
    for start in range(0, count, CHUNK):
        batch, contacts, interactions = [], [], []
        for _ in range(min(CHUNK, count - start)):
            cid = next_customer
            next_customer += 1
            region = rng.choice(faker.cities if rng.random() < 0.9 else faker.regions)
            province, _, city = region.partition("/")
            city = city or province
            industry = rng.choice(industries)
            owner = rng.choice(managers) if managers and rng.random() >= POOL_SHARE else None
            created = today - timedelta(days=rng.randint(0, 4 * 365))
            legal, _gender = faker.person()
            contact_name, contact_gender = faker.person()
            postcode = faker.postcode(province, city)
            address = faker.address(province, city)
            name = faker.company(city, industry)
            created_at = _stamp(created, rng)
            batch.append({
                "id": cid, "number": f"KH{cid:06d}", "name": name,
                "short_name": name.removesuffix("有限公司").removesuffix("股份")[:60] if rng.random() < 0.5 else None,
                "region": region, "industry": industry, "source": rng.choice(sources),
                "level": _weighted(rng, levels, level_weights), "satisfaction": rng.choice([3, 3, 4, 4, 4, 5, 5, 2, 1]),
                "credit": rng.choice([3, 4, 4, 5, 5, 2]), "contact_name": contact_name,
                "phone": faker.landline(city), "fax": faker.landline(city) if rng.random() < 0.3 else None,
                "website": f"www.{cid:x}{rng.choice(['tech', 'group', 'china', 'cn'])}.com.cn"
                if rng.random() < 0.3 else None,
                "address": address, "postcode": postcode, "licence_no": None, "legal_representative": legal,
                "registered_capital": _money(rng.choice([50, 100, 200, 500, 1000, 2000, 5000]) * 10_000 * 100),
                "annual_turnover": _money(rng.randint(100, 50_000) * 10_000 * 100) if rng.random() < 0.6 else None,
                "bank": f"{rng.choice(BANKS)}{city}分行", "bank_account": f"{rng.randrange(10**18):019d}",
                "tax_no": faker.tax_no(postcode), "remarks": None,
                "status": "已流失" if rng.random() < 0.04 else "正常", "owner_id": owner, "opportunity_id": None,
                "created_at": created_at, "updated_at": created_at, "created_by_id": owner or creator,
                "updated_by_id": owner or creator,
            })
            for index in range(rng.choice([1, 1, 2, 2, 3])):
                person, gender = (contact_name, contact_gender) if index == 0 else faker.person()
                mobile = faker.mobile()
                contacts.append({
                    "id": next_contact, "customer_id": cid, "name": person, "gender": gender,
                    "position": rng.choice(POSITIONS), "office_phone": f"{batch[-1]['phone']}-{rng.randint(801, 899)}",
                    "mobile": mobile, "email": f"{mobile}@{rng.choice(MAIL_DOMAINS)}" if rng.random() < 0.6 else None,
                    "birthday": date(rng.randint(1962, 1998), rng.randint(1, 12), rng.randint(1, 28)),
                    "remarks": None, "created_at": created_at, "updated_at": created_at,
                    "created_by_id": owner or creator, "updated_by_id": owner or creator,
                })
                next_contact += 1
            for _i in range(rng.choice([0, 1, 1, 2, 3]) if owner else 0):
                summary, detail = rng.choice(TOPICS)
                day = created + timedelta(days=rng.randint(0, max(0, (today - created).days)))
                interactions.append({
                    "id": next_interaction, "customer_id": cid, "date": day, "place": rng.choice(PLACES),
                    "summary": summary, "detail": detail, "remarks": None, "created_at": _stamp(day, rng),
                    "updated_at": _stamp(day, rng), "created_by_id": owner, "updated_by_id": owner,
                })
                next_interaction += 1
            made.append((cid, address, owner is not None))
        _insert(customer_table, batch)
        _insert(contact_table, contacts)
        _insert(interaction_table, interactions)
        result.customers += len(batch)
        result.contacts += len(contacts)
        result.interactions += len(interactions)
        say(f"customers {result.customers}/{count} (contacts {result.contacts}, interactions {result.interactions})")
    return made


def _order_statuses(rng: random.Random, age_days: int) -> int:
    if age_days > 60:
        return 6 if rng.random() < 0.85 else 5
    if age_days > 20:
        return rng.choice([4, 5, 5, 6, 6])
    return rng.choice([1, 2, 3, 4, 5])


def _orders(count: int, rng: random.Random, customers: list[tuple[int, str, bool]],
            products: list[tuple[int, str, int]], today: date, result: DemoResult,
            say: Callable[[str], None]) -> None:
    """Insert orders of 1–4 lines over the last three years; a customer's orders come from one address."""
    if not customers or not count:
        return
    order_table: Any = Order.__table__
    line_table: Any = OrderLine.__table__
    next_order, next_line = _next_id(order_table), _next_id(line_table)
    # A few customers order a lot, most a little; pool customers order rarely.
    active = [c for c in customers if c[2]] or customers
    span = ORDER_YEARS * 365
    for start in range(0, count, CHUNK):
        orders, lines = [], []
        for _ in range(min(CHUNK, count - start)):
            pool = customers if rng.random() < 0.05 else active
            cid, address, _owned = pool[int(len(pool) * rng.random() ** 2)]
            age = rng.randint(0, span)
            day = today - timedelta(days=age)
            total = 0
            for _l in range(rng.choice([1, 1, 2, 2, 3, 4])):
                pid, pname, price = rng.choice(products)
                quantity = rng.randint(1, 5) if price > 1_000_000 else rng.randint(1, 60)
                unit = price * rng.randint(85, 100) // 100
                amount = unit * quantity
                total += amount
                lines.append({"id": next_line, "order_id": next_order, "product_id": pid, "product_name": pname,
                              "quantity": quantity, "unit_price": _money(unit), "amount": _money(amount)})
                next_line += 1
            orders.append({"id": next_order, "number": f"DD{day:%Y%m%d}{next_order:07d}", "customer_id": cid,
                           "order_date": day, "status": _order_statuses(rng, age), "total": _money(total),
                           "address": address, "created_at": _stamp(day, rng)})
            next_order += 1
        _insert(order_table, orders)
        _insert(line_table, lines)
        result.orders += len(orders)
        result.order_lines += len(lines)
        if result.orders % (CHUNK * 10) == 0 or result.orders == count:
            say(f"orders {result.orders}/{count} (lines {result.order_lines})")


def _apply_level_rules(say: Callable[[str], None]) -> int:
    """Promote customers by the configured level rules, when that service exists."""
    try:
        from bpm_crm.services import levels
    except ImportError:
        return 0
    apply_rules = getattr(levels, "apply_rules", None)
    if apply_rules is None:
        return 0
    outcome = apply_rules(user_id=None)
    db.session.commit()
    changed = int(getattr(outcome, "changed", 0) or 0)
    say(f"level rules applied: {changed} customers promoted")
    return changed
