"""Typed model of a themed service (主题事项), its materials and the shared material catalogue.

The YAML sources in ``knowledge/data`` are parsed into these models; every other part
(routing, answers, pre-review, editor, guide pages) reads the same objects.  Types are
used wherever a guide element has structure, so that "多久能办好" is computed from
numbers rather than copied from prose.

Pydantic v1 is used because Rasa 3.6 pins ``pydantic<1.10.10``.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Dict, List

from pydantic import BaseModel, Field, root_validator, validator

SERVICE_ID = re.compile(r"^T\d{3}$")
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


class Strict(BaseModel):
    """Base: unknown keys are errors, so a typo in YAML never silently drops content."""

    class Config:
        extra = "forbid"
        anystr_strip_whitespace = True
        validate_assignment = True


# ---------------------------------------------------------------- enums


class ItemType(str, Enum):
    行政许可 = "行政许可"
    行政确认 = "行政确认"
    行政给付 = "行政给付"
    行政奖励 = "行政奖励"
    行政裁决 = "行政裁决"
    行政备案 = "行政备案"
    其他行政权力 = "其他行政权力"
    公共服务 = "公共服务"


class ServiceObject(str, Enum):
    自然人 = "自然人"
    法人 = "法人"
    非法人组织 = "非法人组织"


class Audience(str, Enum):
    个人 = "个人"
    企业 = "企业"


class TimeUnit(str, Enum):
    工作日 = "工作日"
    自然日 = "自然日"


class MaterialSource(str, Enum):
    申请人提交 = "申请人提交"
    电子证照免提交 = "电子证照免提交"
    数据共享免提交 = "数据共享免提交"


class MaterialForm(str, Enum):
    原件 = "原件"
    复印件 = "复印件"
    原件和复印件 = "原件和复印件"
    电子文件 = "电子文件"


class Medium(str, Enum):
    纸质 = "纸质"
    电子 = "电子"
    纸质或电子 = "纸质或电子"


class Requirement(str, Enum):
    必需 = "必需"
    按情形提供 = "按情形提供"


class Channel(str, Enum):
    网上办理 = "网上办理"
    掌上办理 = "掌上办理"
    窗口办理 = "窗口办理"
    自助终端办理 = "自助终端办理"
    邮寄办理 = "邮寄办理"


class Scope(str, Enum):
    属地办理 = "属地办理"
    全市通办 = "全市通办"
    全省通办 = "全省通办"
    跨省通办 = "跨省通办"
    全国通办 = "全国通办"


class FileType(str, Enum):
    jpg = "jpg"
    png = "png"
    pdf = "pdf"


class Checksum(str, Enum):
    gb11643 = "gb11643"  # 居民身份号码
    gb32100 = "gb32100"  # 统一社会信用代码


class Holder(str, Enum):
    """Whose document it is: lets pre-review compare names and ID numbers across files."""

    申请人 = "申请人"
    父亲 = "父亲"
    母亲 = "母亲"
    配偶 = "配偶"
    子女 = "子女"
    新生儿 = "新生儿"
    逝者 = "逝者"
    继承人 = "继承人"
    收养人 = "收养人"
    被收养人 = "被收养人"
    代理人 = "代理人"
    法定代表人 = "法定代表人"
    企业 = "企业"
    其他 = "其他"


# ---------------------------------------------------------------- small value types


class LegalRef(Strict):
    """A law, regulation or normative document, with the article that applies."""

    law: str = Field(..., min_length=4)
    article: str = ""
    note: str = ""

    @validator("law")
    def law_in_book_title_marks(cls, v: str) -> str:
        if not (v.startswith("《") and "》" in v):
            raise ValueError("法规名称须用书名号，例如《中华人民共和国行政许可法》")
        return v

    def cite(self) -> str:
        return f"{self.law}{self.article}"


class TimeLimit(Strict):
    """A time limit; ``days == 0`` means 即办件 (done on the spot)."""

    days: int = Field(..., ge=0, le=365)
    unit: TimeUnit = TimeUnit.工作日
    note: str = ""

    @property
    def kind(self) -> str:
        return "即办件" if self.days == 0 else "承诺件"

    def short(self) -> str:
        return "即办" if self.days == 0 else f"{self.days}个{self.unit.value}"

    def text(self) -> str:
        base = "即办（当场办结）" if self.days == 0 else f"{self.days}个{self.unit.value}"
        return f"{base}，{self.note}" if self.note else base


class FeeItem(Strict):
    name: str
    amount: float = Field(..., ge=0)
    unit: str = Field(..., description="计费单位，如 元/本、元/件")
    note: str = ""


class Fee(Strict):
    """收费标准 + 收费依据. ``free`` services carry no items."""

    free: bool
    items: List[FeeItem] = []
    basis: List[LegalRef] = []
    note: str = ""

    @root_validator(skip_on_failure=True)
    def consistent(cls, values: dict) -> dict:
        if values["free"] and values["items"]:
            raise ValueError("不收费的事项不能列出收费项目")
        if not values["free"] and not (values["items"] and values["basis"]):
            raise ValueError("收费事项须列出收费项目和收费依据")
        return values


class Step(Strict):
    step: str
    actor: str
    description: str = Field(..., min_length=4)
    time_limit: str = ""


class Flag(Strict):
    """A yes/no guide element with the how (预约办理, 网上支付, 物流快递)."""

    supported: bool
    channels: List[str] = []
    note: str = ""


class Deferral(Strict):
    """容缺受理: which materials may follow after acceptance, under a written commitment."""

    allowed: bool
    materials: List[str] = []
    deadline_days: int = Field(0, ge=0, le=60)
    note: str = ""

    @root_validator(skip_on_failure=True)
    def consistent(cls, values: dict) -> dict:
        if values["allowed"] and (not values["materials"] or not values["deadline_days"]):
            raise ValueError("允许容缺受理时须列出可容缺的材料和补交期限")
        if not values["allowed"] and values["materials"]:
            raise ValueError("不允许容缺受理时不能列出容缺材料")
        return values


class Place(Strict):
    """Where to go: a hall from the city profile and the window inside it."""

    hall: str
    window: str = ""
    note: str = ""


class FAQ(Strict):
    q: str = Field(..., min_length=6)
    a: str = Field(..., min_length=15)


# ---------------------------------------------------------------- parts of a service


class Scenario(Strict):
    """A 情形: selects which single items and materials apply."""

    id: str
    name: str
    description: str = ""

    @validator("id")
    def slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("情形 id 须为小写字母、数字和下划线，以字母开头")
        return v


class SingleItem(Strict):
    """A single item (单一事项) bundled into the themed service."""

    name: str
    department: str
    item_type: ItemType
    legal_limit: TimeLimit
    promised_limit: TimeLimit
    after: List[str] = []
    result: str
    scenarios: List[str] = []
    note: str = ""

    @root_validator(skip_on_failure=True)
    def promise_not_longer_than_law(cls, values: dict) -> dict:
        legal, promised = values["legal_limit"], values["promised_limit"]
        if legal.unit == promised.unit and promised.days > legal.days > 0:
            raise ValueError("承诺办结时限不能长于法定办结时限")
        return values


class FormatRule(Strict):
    types: List[FileType] = []
    max_mb: float | None = Field(None, gt=0, le=50)
    min_width: int | None = Field(None, gt=0)
    pages: str = ""


class ServiceMaterial(Strict):
    """One entry of the merged material list (一套材料)."""

    name: str
    catalogue: str
    source: MaterialSource
    form: MaterialForm = MaterialForm.原件
    copies: int = Field(1, ge=0, le=10)
    medium: Medium = Medium.纸质或电子
    requirement: Requirement = Requirement.必需
    scenarios: List[str] = []
    used_by: List[str] = Field(..., min_items=1)
    holder: Holder = Holder.申请人
    format: FormatRule | None = None
    note: str = ""

    @root_validator(skip_on_failure=True)
    def conditional_has_scenarios(cls, values: dict) -> dict:
        if values["requirement"] == Requirement.按情形提供 and not values["scenarios"]:
            raise ValueError("按情形提供的材料须写明适用的情形 scenarios")
        return values

    @property
    def must_submit(self) -> bool:
        return self.source == MaterialSource.申请人提交


class Service(Strict):
    """A themed service (主题事项) with everything its guide needs."""

    id: str
    name: str
    domain: str
    audience: Audience
    item_type: ItemType
    service_objects: List[ServiceObject] = Field(..., min_items=1)
    summary: str = Field(..., min_length=10, max_length=200)
    aliases: List[str] = Field(..., min_items=5)
    resident_questions: List[str] = []
    lead_department: str
    cooperating_departments: List[str] = []
    legal_basis: List[LegalRef] = Field(..., min_items=1)
    conditions: List[str] = Field(..., min_items=1)
    scenarios: List[Scenario] = []
    single_items: List[SingleItem] = Field(..., min_items=1)
    materials: List[ServiceMaterial] = Field(..., min_items=1)
    fee: Fee
    deferral: Deferral
    process: List[Step] = Field(..., min_items=2)
    review_standards: List[str] = Field(..., min_items=1)
    channels: List[Channel] = Field(..., min_items=1)
    scope: Scope
    appointment: Flag
    online_payment: Flag
    delivery: Flag
    visits: int = Field(..., ge=0, le=5)
    places: List[Place] = Field(..., min_items=1)
    faqs: List[FAQ] = Field(..., min_items=3)

    @validator("id")
    def id_form(cls, v: str) -> str:
        if not SERVICE_ID.match(v):
            raise ValueError("事项 id 须为 T 加三位数字，如 T001")
        return v

    @property
    def online(self) -> bool:
        return bool({Channel.网上办理, Channel.掌上办理} & set(self.channels))

    def item(self, name: str) -> SingleItem | None:
        return next((i for i in self.single_items if i.name == name), None)

    def material(self, name: str) -> ServiceMaterial | None:
        return next((m for m in self.materials if m.name == name), None)

    def materials_for(self, scenario: str | None) -> List[ServiceMaterial]:
        """The merged list for one scenario (all scenarios when ``None``)."""
        if scenario is None:
            return list(self.materials)
        return [m for m in self.materials if not m.scenarios or scenario in m.scenarios]

    def items_for(self, scenario: str | None) -> List[SingleItem]:
        if scenario is None:
            return list(self.single_items)
        return [i for i in self.single_items if not i.scenarios or scenario in i.scenarios]


# ---------------------------------------------------------------- material catalogue


class Recognition(Strict):
    """How pre-review tells this document from others by its OCR text and shape."""

    keywords: List[str] = Field(..., min_items=1)
    min_hits: int = Field(1, ge=1)
    aspect_ratio: float | None = Field(None, gt=0)
    layout: str = ""


class Validity(Strict):
    field: str
    long_term_ok: bool = True


class MaterialType(Strict):
    """An entry in the shared material catalogue (居民身份证, 营业执照 …)."""

    id: str
    name: str
    category: str
    issuer: str = ""
    e_certificate: bool = False
    recognition: Recognition
    fields: List[str] = []
    validity: Validity | None = None
    checksums: List[Checksum] = []
    needs_seal: bool = False
    needs_signature: bool = False
    format: FormatRule = FormatRule(types=[FileType.jpg, FileType.png, FileType.pdf], max_mb=10, min_width=None)
    description: str = ""

    @validator("id")
    def slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("材料目录 id 须为小写字母、数字和下划线，以字母开头")
        return v


class MaterialCatalogue(Strict):
    materials: List[MaterialType]

    def by_id(self) -> Dict[str, MaterialType]:
        return {m.id: m for m in self.materials}


# ---------------------------------------------------------------- city profile


class Hours(Strict):
    days: str = Field(..., description="如 周一至周五")
    open: str
    close: str
    note: str = ""

    @validator("open", "close")
    def clock(cls, v: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("时间须为 HH:MM")
        return v


class Hall(Strict):
    name: str
    address: str
    hours: List[Hours] = Field(..., min_items=1)
    phone: str = ""
    transport: str = ""
    note: str = ""


class Department(Strict):
    full_name: str
    hotline: str = ""
    website: str = ""


class CityProfile(Strict):
    """Everything city-specific; a deployment replaces this one file."""

    city: str
    region_code: str = Field(..., regex=r"^\d{6}$")
    portal_name: str
    portal_url: str
    app_name: str
    wechat_name: str
    hotline: str
    notice_prefix: str
    complaint_channels: List[str] = Field(..., min_items=1)
    districts: List[str] = []
    departments: Dict[str, Department]
    halls: Dict[str, Hall]
