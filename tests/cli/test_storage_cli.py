"""``storage:`` in the config picks where the index and the recordings live; a
mistake in it is one line naming the key, never a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.harness.auditor_cli import AuditorCli


def with_config(cli: AuditorCli, tmp_path: Path, text: str) -> AuditorCli:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return AuditorCli(cli.data_dir, config=path)


def one_line_error(cli: AuditorCli, *args: str) -> str:
    proc = cli.run(*args, check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_an_unknown_index_scheme_is_one_line_naming_the_key(
    cli: AuditorCli, tmp_path: Path
) -> None:
    bad = with_config(cli, tmp_path, "storage: {audit_events_uri: 'mysql://db/auditor'}\n")
    line = one_line_error(bad, "sessions")
    assert "storage.audit_events_uri: scheme 'mysql://'" in line
    assert "postgresql://" in line


def test_recordings_elsewhere_than_the_data_directory_are_not_supported_yet(
    cli: AuditorCli, tmp_path: Path
) -> None:
    cli.data_dir.mkdir(mode=0o700)
    here = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: 'file://{cli.data_dir}/recordings'}}\n"
    )
    assert here.run("sessions").stdout.strip() == "no sessions"
    elsewhere = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: 'file://{tmp_path}/elsewhere'}}\n"
    )
    line = one_line_error(elsewhere, "sessions")
    assert "storage.audit_sessions_uri:" in line and "not supported yet" in line
    s3 = with_config(cli, tmp_path, "storage: {audit_sessions_uri: 's3://bucket/prod'}\n")
    assert "storage.audit_sessions_uri: s3:// is not supported yet" in one_line_error(
        s3, "failures"
    )
