"""Synthetic documents for tests and evaluation, rendered with the CJK font, deterministic for a seed.

Every document is drawn from data (a person, a company, dates), photographed onto a desk-coloured
background, and saved as real JPG/PNG/PDF bytes; defects are injected by changing the data (a wrong check
digit, an expiry date in the past, another name) or the picture (blur, darkness, a crop).  ``cases()`` returns
whole submissions with the defects each one must produce, which ``prereview.evaluate`` scores.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Callable, Dict, List, Sequence, Tuple

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from prereview.checksums import CREDIT_CHARSET, credit_check_char, id_check_char, org_code_check_char

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
TODAY = date(2026, 3, 2)  # corpus "today": expiry is judged against the review date passed in

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国文辉志红梅鹏飞宇欣怡浩然子涵雨轩思远嘉琪佳慧晨阳俊杰"
REGIONS = ("110105", "110108", "310104", "440305", "350102", "320106", "510107", "420106", "330106", "370102")
STREETS = ("朝阳路", "中关村大街", "建国门外大街", "西长安街", "学院路", "望京街", "丰台北路", "复兴路")
COMPANIES = ("北京云帆科技有限公司", "北京安和商贸有限公司", "北京明德咨询有限公司", "北京青禾食品有限公司")

PAPER = (250, 250, 246)
INK = (25, 25, 30)
RED = (215, 30, 35)


# ---------------------------------------------------------------- data


@dataclass
class Person:
    name: str
    id_number: str
    sex: str
    born: date
    address: str


@dataclass
class Company:
    name: str
    credit_code: str
    legal_rep: str
    founded: date
    term_end: date | None  # None: 长期


def make_id(rng: random.Random, born: date, female: bool) -> str:
    seq = rng.randrange(10, 99) * 10 + (rng.choice([0, 2, 4, 6, 8]) if female else rng.choice([1, 3, 5, 7, 9]))
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{seq:03d}"
    return body + id_check_char(body)


def make_person(rng: random.Random) -> Person:
    female = rng.random() < 0.5
    born = date(rng.randrange(1960, 2000), rng.randrange(1, 13), rng.randrange(1, 28))
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
    address = f"北京市朝阳区{rng.choice(STREETS)}{rng.randrange(1, 200)}号院{rng.randrange(1, 20)}号楼{rng.randrange(101, 2500)}"
    return Person(name, make_id(rng, born, female), "女" if female else "男", born, address)


def make_credit_code(rng: random.Random) -> str:
    org8 = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    body = "91" + "110105" + org8 + org_code_check_char(org8)
    return body + credit_check_char(body)


def make_company(rng: random.Random, person: Person) -> Company:
    return Company(rng.choice(COMPANIES), make_credit_code(rng), person.name, date(2016, 5, 3), None)


def wrong_check(number: str, charset: str = "0123456789X") -> str:
    """The same number with a different last character (a typo the checksum must catch)."""
    return number[:-1] + next(c for c in charset if c != number[-1])


# ---------------------------------------------------------------- drawing


_fonts: Dict[int, ImageFont.FreeTypeFont] = {}


def font(size: int) -> ImageFont.FreeTypeFont:
    if size not in _fonts:
        _fonts[size] = ImageFont.truetype(FONT_PATH, size)
    return _fonts[size]


def draw_seal(img: Image.Image, cx: int, cy: int, r: int, text: str) -> None:
    """A red round seal: double ring, five-point star, text around the upper arc."""
    d = ImageDraw.Draw(img)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=RED, width=max(3, r // 14))
    star = []
    for k in range(10):
        rad = r * (0.28 if k % 2 == 0 else 0.11)
        a = -math.pi / 2 + k * math.pi / 5
        star.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    d.polygon(star, fill=RED)
    size = max(12, r // 4)
    n = len(text)
    for i, ch in enumerate(text):
        a = math.radians(-150 + 120 * i / max(1, n - 1))
        x, y = cx + 0.7 * r * math.cos(a), cy + 0.7 * r * math.sin(a)
        glyph = Image.new("RGBA", (size + 4, size + 4), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((2, 0), ch, font=font(size), fill=RED)
        glyph = glyph.rotate(-math.degrees(a) - 90, expand=True)
        img.paste(glyph, (int(x - glyph.width / 2), int(y - glyph.height / 2)), glyph)


def draw_signature(img: Image.Image, x: int, y: int, rng: random.Random, width: int = 150) -> None:
    """A handwritten-looking scribble: a few smooth strokes in dark blue ink."""
    d = ImageDraw.Draw(img)
    for stroke in range(3):
        pts = []
        x0 = x + stroke * width // 3
        for t in range(24):
            u = t / 23
            pts.append((x0 + u * width / 2.6 + 6 * math.sin(u * 9 + stroke),
                        y + 18 * math.sin(u * 6.5 + rng.random()) + 6 * stroke))
        d.line(pts, fill=(20, 30, 110), width=4, joint="curve")


def page(width: int, height: int) -> Tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (width, height), PAPER)
    return img, ImageDraw.Draw(img)


def text_lines(d: ImageDraw.ImageDraw, x: int, y: int, lines: Sequence[str], size: int, gap: float = 1.9) -> int:
    for line in lines:
        d.text((x, y), line, font=font(size), fill=INK)
        y += int(size * gap)
    return y


def photograph(doc: Image.Image, margin: int = 40, tone: Tuple[int, int, int] = (92, 96, 104)) -> Image.Image:
    """The document lying on a desk, as a phone photo would show it."""
    out = Image.new("RGB", (doc.width + 2 * margin, doc.height + 2 * margin), tone)
    out.paste(doc, (margin, margin))
    return out


def id_front(p: Person, labels_apart: bool = False) -> Image.Image:
    if labels_apart:
        return _id_front_printed(p)
    img, d = page(856, 540)
    img.paste((236, 242, 248), (0, 0, 856, 540))
    y = text_lines(d, 50, 45, [f"姓名  {p.name}", f"性别  {p.sex}    民族  汉"], 30)
    y = text_lines(d, 50, y, [f"出生  {p.born.year}年{p.born.month}月{p.born.day}日"], 30)
    addr = p.address
    y = text_lines(d, 50, y, ["住址  " + addr[:13], "      " + addr[13:]], 30, 1.5)
    d.text((50, 455), f"公民身份号码  {p.id_number}", font=font(30), fill=INK)
    d.rectangle((610, 60, 800, 300), fill=(205, 212, 222))
    d.ellipse((655, 95, 755, 195), fill=(170, 178, 190))
    d.rectangle((640, 205, 770, 300), fill=(170, 178, 190))
    return img


def _id_front_printed(p: Person) -> Image.Image:
    """The portrait side as the real card prints it: small blue labels, the values well apart in black, so
    OCR returns a label and its value as separate boxes."""
    img, d = page(856, 540)
    img.paste((236, 242, 248), (0, 0, 856, 540))
    blue = (40, 90, 160)
    rows = [("姓名", p.name, 50), ("性别", f"{p.sex}", 125), ("出生", f"{p.born.year}年{p.born.month}月{p.born.day}日", 200),
            ("住址", p.address[:13], 275)]
    for label, value, y in rows:
        d.text((50, y + 6), label, font=font(22), fill=blue)
        d.text((175, y), value, font=font(32), fill=INK)
    d.text((175, 330), p.address[13:], font=font(32), fill=INK)
    d.text((330, 125 + 6), "民族", font=font(22), fill=blue)
    d.text((420, 125), "汉", font=font(32), fill=INK)
    d.text((50, 460), "公民身份号码", font=font(22), fill=blue)
    d.text((270, 452), p.id_number, font=font(34), fill=INK)
    d.rectangle((610, 60, 800, 300), fill=(205, 212, 222))
    d.ellipse((655, 95, 755, 195), fill=(170, 178, 190))
    d.rectangle((640, 205, 770, 300), fill=(170, 178, 190))
    return img


def id_back(issued: date, until: date | None) -> Image.Image:
    img, d = page(856, 540)
    img.paste((236, 242, 248), (0, 0, 856, 540))
    d.text((250, 90), "中华人民共和国", font=font(52), fill=INK)
    d.text((290, 170), "居民身份证", font=font(50), fill=INK)
    end = "长期" if until is None else f"{until:%Y.%m.%d}"
    text_lines(d, 120, 330, ["签发机关  北京市公安局朝阳分局", f"有效期限  {issued:%Y.%m.%d}-{end}"], 30)
    return img


def household_front(head: Person, number: str) -> Image.Image:
    img, d = page(820, 1100)
    d.text((250, 60), "居民户口簿", font=font(56), fill=INK)
    d.rectangle((60, 190, 760, 820), outline=INK, width=2)
    text_lines(d, 90, 230, ["户别  家庭户", f"户主姓名  {head.name}", f"户号  {number}", "住址  " + head.address[:14],
                            "      " + head.address[14:], "登记机关  北京市公安局朝阳分局"], 30, 2.2)
    draw_seal(img, 560, 930, 105, "户口专用章")
    return img


def household_person(p: Person, relation: str) -> Image.Image:
    img, d = page(820, 1100)
    d.text((230, 60), "常住人口登记卡", font=font(50), fill=INK)
    rows = [f"姓名  {p.name}", f"户主或与户主关系  {relation}", f"性别  {p.sex}   民族  汉", f"出生日期  {p.born:%Y年%m月%d日}",
            "籍贯  北京市", f"公民身份号码  {p.id_number}", "文化程度  大学本科", "婚姻状况  已婚", "登记日期  2012年06月18日"]
    text_lines(d, 80, 200, rows, 30, 2.3)
    return img


def business_license(c: Company, seal: bool = True, legacy_number: str = "") -> Image.Image:
    img, d = page(1100, 780)
    d.rectangle((20, 20, 1080, 760), outline=(180, 140, 60), width=6)
    d.text((420, 60), "营业执照", font=font(64), fill=INK)
    code = f"注册号  {legacy_number}" if legacy_number else f"统一社会信用代码  {c.credit_code}"
    d.text((70, 170), code, font=font(26), fill=INK)
    end = "长期" if c.term_end is None else f"{c.term_end:%Y年%m月%d日}"
    rows = [f"名称  {c.name}", "类型  有限责任公司（自然人投资或控股）", f"法定代表人  {c.legal_rep}",
            "经营范围  技术开发、技术咨询、技术服务", "注册资本  100万元", f"成立日期  {c.founded:%Y年%m月%d日}",
            f"营业期限  {c.founded:%Y年%m月%d日}至{end}", "住所  北京市朝阳区望京街10号"]
    text_lines(d, 70, 240, rows, 27, 1.8)
    d.text((700, 640), "登记机关", font=font(28), fill=INK)
    d.text((700, 690), "2024年05月03日", font=font(26), fill=INK)
    if seal:
        draw_seal(img, 900, 640, 95, "北京市朝阳区市场监督管理局")
    return img


def marriage_certificate(a: Person, b: Person, when: date, seal: bool = True) -> Image.Image:
    img, d = page(1000, 720)
    d.text((400, 40), "结婚证", font=font(54), fill=INK)
    rows = [f"持证人  {a.name}", f"登记日期  {when:%Y年%m月%d日}", f"结婚证字号  J110105-{when.year}-00{when.month}{when.day}8",
            f"姓名  {a.name}   性别  {a.sex}   国籍  中国", f"身份证件号  {a.id_number}",
            f"姓名  {b.name}   性别  {b.sex}   国籍  中国", f"身份证件号  {b.id_number}"]
    text_lines(d, 60, 140, rows, 27, 1.95)
    if seal:
        draw_seal(img, 820, 560, 95, "婚姻登记专用章")
    return img


def application_form(title: str, p: Person, rng: random.Random, signed: bool = True) -> Image.Image:
    img, d = page(820, 1100)
    d.text((90, 60), title, font=font(40), fill=INK)
    rows = [f"申请人  {p.name}", f"公民身份号码  {p.id_number}", "联系电话  13800138000",
            "申请事项  婚后夫妻投靠落户", "申请理由  与配偶共同生活，申请将户口迁入配偶户籍所在地"]
    y = text_lines(d, 70, 170, rows, 26, 2.2)
    y = text_lines(d, 70, y + 20, ["本人承诺所填信息真实有效。"], 26)
    d.text((70, y + 80), "申请人签字：", font=font(28), fill=INK)
    if signed:
        draw_signature(img, 270, y + 85, rng)
    d.text((70, y + 190), f"申请日期  {TODAY:%Y年%m月%d日}", font=font(26), fill=INK)
    return img


def power_of_attorney(principal: Person, agent: Person, rng: random.Random, signed: bool = True) -> Image.Image:
    img, d = page(820, 1100)
    d.text((290, 60), "授权委托书", font=font(44), fill=INK)
    rows = [f"委托人  {principal.name}", f"公民身份号码  {principal.id_number}", f"受托人  {agent.name}",
            f"公民身份号码  {agent.id_number}", "委托事项  代为申请开具无犯罪记录证明", "委托期限  自签字之日起三个月"]
    y = text_lines(d, 70, 170, rows, 26, 2.2)
    d.text((70, y + 80), "委托人签字：", font=font(28), fill=INK)
    if signed:
        draw_signature(img, 270, y + 85, rng)
    d.text((70, y + 190), f"日期  {TODAY:%Y年%m月%d日}", font=font(26), fill=INK)
    return img


def photo_receipt(p: Person, number: str) -> Image.Image:
    img, d = page(700, 460)
    d.text((200, 40), "数码相片回执", font=font(40), fill=INK)
    text_lines(d, 60, 140, [f"回执编号  {number}", f"姓名  {p.name}", "采集日期  2026年02月20日", "采集点  朝阳区数码照相服务点"], 26, 1.9)
    d.rectangle((520, 150, 650, 320), fill=(200, 200, 205))
    return img


def shopping_receipt() -> Image.Image:
    """Something that is no government document at all (sent in place of one)."""
    img, d = page(620, 900)
    d.text((190, 40), "购物小票", font=font(44), fill=INK)
    rows = ["门店  朝阳路便利店", "收银员  0231", "矿泉水      2.00", "面包        6.50", "牛奶        8.80",
            "苹果       12.60", "合计       29.90", "支付方式  移动支付", "谢谢惠顾  欢迎再次光临"]
    text_lines(d, 60, 140, rows, 28, 2.1)
    return img


# ---------------------------------------------------------------- picture defects


def blur(img: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(4))


def darken(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(0.22)


def overexpose(img: Image.Image) -> Image.Image:
    return img.point(lambda v: min(255, int(v * 0.3 + 185)))


def cut_right(img: Image.Image, share: float = 0.3) -> Image.Image:
    return img.crop((0, 0, int(img.width * (1 - share)), img.height))


def shrink(img: Image.Image, width: int = 300) -> Image.Image:
    return img.resize((width, int(img.height * width / img.width)))


def turn(img: Image.Image, angle: int) -> Image.Image:
    """The photo as a phone saves it when held sideways or upside down (no EXIF orientation to undo it)."""
    return img.rotate(angle, expand=True)


def skew(img: Image.Image, amount: float = 0.05, tone: Tuple[int, int, int] = (92, 96, 104)) -> Image.Image:
    """Photographed at a slight angle: the far (top) edge narrower and a little tilted, the desk showing around it."""
    import numpy as np

    w, h = img.size
    d = amount * w
    corners = [(d, d * 0.4), (w - d * 0.7, 0.0), (float(w), float(h)), (0.0, h - d * 0.3)]  # where the corners land
    source = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(corners, source):  # output (x, y) → input (u, v)
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return img.transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC, fillcolor=tone)


# ---------------------------------------------------------------- encodings


def jpg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pdf(images: Sequence[Image.Image | None]) -> bytes:
    """A PDF with one page per image (``None``: a blank A4 page)."""
    from fpdf import FPDF

    doc = FPDF(unit="pt", format="A4")
    for img in images:
        doc.add_page()
        if img is not None:
            w = doc.w - 72
            h = w * img.height / img.width
            doc.image(img, x=36, y=36, w=w, h=min(h, doc.h - 72))
    return bytes(doc.output())


def encrypted_pdf(img: Image.Image) -> bytes:
    from fpdf import FPDF

    doc = FPDF(unit="pt", format="A4")
    doc.set_encryption(owner_password="owner", user_password="secret")
    doc.add_page()
    doc.image(img, x=36, y=36, w=doc.w - 72)
    return bytes(doc.output())


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header promises 900 million pixels: decoding it would need gigabytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * (width // 8 + 1)
    raw = zlib.compress(row * 64, 9)  # only the first rows: the header is what matters
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def many_pages_pdf(pages: int = 500) -> bytes:
    from fpdf import FPDF

    doc = FPDF(unit="pt", format="A5")
    doc.add_font("wqy", fname=FONT_PATH)
    doc.set_font("wqy", size=14)
    for i in range(pages):
        doc.add_page()
        doc.cell(0, 20, f"第{i + 1}页")
    return bytes(doc.output())


# ---------------------------------------------------------------- cases


@dataclass
class Upload:
    name: str
    data: bytes
    material: str | None = None  # declared service material name, None: classify by content


@dataclass
class Case:
    """A whole submission and the (file-or-material, code) pairs it must produce — no more, no less."""

    name: str
    service: str
    scenario: str | None
    applicant: Tuple[str, str] | None
    files: List[Upload]
    expected: List[Tuple[str, str]] = field(default_factory=list)
    clean: bool = False


@dataclass
class World:
    applicant: Person
    spouse: Person
    agent: Person
    company: Company
    rng: random.Random


def world(seed: int = 7) -> World:
    rng = random.Random(seed)
    a, b, c = make_person(rng), make_person(rng), make_person(rng)
    while b.name == a.name or c.name in (a.name, b.name):
        b, c = make_person(rng), make_person(rng)
    return World(a, b, c, make_company(rng, a), rng)


def _relocation_set(w: World, **over: Callable[[], Upload] | None) -> List[Upload]:
    """T068 婚后夫妻投靠落户, scenario own_house: everything the resident must upload, clean."""
    a, b = w.applicant, w.spouse
    base: Dict[str, Callable[[], Upload] | None] = {
        "id_front": lambda: Upload("身份证人像面.jpg", jpg(photograph(id_front(a))), "投靠人居民身份证"),
        "id_back": lambda: Upload("身份证国徽面.jpg", jpg(photograph(id_back(date(2016, 4, 1), date(2036, 4, 1)))), "投靠人居民身份证"),
        "hh_front": lambda: Upload("户口簿首页.jpg", jpg(photograph(household_front(a, "110105123456")), 88), "投靠人原籍居民户口簿"),
        "hh_person": lambda: Upload("户口簿本人页.png", png(photograph(household_person(a, "户主"))), "投靠人原籍居民户口簿"),
        "receipt": lambda: Upload("相片回执.jpg", jpg(photograph(photo_receipt(a, "BJ2026022000318"))), "数码相片回执"),
        "form": lambda: Upload("申请表.jpg", jpg(photograph(application_form("夫妻投靠落户申请表", a, random.Random(3)))), "夫妻投靠落户申请表"),
        "marriage": lambda: Upload("结婚证.jpg", jpg(photograph(marriage_certificate(a, b, date(2021, 10, 1)))), "结婚证"),
    }
    base.update(over)
    return [make() for make in base.values() if make is not None]


def _agent_set(w: World, **over: Callable[[], Upload] | None) -> List[Upload]:
    """T092 无犯罪记录证明, scenario agent: application form, power of attorney, the agent's ID card."""
    a, c = w.applicant, w.agent
    base: Dict[str, Callable[[], Upload] | None] = {
        "form": lambda: Upload("申请表.jpg", jpg(photograph(application_form("无犯罪记录证明申请表", a, random.Random(5)))), None),
        "poa": lambda: Upload("委托书.jpg", jpg(photograph(power_of_attorney(a, c, random.Random(6)))), None),
        "agent_id": lambda: Upload("经办人身份证.pdf", pdf([photograph(id_front(c)), photograph(id_back(date(2019, 8, 9), None))]), None),
    }
    base.update(over)
    return [make() for make in base.values() if make is not None]


def _licence_set(w: World, licence: Company | None = None, seal: bool = True, legacy: str = "") -> List[Upload]:
    c = licence or w.company
    return [Upload("营业执照.jpg", jpg(photograph(business_license(c, seal, legacy))), "当事人身份证明")]


def cases(seed: int = 7) -> List[Case]:
    w = world(seed)
    a, b = w.applicant, w.spouse
    who = (a.name, a.id_number)
    T068, T092, T182 = "T068", "T092", "T182"
    relocation = lambda **o: _relocation_set(w, **o)  # noqa: E731
    up = Upload
    other = make_person(random.Random(seed + 100))
    out = [
        Case("relocation clean", T068, "own_house", who, relocation(), clean=True),
        Case("agent clean", T092, "agent", who, _agent_set(w), clean=True),
        Case("licence clean", T182, None, None, _licence_set(w), clean=True),
        # photos taken sideways, upside down or at a slight angle, which phones save without turning them
        Case("relocation turned and skewed clean", T068, "own_house", who, relocation(
            id_front=lambda: up("身份证人像面.jpg", jpg(turn(photograph(id_front(a)), 90)), "投靠人居民身份证"),
            id_back=lambda: up("身份证国徽面.jpg", jpg(skew(photograph(id_back(date(2016, 4, 1), date(2036, 4, 1))))), "投靠人居民身份证"),
            hh_person=lambda: up("户口簿本人页.png", png(turn(photograph(household_person(a, "户主")), 180)), "投靠人原籍居民户口簿"),
            form=lambda: up("申请表.jpg", jpg(turn(photograph(application_form("夫妻投靠落户申请表", a, random.Random(3))), 270)), "夫妻投靠落户申请表"),
            marriage=lambda: up("结婚证.jpg", jpg(skew(photograph(marriage_certificate(a, b, date(2021, 10, 1))), 0.06)), "结婚证")),
            clean=True),
        Case("agent turned clean", T092, "agent", who, _agent_set(
            w, poa=lambda: up("委托书.jpg", jpg(skew(turn(photograph(power_of_attorney(a, w.agent, random.Random(6))), 270))), None),
            agent_id=lambda: up("经办人身份证.pdf", pdf([turn(photograph(id_front(w.agent)), 180), photograph(id_back(date(2019, 8, 9), None))]), None)),
            clean=True),
        Case("licence turned clean", T182, None, None,
             [Upload("营业执照.jpg", jpg(turn(photograph(business_license(w.company)), 90)), "当事人身份证明")], clean=True),
        Case("id card blurred", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(blur(photograph(id_front(a)))), "投靠人居民身份证")),
             [("身份证人像面.jpg", "unreadable")]),
        Case("id card dark", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(darken(photograph(id_front(a)))), "投靠人居民身份证")),
             [("身份证人像面.jpg", "unreadable")]),
        Case("form overexposed", T068, "own_house", who,
             relocation(form=lambda: up("申请表.jpg", jpg(overexpose(photograph(application_form("夫妻投靠落户申请表", a, random.Random(3))))), "夫妻投靠落户申请表")),
             [("申请表.jpg", "unreadable")]),
        Case("id card cut off", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(cut_right(photograph(id_front(a)), 0.45)), "投靠人居民身份证")),
             [("身份证人像面.jpg", "unreadable")]),
        Case("id card low resolution", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(shrink(photograph(id_front(a)), 380)), "投靠人居民身份证")),
             [("身份证人像面.jpg", "unreadable")]),
        Case("id number check digit", T068, "own_house", None,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(photograph(id_front(replace(a, id_number=wrong_check(a.id_number))))), "投靠人居民身份证"),
                        hh_person=lambda: up("户口簿本人页.png", png(photograph(household_person(replace(a, id_number=wrong_check(a.id_number)), "户主"))), "投靠人原籍居民户口簿"),
                        form=lambda: up("申请表.jpg", jpg(photograph(application_form("夫妻投靠落户申请表", replace(a, id_number=wrong_check(a.id_number)), random.Random(3)))), "夫妻投靠落户申请表"),
                        marriage=None),
             [("身份证人像面.jpg", "invalid_id_number"), ("户口簿本人页.png", "invalid_id_number"), ("申请表.jpg", "invalid_id_number")]),
        Case("id number impossible date", T068, "own_house", None,
             relocation(hh_person=lambda: up("户口簿本人页.png", png(photograph(household_person(replace(a, id_number=_bad_date(a.id_number)), "户主"))), "投靠人原籍居民户口簿")),
             [("户口簿本人页.png", "invalid_id_number")]),
        Case("id card expired", T068, "own_house", who,
             relocation(id_back=lambda: up("身份证国徽面.jpg", jpg(photograph(id_back(date(2005, 4, 1), date(2025, 4, 1)))), "投靠人居民身份证")),
             [("身份证国徽面.jpg", "expired")]),
        Case("name differs from applicant", T068, "own_house", (other.name, a.id_number), relocation(marriage=None),
             [("身份证人像面.jpg", "name_mismatch"), ("户口簿本人页.png", "name_mismatch"), ("申请表.jpg", "name_mismatch"),
              ("相片回执.jpg", "name_mismatch")]),
        Case("household page of another name", T068, "own_house", who,
             relocation(hh_person=lambda: up("户口簿本人页.png", png(photograph(household_person(replace(a, name=other.name), "户主"))), "投靠人原籍居民户口簿")),
             [("户口簿本人页.png", "name_mismatch")]),
        Case("form with another id number", T068, "own_house", who,
             relocation(form=lambda: up("申请表.jpg", jpg(photograph(application_form("夫妻投靠落户申请表", replace(a, id_number=other.id_number), random.Random(3)))), "夫妻投靠落户申请表")),
             [("申请表.jpg", "id_mismatch")]),
        Case("marriage certificate without seal", T068, "own_house", who,
             relocation(marriage=lambda: up("结婚证.jpg", jpg(photograph(marriage_certificate(a, b, date(2021, 10, 1), seal=False))), "结婚证")),
             [("结婚证.jpg", "missing_seal")]),
        Case("form not signed", T068, "own_house", who,
             relocation(form=lambda: up("申请表.jpg", jpg(photograph(application_form("夫妻投靠落户申请表", a, random.Random(3), signed=False))), "夫妻投靠落户申请表")),
             [("申请表.jpg", "missing_signature")]),
        Case("no application form", T068, "own_house", who, relocation(form=None),
             [("material:夫妻投靠落户申请表", "missing_material")]),
        Case("id card back missing", T068, "own_house", who, relocation(id_back=None),
             [("material:投靠人居民身份证", "missing_pages")]),
        Case("household register for id card", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", png(photograph(household_person(a, "户主"))), "投靠人居民身份证"), id_back=None),
             [("身份证人像面.jpg", "wrong_document_type")]),
        Case("gif instead of jpg", T068, "own_house", who,
             relocation(receipt=lambda: up("相片回执.jpg", _gif(photograph(photo_receipt(a, "BJ2026022000318"))), "数码相片回执")),
             [("相片回执.jpg", "wrong_format")]),
        Case("text named jpg", T068, "own_house", who,
             relocation(receipt=lambda: up("相片回执.jpg", "数码相片回执 回执编号 BJ2026022000318\n".encode() * 20, "数码相片回执")),
             [("相片回执.jpg", "wrong_format")]),
        Case("blank pdf page", T068, "own_house", who,
             relocation(hh_person=lambda: up("户口簿本人页.pdf", pdf([photograph(household_person(a, "户主")), None]), "投靠人原籍居民户口簿")),
             [("户口簿本人页.pdf", "blank_page")]),
        Case("agent id number differs from power of attorney", T092, "agent", who,
             _agent_set(w, poa=lambda: up("委托书.jpg", jpg(photograph(power_of_attorney(a, replace(w.agent, id_number=other.id_number), random.Random(6)))), None)),
             [("委托书.jpg", "id_mismatch")]),
        Case("power of attorney not signed", T092, "agent", who,
             _agent_set(w, poa=lambda: up("委托书.jpg", jpg(photograph(power_of_attorney(a, w.agent, random.Random(6), signed=False))), None)),
             [("委托书.jpg", "missing_signature")]),
        Case("agent id card missing", T092, "agent", who, _agent_set(w, agent_id=None),
             [("material:受托人居民身份证", "missing_material")]),
        Case("licence credit code check digit", T182, None, None,
             _licence_set(w, replace(w.company, credit_code=wrong_check(w.company.credit_code, CREDIT_CHARSET))),
             [("营业执照.jpg", "invalid_credit_code")]),
        Case("licence without seal", T182, None, None, _licence_set(w, seal=False), [("营业执照.jpg", "missing_seal")]),
        Case("licence term ended", T182, None, None, _licence_set(w, replace(w.company, term_end=date(2024, 5, 2))),
             [("营业执照.jpg", "expired")]),
        Case("legacy registration number", T182, None, None, _licence_set(w, legacy="110105012345676"),
             [("营业执照.jpg", "invalid_credit_code")]),
        Case("turned id card with a wrong check digit", T068, "own_house", None,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(turn(photograph(id_front(replace(a, id_number=wrong_check(a.id_number)))), 270)), "投靠人居民身份证")),
             [("身份证人像面.jpg", "invalid_id_number")]),
        Case("turned id card back expired", T068, "own_house", who,
             relocation(id_back=lambda: up("身份证国徽面.jpg", jpg(turn(photograph(id_back(date(2005, 4, 1), date(2025, 4, 1))), 180)), "投靠人居民身份证")),
             [("身份证国徽面.jpg", "expired")]),
        Case("skewed household page of another name", T068, "own_house", who,
             relocation(hh_person=lambda: up("户口簿本人页.png", png(skew(photograph(household_person(replace(a, name=other.name), "户主")))), "投靠人原籍居民户口簿")),
             [("户口簿本人页.png", "name_mismatch")]),
        Case("upside-down licence without seal", T182, None, None,
             [Upload("营业执照.jpg", jpg(turn(photograph(business_license(w.company, seal=False)), 180)), "当事人身份证明")],
             [("营业执照.jpg", "missing_seal")]),
        Case("turned household page sent as id card", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", png(turn(photograph(household_person(a, "户主")), 90)), "投靠人居民身份证"), id_back=None),
             [("身份证人像面.jpg", "wrong_document_type")]),
        Case("shopping receipt sent as id card", T068, "own_house", who,
             relocation(id_front=lambda: up("身份证人像面.jpg", jpg(turn(photograph(shopping_receipt()), 90)), "投靠人居民身份证")),
             [("身份证人像面.jpg", "unreadable")]),
    ]
    return out


def _bad_date(number: str) -> str:
    body = number[:10] + "13" + number[12:17]  # month 13
    return body + id_check_char(body)


def _gif(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("P").save(buf, "GIF")
    return buf.getvalue()


def bad_inputs() -> List[Upload]:
    """Inputs that must each become a defect, never a crash (for T068's 投靠人居民身份证)."""
    w = world()
    card = photograph(id_front(w.applicant))
    corrupt = png(card)
    return [
        Upload("空文件.jpg", b"", "投靠人居民身份证"),
        Upload("其实是文本.jpg", "这不是图片，是一段文字。\n".encode() * 50, "投靠人居民身份证"),
        Upload("损坏.png", corrupt[: len(corrupt) // 3], "投靠人居民身份证"),
        Upload("炸弹.png", png_bomb(), "投靠人居民身份证"),
        Upload("加密.pdf", encrypted_pdf(card), "投靠人居民身份证"),
        Upload("结构损坏.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n%%EOF", "投靠人居民身份证"),
        Upload("五百页.pdf", many_pages_pdf(500), "投靠人居民身份证"),
    ]


BAD_INPUT_CODES = {
    "空文件.jpg": "unreadable",
    "其实是文本.jpg": "wrong_format",
    "损坏.png": "unreadable",
    "炸弹.png": "file_too_large",
    "加密.pdf": "unreadable",
    "结构损坏.pdf": "unreadable",
    "五百页.pdf": "file_too_large",
    "超大.jpg": "file_too_large",
}


def too_large(path_or_none: None = None, mb: int = 200) -> Upload:
    """A 200 MB upload (a real JPEG followed by padding); engines must refuse it by size alone."""
    head = jpg(Image.new("RGB", (64, 64), (200, 200, 200)))
    return Upload("超大.jpg", head + b"\x00" * (mb * 1_000_000 - len(head)), "投靠人居民身份证")


def future(days: int) -> date:
    return TODAY + timedelta(days=days)
