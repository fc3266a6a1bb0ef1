"""The catalog: Linyi's reference data loads; bad files are refused with file, entry and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from intake_api.catalog import CatalogError, load_catalog

from .conftest import CATALOG_DIR


def test_linyi_catalog_is_complete(catalog):
    kinds = [a.kind for a in catalog.areas]
    assert kinds.count("district") == 3 and kinds.count("county") == 9 and "zone" in kinds
    assert {"兰山区", "罗庄区", "河东区", "郯城县", "兰陵县", "沂水县", "沂南县", "平邑县", "费县", "蒙阴县", "莒南县", "临沭县"} <= {a.name for a in catalog.areas}
    assert len(catalog.departments) >= 40
    assert {d.group for d in catalog.departments} == {"area_gov", "city_dept", "enterprise", "hotline"}
    assert {"hotline", "web", "app", "wechat", "miniprogram", "county_client", "open311"} <= set(catalog.channel_by_code)
    assert len(catalog.duty_list) >= 200
    matters = " ".join(e.matter + " ".join(e.keywords) for e in catalog.duty_list)
    for hard_case in ("桥上钓鱼", "转供电", "不动产证", "物业", "讨薪", "临时电"):
        assert hard_case in matters
    assert [lv.name for lv in catalog.sla.supervision] == ["热线督办", "媒体督办", "政务督办", "人大政协督办", "纪委督办"]
    assert catalog.sla.priorities["urgent"].on_site_hours == 2
    assert catalog.sla.priorities["ordinary"].close_hours == 72


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, d)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("departments.yaml", "group: city_dept", "group: ministry", ["departments.yaml", "entry", "field 'group'"]),
        ("duty_list.yaml", "department: urban", "department: nobody", ["duty_list.yaml", "D0", "unknown department 'nobody'"]),
        ("sla.yaml", "sign_for_hours: 2", "sign_for_hours: soon", ["sla.yaml", "field 'sign_for_hours'"]),
        ("areas.yaml", "code: lanshan", "code: Lan Shan", ["areas.yaml", "entry 1", "field 'code'"]),
        ("city.yaml", "id_prefix: LY", "id_prefix: ly1", ["city.yaml", "field 'id_prefix'"]),
    ],
)
def test_invalid_catalog_names_file_entry_and_field(tmp_path, file, old, new, expected):
    d = _copy(tmp_path)
    _edit(d / file, old, new)
    with pytest.raises(CatalogError) as exc:
        load_catalog(d)
    for part in expected:
        assert part in str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: !!python/object/apply:os.system ['echo pwned']\n", "python/object"),
        ("a: &x [1, 2]\nb: *x\n", "anchors"),
        ("name: a\nname: b\n", "duplicate key"),
        ("name: [unclosed\n", "city.yaml: line"),
    ],
    ids=["python-tag", "alias-bomb", "duplicate-key", "syntax"],
)
def test_unsafe_or_broken_yaml_is_refused(tmp_path, text, expected):
    d = _copy(tmp_path)
    (d / "city.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        load_catalog(d)
    assert expected in str(exc.value)
    assert "city.yaml" in str(exc.value)


def test_billion_laughs_is_refused_quickly(tmp_path):
    d = _copy(tmp_path)
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    (d / "city.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="anchors"):
        load_catalog(d)


def test_missing_file_is_named(tmp_path):
    d = _copy(tmp_path)
    (d / "sla.yaml").unlink()
    with pytest.raises(CatalogError, match="sla.yaml: missing catalog file"):
        load_catalog(d)
