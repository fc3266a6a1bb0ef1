"""The city's reference data (data/catalog/*.yaml), validated once on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import yamlsafe

CODE = r"^[a-z][a-z0-9-]*$"
CATEGORY_CODE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
Priority = Literal["urgent", "ordinary", "complex"]
Group = Literal["area_gov", "city_dept", "enterprise", "hotline"]


class CatalogError(ValueError):
    """The catalog cannot be loaded; the message names file, entry and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatLon(_Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class City(_Strict):
    name: str
    hotline_name: str
    id_prefix: str = Field(pattern=r"^[A-Z]{2,4}$")
    timezone: str = "Asia/Shanghai"
    hotline_department: str
    site_url: str = "/"
    contact_email: str = ""
    centroid: LatLon


class Area(_Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1)
    kind: Literal["district", "county", "zone"]
    government: str
    centroid: LatLon
    streets: list[str] = []


class Department(_Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1)
    short: str = Field(min_length=1)
    group: Group
    area: str | None = None
    description: str = ""

    @property
    def slug(self) -> str:
        return self.code


class Channel(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str = ""


class FieldValue(_Strict):
    key: str
    name: str


class CategoryField(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    values: list[FieldValue] = []


class CategoryNode(_Strict):
    code: str = Field(pattern=CATEGORY_CODE)
    name: str
    description: str = ""
    keywords: list[str] = []
    priority: Priority | None = None
    fields: list[CategoryField] = []
    children: list[CategoryNode] = []


@dataclass(frozen=True)
class Category:
    """A flattened category: leaf or inner node, with inherited priority."""

    code: str
    name: str
    description: str
    keywords: tuple[str, ...]
    priority: Priority
    fields: tuple[CategoryField, ...]
    parent: str | None
    is_leaf: bool

    @property
    def top(self) -> str:
        return self.code.split(".", 1)[0]


class PriorityPolicy(_Strict):
    label: str
    on_site_hours: float | None = Field(default=None, gt=0)
    close_hours: float = Field(gt=0)


class ExtensionPolicy(_Strict):
    max_times: int = Field(ge=0)
    max_hours: float = Field(gt=0)


class SupervisionLevel(_Strict):
    level: int = Field(ge=1, le=5)
    name: str
    after_overdue_hours: float = Field(ge=0)


class SlaPolicy(_Strict):
    sign_for_hours: float = Field(gt=0)
    priorities: dict[Priority, PriorityPolicy]
    extension: ExtensionPolicy
    rating_window_hours: float = Field(gt=0)
    duplicate_window_hours: float = Field(gt=0)
    supervision: list[SupervisionLevel]

    @field_validator("supervision")
    @classmethod
    def _five_levels(cls, levels: list[SupervisionLevel]) -> list[SupervisionLevel]:
        if [lv.level for lv in levels] != [1, 2, 3, 4, 5]:
            raise ValueError("supervision must list levels 1, 2, 3, 4, 5 in order")
        hours = [lv.after_overdue_hours for lv in levels]
        if hours != sorted(hours):
            raise ValueError("after_overdue_hours must not decrease from level to level")
        return levels

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, value: dict[str, PriorityPolicy]) -> dict[str, PriorityPolicy]:
        missing = {"urgent", "ordinary", "complex"} - set(value)
        if missing:
            raise ValueError(f"missing priorities: {', '.join(sorted(missing))}")
        return value


class DutyEntry(_Strict):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,31}$")
    matter: str = Field(min_length=1)
    category: str
    keywords: list[str] = Field(min_length=1)
    area: str | None = None
    department: str
    basis: str = ""
    # Set only on entries made from an arbitration ruling (案例推广).
    ruling: dict[str, Any] | None = None

    @field_validator("keywords")
    @classmethod
    def _keywords_not_trivial(cls, value: list[str]) -> list[str]:
        for kw in value:
            if len(kw.strip()) < 2:
                raise ValueError(f"keyword {kw!r} is too short (at least 2 characters)")
        return value


class RankingPolicy(_Strict):
    list_names: dict[Literal["red", "yellow"], str]
    groups: dict[str, str]
    weights: dict[Literal["response", "resolution", "satisfaction", "on_time"], float]
    penalties: dict[Literal["shirking_per_ticket", "reopen_per_ticket"], float]
    min_tickets: int = Field(ge=1)
    list_size: int = Field(ge=1)
    confidence: float = Field(gt=0, lt=1)


class RedactionRule(_Strict):
    id: str
    kind: Literal["literal", "regex"]
    pattern: str = Field(min_length=1)
    scope: list[Literal["content", "reply", "comment", "note", "all"]] = ["all"]
    replacement: str = "［已隐去］"
    reason: str


class RedactionPolicy(_Strict):
    rules: list[RedactionRule] = []


class WarningPolicy(_Strict):
    window_hours: float = Field(gt=0)
    baseline_days: float = Field(gt=0)
    frequent: dict[str, float]
    new: dict[str, float]
    burst: dict[str, float]
    group_complaint: dict[str, float]
    keywords: list[str] = []


FILES: dict[str, tuple[str, Any]] = {
    # attribute: (file name, model of the whole file or of each list entry)
    "city": ("city.yaml", City),
    "areas": ("areas.yaml", Area),
    "departments": ("departments.yaml", Department),
    "channels": ("channels.yaml", Channel),
    "category_tree": ("categories.yaml", CategoryNode),
    "sla": ("sla.yaml", SlaPolicy),
    "duty_list": ("duty_list.yaml", DutyEntry),
    "ranking": ("ranking.yaml", RankingPolicy),
    "redaction": ("redaction.yaml", RedactionPolicy),
    "warnings": ("warnings.yaml", WarningPolicy),
}
LIST_FILES = {"areas", "departments", "channels", "category_tree", "duty_list"}


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def _entry_label(index: int, raw: Any) -> str:
    key = raw.get("code") or raw.get("id") if isinstance(raw, dict) else None
    return f"entry {index + 1}" + (f" ({key})" if key else "")


def _parse_file(path: Path, model: Any, *, is_list: bool) -> Any:
    raw = yamlsafe.load_file(path)
    if is_list:
        if not isinstance(raw, list):
            raise CatalogError(f"{path}: expected a list of entries, got {type(raw).__name__}")
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(model.model_validate(item))
            except ValidationError as exc:
                raise CatalogError(f"{path}: {_entry_label(i, item)}: {_describe(exc)}") from None
        return out
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc)}") from None


@dataclass(frozen=True)
class Catalog:
    """All reference data, validated and cross-checked."""

    root: Path
    city: City
    areas: list[Area]
    departments: list[Department]
    channels: list[Channel]
    category_tree: list[CategoryNode]
    sla: SlaPolicy
    duty_list: list[DutyEntry]
    ranking: RankingPolicy
    redaction: RedactionPolicy
    warnings: WarningPolicy
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def area_by_code(self) -> dict[str, Area]:
        return {a.code: a for a in self.areas}

    @cached_property
    def area_by_name(self) -> dict[str, Area]:
        return {a.name: a for a in self.areas}

    @cached_property
    def department_by_code(self) -> dict[str, Department]:
        return {d.code: d for d in self.departments}

    @cached_property
    def channel_by_code(self) -> dict[str, Channel]:
        return {c.code: c for c in self.channels}

    @cached_property
    def categories(self) -> dict[str, Category]:
        out: dict[str, Category] = {}

        def walk(node: CategoryNode, parent: Category | None) -> None:
            prio = node.priority or (parent.priority if parent else "ordinary")
            cat = Category(
                code=node.code,
                name=node.name,
                description=node.description,
                keywords=tuple(node.keywords),
                priority=prio,
                fields=tuple(node.fields),
                parent=parent.code if parent else None,
                is_leaf=not node.children,
            )
            out[node.code] = cat
            for child in node.children:
                walk(child, cat)

        for top in self.category_tree:
            walk(top, None)
        return out

    @property
    def hotline_department(self) -> Department:
        return self.department_by_code[self.city.hotline_department]

    def resolve_area(self, value: str | None) -> Area | None:
        """Find an area by code or by (full or short) name."""
        if not value:
            return None
        value = value.strip()
        if value in self.area_by_code:
            return self.area_by_code[value]
        if value in self.area_by_name:
            return self.area_by_name[value]
        for area in self.areas:
            if value and (area.name.startswith(value) or value.startswith(area.name)):
                return area
        return None

    def area_government(self, area: Area) -> Department:
        return self.department_by_code[area.government]

    def supervision_name(self, level: int) -> str:
        return self.sla.supervision[level - 1].name


def _cross_check(cat: Catalog) -> None:
    def fail(file: str, label: str, msg: str) -> None:
        raise CatalogError(f"{cat.root / file}: {label}: {msg}")

    for name, items, key in (
        ("areas.yaml", cat.areas, "code"),
        ("departments.yaml", cat.departments, "code"),
        ("channels.yaml", cat.channels, "code"),
        ("duty_list.yaml", cat.duty_list, "id"),
    ):
        seen: set[str] = set()
        for i, item in enumerate(items):
            value = getattr(item, key)
            if value in seen:
                fail(name, f"entry {i + 1}", f"field '{key}': duplicate value {value!r}")
            seen.add(value)
    seen_cat: set[str] = set()

    def walk(node: CategoryNode) -> None:
        if node.code in seen_cat:
            fail("categories.yaml", node.code, f"field 'code': duplicate value {node.code!r}")
        seen_cat.add(node.code)
        if node.children and node.fields:
            fail("categories.yaml", node.code, "field 'fields': only leaves may have fields")
        for child in node.children:
            if not child.code.startswith(node.code + "."):
                fail("categories.yaml", child.code, f"field 'code': must start with '{node.code}.'")
            walk(child)

    for top in cat.category_tree:
        walk(top)
    depts = cat.department_by_code
    if cat.city.hotline_department not in depts:
        fail("city.yaml", "hotline_department", f"unknown department {cat.city.hotline_department!r}")
    for i, area in enumerate(cat.areas):
        gov = depts.get(area.government)
        if gov is None or gov.group != "area_gov":
            fail("areas.yaml", f"entry {i + 1} ({area.code})", f"field 'government': {area.government!r} is not an area_gov department")
    for i, dept in enumerate(cat.departments):
        if dept.group == "area_gov" and dept.area not in cat.area_by_code:
            fail("departments.yaml", f"entry {i + 1} ({dept.code})", f"field 'area': unknown area {dept.area!r}")
    cats = cat.categories
    for i, entry in enumerate(cat.duty_list):
        label = f"entry {i + 1} ({entry.id})"
        if entry.category not in cats:
            fail("duty_list.yaml", label, f"field 'category': unknown category {entry.category!r}")
        if entry.department not in depts:
            fail("duty_list.yaml", label, f"field 'department': unknown department {entry.department!r}")
        if entry.area is not None and entry.area not in cat.area_by_code:
            fail("duty_list.yaml", label, f"field 'area': unknown area {entry.area!r}")


def load_catalog(root: Path) -> Catalog:
    """Load and validate every catalog file under `root` (data/catalog)."""
    root = Path(root)
    values: dict[str, Any] = {}
    for attr, (fname, model) in FILES.items():
        path = root / fname
        if not path.exists():
            raise CatalogError(f"{path}: missing catalog file")
        try:
            values[attr] = _parse_file(path, model, is_list=attr in LIST_FILES)
        except yamlsafe.YamlError as exc:
            raise CatalogError(str(exc)) from None
    cat = Catalog(root=root, **values)
    _cross_check(cat)
    return cat
