"""The local stack is idempotent: a second `up` reuses the running servers."""

from __future__ import annotations

import pytest

from labelops_cli.stack import servers

pytestmark = pytest.mark.integration


def test_second_up_reuses_the_running_servers(stack_env: dict[str, str]) -> None:
    before = {name: servers.server_pid(name) for name in servers.SERVERS}
    again = servers.up_infra()
    after = {name: servers.server_pid(name) for name in servers.SERVERS}
    assert again == stack_env
    assert before == after
    assert all(ok for _, _, ok in servers.infra_status())


def test_credentials_are_private(stack_env: dict[str, str]) -> None:
    path = servers._credentials_file()
    assert path.stat().st_mode & 0o077 == 0
    assert stack_env["LABELOPS_MINIO_SECRET_KEY"] in path.read_text()
