"""The sessions screen: the highlighted session's roles and node labels, a label filter."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from auditor.config import Config, parse_config
from auditor.index import FailureKind, Session, SessionIndex
from auditor.tui.screens.sessions_screen import SessionsScreen
from auditor.tui.widgets.session_details import session_details
from tests.tui.conftest import app_for, settle
from tests.tui.test_failures import detail_text, open_failures
from tests.tui.world import NOW, World

CONFIG = parse_config(
    {
        "nodes": {
            "web1.example.com": {"labels": {"env": "prod", "team": "web"}},
            "WEB2.example.com": {"labels": {"env": "prod"}},
            "db.example.com": {"labels": {"env": "dev"}},
        },
        "roles": {
            "dev": {"logins": ["joe"], "node_labels": {"env": "dev"}},
            "ops": {"logins": ["deploy"], "node_labels": {"env": "prod"}},
        },
        "users": {"joe": {"roles": ["dev", "ops"]}, "ann": {"logins": ["root"]}},
    }
)


def ids(screen: SessionsScreen) -> list[str]:
    return [str(r.key.value) for r in screen.session_table.ordered_rows]


def details(screen: SessionsScreen) -> str:
    content = screen.query_one("#session-details", Static).content
    assert isinstance(content, Text)  # built of Text, never markup
    return content.plain


async def test_label_filter_keeps_the_sessions_of_labelled_nodes(world: World) -> None:
    app = app_for(world.data_dir, config=CONFIG)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        await pilot.press("f", *"label:env=prod")
        await settle(pilot)
        # web2 is written WEB2 in the inventory: names are matched as the proxy does.
        assert ids(screen) == [world.live, world.failed, world.shell]
        screen.filter_input.value = "label:env=prod user:ann"
        await settle(pilot)
        assert ids(screen) == [world.live]
        screen.filter_input.value = "label:env=prod label:team=web status:ended"
        await settle(pilot)
        assert ids(screen) == [world.shell]
        screen.filter_input.value = "label:env=staging"
        await settle(pilot)
        assert ids(screen) == []
        screen.filter_input.value = "label:env"
        await settle(pilot)
        assert "expected label:KEY=VALUE" in str(screen.message.content)
        assert screen.filter_input.has_class("-invalid")


async def test_the_highlighted_session_shows_its_users_roles_and_nodes_labels(
    world: World,
) -> None:
    app = app_for(world.data_dir, config=CONFIG)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        table = screen.session_table
        table.move_cursor(row=ids(screen).index(world.failed))
        await settle(pilot)
        # Then who has viewed it (issue 24): nobody yet.
        assert details(screen) == (
            " joe · roles dev, ops · node web2.example.com env=prod · not viewed yet"
        )
        table.move_cursor(row=ids(screen).index(world.vim))
        await settle(pilot)
        assert (
            details(screen)
            == " ann · no roles: root on every node · node db.example.com env=dev · not viewed yet"
        )


def test_names_from_the_audited_side_are_data() -> None:
    s = Session("x" * 32, 0.0, "ended", user="[bold]eve\x1b[2J", node="n\u202e1")
    text = session_details(s, Config())
    assert text.plain == (
        " [bold]eve\\x1b[2J · no users section: any certificate · node n\\u202e1"
        " (not in the inventory)"
    )


async def test_the_failures_screen_lists_access_denied_with_its_fix(world: World) -> None:
    with SessionIndex.open(world.data_dir) as index:
        index.record_failure(
            FailureKind.ACCESS_DENIED,
            "joe may not reach db1.example.com as root (roles: dev)",
            time=NOW - 60,
            node="db1.example.com",
            port=22,
            user="joe",
            login="root",
            detail="role dev: node_labels env=dev do not match db1.example.com (env=prod)",
        )
    app = app_for(world.data_dir, config=CONFIG)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_failures(pilot)
        kinds = screen.kind_table
        assert [s.kind for s in kinds.summaries].count("access_denied") == 1
        kinds.move_cursor(row=[s.kind for s in kinds.summaries].index("access_denied"))
        await settle(pilot)
        text = detail_text(screen)
        assert "joe may not reach db1.example.com as root (roles: dev)" in text
        assert "auditor access USER NODE" in text
        assert "node_labels env=dev do not match" in text
