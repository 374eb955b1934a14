"""Case categories and departments: realistic defaults for a Chinese city's grid governance.

Codes are what travels on the wire; names are for people. The simulator draws its
category mix from ``weight``; the SLA clocks (a later issue) read the deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Department:
    """A department cases are dispatched to."""

    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Category:
    """A kind of case, the department it usually goes to and its handling deadline."""

    code: str
    name: str
    name_en: str
    depts: tuple[str, ...]
    handle_hours: float
    working_time: bool  # deadline counted in working hours (non-urgent), not 24/7
    weight: float  # share in the simulator's mix


DEPARTMENTS: dict[str, Department] = {d.code: d for d in (
    Department("justice", "司法所", "Justice bureau"),
    Department("zongzhi", "综治办", "Comprehensive governance office"),
    Department("police", "公安派出所", "Police station"),
    Department("emergency", "应急管理局", "Emergency management bureau"),
    Department("fire", "消防救援", "Fire and rescue"),
    Department("market", "市场监管局", "Market regulation bureau"),
    Department("sanitation", "环卫", "Sanitation"),
    Department("urban", "城管局", "Urban management bureau"),
    Department("housing", "住建局", "Housing and construction bureau"),
    Department("transport", "交通局", "Transport bureau"),
    Department("ecology", "生态环境局", "Ecology and environment bureau"),
    Department("civil", "民政局", "Civil affairs bureau"),
    Department("community", "社区", "Community committee"),
    Department("health", "卫健", "Health commission"),
)}

WORKDAY_HOURS = 9.0  # 08:30-17:30

CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("dispute", "矛盾纠纷", "Disputes", ("justice", "zongzhi"), 5 * WORKDAY_HOURS, True, 0.14),
    Category("security", "治安隐患", "Public-security hazard", ("police",), 24, False, 0.07),
    Category("work_safety", "安全生产", "Work safety", ("emergency",), 24, False, 0.06),
    Category("fire", "消防隐患", "Fire hazard", ("fire",), 12, False, 0.06),
    Category("food_drug", "食品药品安全", "Food & drug safety", ("market",), 48, False, 0.04),
    Category("sanitation", "环境卫生", "Sanitation", ("sanitation", "urban"), 4, False, 0.20),
    Category("street_order", "市容秩序", "Street order", ("urban",), 8, False, 0.15),
    Category("facility", "设施损坏", "Damaged facilities", ("housing", "transport"), 48, False, 0.09),
    Category("environment", "生态环境", "Pollution", ("ecology",), 48, False, 0.04),
    Category("livelihood", "民生服务", "Livelihood requests", ("civil", "community"), 3 * WORKDAY_HOURS, True, 0.08),
    Category("special_groups", "特殊人群", "Special groups", ("justice", "health"), 24, False, 0.03),
    Category("migrants", "流动人口与出租房", "Migrants and rentals", ("police",), 3 * WORKDAY_HOURS, True, 0.04),
)}

SEVERITIES = {1: ("紧急", "Urgent"), 2: ("重要", "High"), 3: ("一般", "Normal"), 4: ("轻微", "Low")}
