"""首发聚焦: front matter checked with file and field named, drafts, covered tickets' current status."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from generator import content, episodes, rankings
from generator.build import build
from generator.publish import live_root
from generator.rows import Row
from generator.sections import refresh_periodic

from .media_fixtures import END, MediaSite, config_for, media_sections
from .media_fixtures import media_site as media_site  # noqa: F401 - the shared fixture

GOOD = """---
number: 7
title: 标题
aired: 2026-11-01
summary: 导语。
{extra}---

正文 **加粗**。
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, catalog, text: str, name: str = "007-x.md", *, drafts: bool = False):
    path = _write(tmp_path / "episodes", name, text)
    return path, episodes.load_episodes(tmp_path, catalog, drafts=drafts, own_host="shoufa.example.gov.cn")


def test_a_valid_episode_loads(tmp_path, catalog):
    extra = "departments: [power]\nticket_query:\n  text: 临时电\nvideo:\n  url: https://tv.example.cn/7.mp4\n  duration: '1:02:03'\n"
    _path, eps = _load(tmp_path, catalog, GOOD.format(extra=extra))
    (ep,) = eps
    assert ep.slug == "007-x" and ep.meta.ticket_query.text == ["临时电"]
    assert ep.meta.video.duration == 3723 and not ep.video_embed
    assert "<strong>加粗</strong>" in ep.html
    assert ep.aired_at.isoformat() == "2026-11-01T00:00:00+08:00"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("numbr: 3\n", "numbr"),  # a misspelt field
        ("departments: [no-such-dept]\n", "departments"),
        ("ticket_query:\n  category: no.such\n", "ticket_query.category"),
        ("ticket_query:\n  limit: 20\n", "ticket_query"),  # no criterion at all
        ("tickets: [LY2026, ../etc]\n", "tickets"),
        ("video:\n  url: javascript:alert(1)\n", "video.url"),
        ("video:\n  url: /v.mp4\n  size: lots\n", "video.size"),
        ("cover: https://cdn.example.com/c.jpg\n", "cover"),
        ("cover: media/missing.jpg\n", "cover"),
        ("follow_up:\n  status: done\n", "follow_up.status"),
        ("slug: ../../etc\n", "slug"),
    ],
)
def test_front_matter_errors_name_file_and_field(tmp_path, catalog, extra, field):
    with pytest.raises(content.ContentError) as err:
        _load(tmp_path, catalog, GOOD.format(extra=extra))
    msg = str(err.value)
    assert str(tmp_path / "episodes" / "007-x.md") in msg
    assert f"field '{field}" in msg, msg


def test_wrong_type_names_the_field(tmp_path, catalog):
    with pytest.raises(content.ContentError, match=r"007-x\.md: field 'number'"):
        _load(tmp_path, catalog, GOOD.replace("number: 7", "number: 第七期").format(extra=""))


@pytest.mark.parametrize(
    ("front", "what"),
    [
        ("number: !!python/object/apply:os.system ['echo pwned']\n", "python"),
        ("a: &x [1, 2]\nb: *x\n", "anchors"),
        ("number: 1\nnumber: 2\n", "duplicate key"),
        ("[unclosed\n", "line"),
    ],
)
def test_unsafe_or_broken_yaml_is_refused_with_the_file_named(tmp_path, catalog, front, what):
    with pytest.raises(content.ContentError) as err:
        _load(tmp_path, catalog, f"---\n{front}---\nbody\n")
    assert "007-x.md" in str(err.value) and what in str(err.value).lower()


def test_missing_front_matter_and_bad_file_names(tmp_path, catalog):
    with pytest.raises(content.ContentError, match="missing front matter"):
        _load(tmp_path, catalog, "# just markdown\n")
    shutil.rmtree(tmp_path / "episodes")
    with pytest.raises(content.ContentError, match=r"field 'slug'"):
        _load(tmp_path, catalog, GOOD.format(extra=""), name="第七期.md")


def test_duplicate_numbers_name_both_files(tmp_path, catalog):
    _write(tmp_path / "episodes", "a.md", GOOD.format(extra=""))
    with pytest.raises(content.ContentError, match=r"b\.md: field 'number': 7 is already used by .*a\.md"):
        _load(tmp_path, catalog, GOOD.format(extra=""), name="b.md")


@pytest.mark.parametrize(
    "body",
    [
        "![图](https://cdn.example.com/x.png)",
        '<img srcset="https://cdn.example.com/x.png 2x">',
        "<script>alert(1)</script>",
        '<iframe src="https://player.example.com/1"></iframe>',
        '<div style="background:url(//evil.example/x.png)">x</div>',
        "<style>@import 'https://evil.example/a.css';</style>",
        '<a href="javascript:alert(1)">x</a>',
        '<p onclick="x()">x</p>',
    ],
)
def test_editor_markdown_may_not_load_from_another_host(tmp_path, catalog, body):
    with pytest.raises(content.ContentError, match=r"007-x\.md: body: "):
        _load(tmp_path, catalog, GOOD.format(extra="") + body + "\n")


def test_own_files_and_links_are_fine_and_emoji_are_inline(tmp_path, catalog):
    body = "![图](/assets/x.png) ![图](https://shoufa.example.gov.cn/a.png) [外链](https://www.gov.cn/) :smile: :material-phone:\n"
    _path, (ep,) = _load(tmp_path, catalog, GOOD.format(extra="") + body)
    assert 'href="https://www.gov.cn/"' in ep.html and "<svg" in ep.html and "😄" in ep.html
    assert content.remote_loads(ep.html, own_host="shoufa.example.gov.cn") == []


def test_drafts_are_skipped_unless_asked_and_only_then_validated(tmp_path, catalog):
    draft = GOOD.format(extra="draft: true\ndepartments: [nope]\n")
    _path, eps = _load(tmp_path, catalog, draft)
    assert eps == []
    with pytest.raises(content.ContentError, match="departments"):
        _load(tmp_path, catalog, draft, drafts=True)


def test_query_matching_mirrors_sql(catalog):
    ep = episodes.Episode("x", Path("x.md"), episodes.EpisodeMeta.model_validate(
        {"number": 1, "title": "t", "aired": "2026-11-01", "summary": "s",
         "ticket_query": {"text": ["凤凰水城", "临时电"], "category": "utilities"}}, context={"catalog": catalog}),
        "", episodes._aired(__import__("datetime").date(2026, 11, 1)), None, False, None)
    row = Row(**{c: None for c in Row.columns()} | {"id": "LY20261101000001", "day": "2026-10-01", "category": "utilities.temp_power"})
    assert episodes.matches(ep, row, "凤凰水城小区临时电")
    assert not episodes.matches(ep, row, "凤凰水城小区停水")
    assert not episodes.matches(ep, row.__class__(**{**row.as_dict(), "category": "utilitiesx"}), "凤凰水城临时电")
    assert not episodes.matches(ep, row.__class__(**{**row.as_dict(), "day": "2025-10-01"}), "凤凰水城临时电")


# -- on the built site ----------------------------------------------------------------------


def test_episode_pages_list_covered_tickets_with_current_status(media_site: MediaSite):
    html = media_site.read("episodes/001-temp-power/index.html")
    assert "第1期：凤凰水城的临时电" in html and "<h2 id=\"节目内容\">" in html
    assert media_site.open_id in html and media_site.phone_id in html
    assert "办理中" in html and "已办结" in html and "问题未解决" in html
    assert media_site.secret_id not in html
    # Its own video file is embedded; nothing comes from another host.
    assert '<source src="/episodes/media/clip.mp4" type="video/mp4">' in html
    assert (media_site.site / "episodes/media/clip.mp4").read_bytes().startswith(b"\x00\x00\x00\x18ftyp")
    assert 'poster="/episodes/media/cover.svg"' in html
    # The named departments' standing this month.
    assert "涉及单位" in html and "国网山东省电力公司临沂供电公司" in html
    # Feeds advertised.
    assert 'rel="alternate" type="application/rss+xml"' in html and "feeds/episodes.atom.xml" in html


def test_index_is_newest_first_and_external_video_is_a_link(media_site: MediaSite):
    index = media_site.read("episodes/index.html")
    assert index.index("第2期") < index.index("第1期")
    page = media_site.read("episodes/002-wages/index.html")
    assert '<a class="md-button md-button--primary" href="https://tv.example.cn/2.mp4"' in page
    assert "<video" not in page and "<iframe" not in page


def test_ticket_pages_link_back_to_their_episodes(media_site: MediaSite):
    page = media_site.read(f"tickets/{media_site.open_id}/index.html")
    assert 'href="/episodes/001-temp-power/"' in page and "第1期：凤凰水城的临时电" in page
    # A query match links back too.
    page = media_site.read(f"tickets/{media_site.phone_id}/index.html")
    assert 'href="/episodes/001-temp-power/"' in page


def test_citizen_markup_in_a_covered_ticket_is_shown_literally(media_site: MediaSite):
    html = media_site.read("episodes/001-temp-power/index.html")
    assert media_site.markup_id in html
    assert "<script>alert" not in html and "onerror=alert" not in html.replace("&lt;img src=x onerror=alert", "")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&quot;x&quot;)" in html
    assert "{{ 7*7 }}" in html


def test_draft_is_not_in_a_normal_build(media_site: MediaSite):
    assert not (media_site.site / "episodes/003-draft").exists()
    assert "草稿一期" not in media_site.read("episodes/index.html")
    assert "草稿一期" not in media_site.read("feeds/episodes.rss.xml")


def test_draft_is_built_with_drafts(media_site: MediaSite, tmp_path):
    config = config_for(tmp_path, media_site.config.data_dir, media_site.config.content_dir, drafts=True)
    with media_sections():
        build(config, full=True)
    site = live_root(config.site_dir)
    html = (site / "episodes/003-draft/index.html").read_text(encoding="utf-8")
    assert "草稿预览" in html and "草稿一期" in html
    assert "草稿一期" in (site / "episodes/index.html").read_text(encoding="utf-8")
    assert "草稿一期" not in (site / "feeds/episodes.rss.xml").read_text(encoding="utf-8")  # feeds never carry drafts


def test_a_bad_episode_fails_the_build_and_the_live_site_stays(media_site: MediaSite, tmp_path):
    content_dir = tmp_path / "content"
    shutil.copytree(media_site.config.content_dir, content_dir)
    bad = content_dir / "episodes" / "004-bad.md"
    bad.write_text(GOOD.format(extra="departments: [nope]\n"), encoding="utf-8")
    config = config_for(media_site.root, media_site.config.data_dir, content_dir)  # the same site and state
    before = live_root(config.site_dir)
    with media_sections(), pytest.raises(content.ContentError, match=r"004-bad\.md: field 'departments'"):
        build(config, full=True)
    assert live_root(config.site_dir) == before
    assert (before / "episodes/001-temp-power/index.html").is_file()


def test_incremental_build_refreshes_the_status_on_the_episode_page(media_site: MediaSite, tmp_path):
    """A covered ticket is handled: its episode page shows the new status without a full build."""
    root = tmp_path / "copy"
    shutil.copytree(media_site.root / "data", root / "data")
    config = config_for(root, root / "data", media_site.config.content_dir)
    with media_sections():
        build(config, full=True)
        page = live_root(config.site_dir) / "episodes/001-temp-power/index.html"
        row = re.search(rf'{media_site.open_id}/">.*?</tr>', page.read_text(encoding="utf-8"), re.S).group(0)
        assert "办理中" in row or "已超期" in row
        from intake_api.clock import FixedClock
        from intake_api.service import Service

        from .media_fixtures import _handle

        clock = FixedClock(END)
        svc = Service(data_dir=root / "data", catalog=media_site.catalog, clock=clock, durable=False, detect_duplicates=False)
        dept = svc.store.get(media_site.open_id).state.department
        closed_before = _closed_this_month(page, dept)
        assert closed_before == _closed_this_month(page.parents[2] / "rankings/index.html", dept)
        _handle(svc, media_site.open_id, clock)
        # The change publishes the episode page without summing the month's tickets again
        # (seconds at Linyi's volume): the standings stay those the rankings page shows.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(rankings, "compute", lambda *a: pytest.fail("a ticket's change summed the month"))
            report = build(config)
        assert report.mode == "incremental"
        row = re.search(rf'{media_site.open_id}/">.*?</tr>', page.read_text(encoding="utf-8"), re.S).group(0)
        assert "已办结" in row and "满意" in row
        assert _closed_this_month(page, dept) == closed_before
        assert "与红黄榜同步" in page.read_text(encoding="utf-8")
        # The slow lane's minute: the rankings page and the episode count the closed ticket,
        # from one sum of the month for both pages.
        months: list[str] = []
        real = rankings.compute
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(rankings, "compute", lambda site, month: months.append(month) or real(site, month))
            refresh_periodic(config)
        assert months.count(rankings.month_of(END)) == 1, months
        assert _closed_this_month(page, dept) == closed_before + 1
        assert _closed_this_month(page.parents[2] / "rankings/index.html", dept) == closed_before + 1


def _closed_this_month(page: Path, dept: str) -> int:
    """A department's closed tickets this month, as an episode page or the rankings page shows it."""
    html = page.read_text(encoding="utf-8")
    m = re.search(rf'<td><a href="/departments/{dept}/">[^<]*</a>.*?</td>\s*<td[^>]*>([0-9,]+)</td>', html, re.S)
    assert m, f"{dept} not in {page}"
    return int(m[1].replace(",", ""))


def test_relinked_tickets_tell_the_build_which_ticket_pages_to_redo(tmp_path):
    from generator.state import State

    state = State(tmp_path / "s.sqlite")
    a = episodes.EpisodeRef("a", 1, "甲")
    assert episodes.relinked_tickets(state, {"T1": [a], "T2": [a]}) == ["T1", "T2"]
    assert episodes.relinked_tickets(state, {"T1": [a], "T2": [a]}) == []
    b = episodes.EpisodeRef("b", 2, "乙")
    assert episodes.relinked_tickets(state, {"T1": [b, a], "T3": [b]}) == ["T1", "T2", "T3"]
    assert episodes.relinked_tickets(state, {"T1": [b._replace(title="乙（更正）"), a], "T3": [b]}) == ["T1"]
    state.close()


def test_a_full_build_remembers_the_links_its_ticket_pages_show(media_site: MediaSite):
    site = media_site.site_object()
    try:
        index = episodes.episodes_by_ticket(media_site.config)
        assert media_site.open_id in index and media_site.secret_id in index  # listed; its page is never built
        assert episodes.relinked_tickets(site.state, index) == []
    finally:
        site.state.close()


def test_a_new_ticket_a_query_matches_links_to_its_episode_in_the_build_that_publishes_it(media_site: MediaSite, tmp_path):
    """The "首发聚焦" box of a new ticket an episode's query matches is on its page as soon
    as the page is public, and the next, unrelated change does not pay for redoing it."""
    from intake_api.clock import FixedClock
    from intake_api.service import Service

    from .media_fixtures import OPERATOR, TicketCreate

    root = tmp_path / "copy"
    shutil.copytree(media_site.root / "data", root / "data")
    config = config_for(root, root / "data", media_site.config.content_dir)
    with media_sections():
        build(config, full=True)
        svc = Service(data_dir=root / "data", catalog=media_site.catalog, clock=FixedClock(END), durable=False,
                      detect_duplicates=False)
        new = svc.create(TicketCreate(channel="hotline", content="凤凰水城的临时电今天又跳闸了，请供电公司看看。", area="lanshan"),
                         actor=OPERATOR).ticket.id
        report = build(config)
        assert report.mode == "incremental"
        site = live_root(config.site_dir)
        page = (site / f"tickets/{new}/index.html").read_text(encoding="utf-8")
        assert 'href="/episodes/001-temp-power/"' in page and "第1期：凤凰水城的临时电" in page
        assert new in (site / "episodes/001-temp-power/index.html").read_text(encoding="utf-8")
        # The next change, to a ticket no episode covers, renders that ticket alone.
        other = next(t.id for t in svc.store.scan() if t.state.is_public and t.state.status == "in_progress"
                     and "凤凰水城" not in t.state.content and t.state.category != "labor.wage_arrears")
        svc.act(other, {"action": "reply", "text": "已安排人员处理。"}, actor=svc_department(svc, other))
        report = build(config)
        assert report.mode == "incremental" and report.tickets == 1
        assert 'href="/episodes/001-temp-power/"' in (site / f"tickets/{new}/index.html").read_text(encoding="utf-8")


def svc_department(svc, tid: str):
    from intake_api.model import Actor, Role

    return Actor(role=Role.DEPARTMENT, department=svc.store.get(tid).state.department, name="dept-test")
