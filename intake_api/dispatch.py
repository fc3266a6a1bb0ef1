"""Smart dispatch by the duty list (职责清单), nearest responsibility and precedent.

Every decision records the rule that made it, so the public timeline can say why a
department got the ticket:

- `duty`: a duty-list entry matched by keyword (and category, and area if it is
  area-specific); area-specific entries beat city-wide ones;
- `precedent`: an entry made from an arbitration ruling (案例推广), kept in
  `data/rulings/precedents.jsonl` and picked up by every process at its next dispatch;
- `category`: no keyword matched, but the given category has an entry;
- `nearest`: no entry covers the matter, so the government of the area where it
  happened is responsible (就近定责);
- `hotline`: neither matter nor place is known: the hotline centre triages it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from .catalog import Area, Catalog, DutyEntry
from .clock import format_ts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    department: str
    category: str | None
    priority: str
    area: str | None
    street: str | None
    rule: dict[str, Any]
    reason: str

    def as_data(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "category": self.category,
            "priority": self.priority,
            "rule": self.rule,
            "reason": self.reason,
        }


@dataclass
class _Index:
    entries: list[DutyEntry]
    by_keyword: dict[str, list[int]] = field(default_factory=dict)
    by_category: dict[str, list[int]] = field(default_factory=dict)
    precedent: set[int] = field(default_factory=set)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class Dispatcher:
    def __init__(self, catalog: Catalog, rulings_dir: Path | None = None) -> None:
        self.catalog = catalog
        self.rulings_dir = Path(rulings_dir) if rulings_dir else None
        self._lock = threading.Lock()
        self._precedent_size = -1
        self._precedents: list[DutyEntry] = []
        self._index = self._build_index()
        self._places = self._build_places()

    # -- indexes -------------------------------------------------------------

    @property
    def precedents_path(self) -> Path | None:
        return self.rulings_dir / "precedents.jsonl" if self.rulings_dir else None

    def _build_index(self) -> _Index:
        entries = [*self.catalog.duty_list, *self._precedents]
        idx = _Index(entries=entries)
        n_catalog = len(self.catalog.duty_list)
        for i, e in enumerate(entries):
            for kw in e.keywords:
                idx.by_keyword.setdefault(_norm(kw), []).append(i)
            idx.by_category.setdefault(e.category, []).append(i)
            if i >= n_catalog:
                idx.precedent.add(i)
        return idx

    def _build_places(self) -> list[tuple[str, Area, str | None]]:
        """Place names that reveal the area: area names, short names, streets."""
        places: list[tuple[str, Area, str | None]] = []
        for area in self.catalog.areas:
            places.append((area.name, area, None))
            short = area.name.rstrip("区县")
            if len(short) >= 2 and short != area.name:
                places.append((short, area, None))
            for street in area.streets:
                places.append((street, area, street))
        # Longest names first, so 兰山街道 wins over 兰山.
        places.sort(key=lambda p: -len(p[0]))
        return places

    def _refresh_precedents(self) -> None:
        path = self.precedents_path
        if path is None:
            return
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size == self._precedent_size:
            return
        with self._lock:
            entries: list[DutyEntry] = []
            if size:
                for line in path.read_bytes().splitlines():
                    if line.strip():
                        entries.append(DutyEntry.model_validate(orjson.loads(line)))
            self._precedents = entries
            self._precedent_size = size
            self._index = self._build_index()

    # -- precedents (案例推广) -------------------------------------------------

    def add_precedent(
        self,
        *,
        matter: str,
        category: str,
        keywords: list[str],
        department: str,
        area: str | None,
        ticket_id: str,
        by: str,
        reason: str,
        at: datetime,
    ) -> DutyEntry:
        """Turn an arbitration ruling into a duty-list entry that applies at once."""
        if self.precedents_path is None:
            raise RuntimeError("dispatcher has no rulings folder")
        if category not in self.catalog.categories:
            raise ValueError(f"unknown category {category!r}")
        if department not in self.catalog.department_by_code:
            raise ValueError(f"unknown department {department!r}")
        entry = DutyEntry(
            id=f"P{format_ts(at)[:10].replace('-', '')}-{secrets.token_hex(3).upper()}",
            matter=matter,
            category=category,
            keywords=keywords,
            area=area,
            department=department,
            basis=f"案例推广：工单 {ticket_id} 仲裁裁定",
            ruling={"ticket": ticket_id, "by": by, "reason": reason, "at": format_ts(at)},
        )
        self.rulings_dir.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps(entry.model_dump(mode="json")) + b"\n"
        fd = os.open(self.precedents_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # not only by closing: see locks.hold
            os.close(fd)
        self._refresh_precedents()
        return entry

    def precedents(self) -> list[DutyEntry]:
        self._refresh_precedents()
        return list(self._precedents)

    # -- deciding ------------------------------------------------------------

    def locate(self, text: str, area_hint: str | None) -> tuple[Area | None, str | None]:
        """Find the area (and street) from the given area or from place names in the text."""
        area = self.catalog.resolve_area(area_hint)
        for name, place_area, street in self._places:
            if name in text and (area is None or place_area.code == area.code):
                return place_area, street
        return area, None

    def decide(
        self,
        content: str,
        *,
        category: str | None = None,
        area: str | None = None,
        address: str | None = None,
    ) -> Decision:
        """Choose the responsible department and say why."""
        self._refresh_precedents()
        cat = self.catalog
        text = _norm(" ".join(x for x in (content, address or "") if x))
        place, street = self.locate(text, area)
        area_code = place.code if place else None
        if category and category not in cat.categories:
            category = None
        idx = self._index
        scores: dict[int, tuple[float, int]] = {}
        for kw, ids in idx.by_keyword.items():
            if kw in text:
                for i in ids:
                    score, longest = scores.get(i, (0.0, 0))
                    scores[i] = (score + 10 + len(kw), max(longest, len(kw)))
        candidates: list[tuple[tuple, int, str]] = []
        for i, (score, longest) in scores.items():
            e = idx.entries[i]
            if e.area is not None and e.area != area_code:
                continue
            bonus = 0.0
            if category and (e.category == category or e.category.startswith(category + ".")):
                bonus += 8
            if e.area is not None:
                bonus += 6
            if i in idx.precedent:
                bonus += 3
            candidates.append(((-(score + bonus), -longest, e.id), i, "precedent" if i in idx.precedent else "duty"))
        if not candidates:
            category = category or self._guess_category(text)
        if not candidates and category:
            for i in idx.by_category.get(category, []):
                e = idx.entries[i]
                if e.area is None or e.area == area_code:
                    candidates.append(((0 if e.area else 1, e.id), i, "category"))
        if candidates:
            candidates.sort()
            _, i, kind = candidates[0]
            entry = idx.entries[i]
            dept = cat.department_by_code[entry.department]
            # A more specific category from the entry refines the citizen's choice.
            in_subtree = not category or entry.category.startswith(category)
            chosen_cat = entry.category if in_subtree else category
            label = "案例推广条目" if kind == "precedent" else "职责清单条目"
            how = "按事项类别匹配" if kind == "category" else "按诉求内容匹配"
            reason = f"{how}{label} {entry.id}「{entry.matter}」"
            if entry.area:
                reason += f"（适用于{cat.area_by_code[entry.area].name}）"
            if entry.basis:
                reason += f"（{entry.basis}）"
            reason += f"，派至{dept.name}。"
            rule = {"kind": kind, "entry": entry.id, "matter": entry.matter, "basis": entry.basis}
            return Decision(dept.code, chosen_cat, self._priority(chosen_cat), area_code, street, rule, reason)
        if place is not None:
            gov = cat.area_government(place)
            reason = (
                f"职责清单未覆盖该事项，按“就近定责”原则由事发地{place.name}负责，派至{gov.name}。"
            )
            rule = {"kind": "nearest", "entry": None, "matter": None, "basis": "就近定责"}
            return Decision(gov.code, category, self._priority(category), area_code, street, rule, reason)
        hotline = cat.hotline_department
        reason = f"事项和地点均无法确定，由{hotline.name}人工研判后派单。"
        rule = {"kind": "hotline", "entry": None, "matter": None, "basis": "人工研判"}
        return Decision(hotline.code, category, self._priority(category), None, None, rule, reason)

    def _guess_category(self, text: str) -> str | None:
        best: tuple[int, str] | None = None
        for code, c in self.catalog.categories.items():
            if not c.is_leaf:
                continue
            hit = max((len(k) for k in c.keywords if _norm(k) in text), default=0)
            if hit and (best is None or hit > best[0]):
                best = (hit, code)
        return best[1] if best else None

    def _priority(self, category: str | None) -> str:
        if category and category in self.catalog.categories:
            return self.catalog.categories[category].priority
        return "ordinary"
