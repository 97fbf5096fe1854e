"""The local database's SQLite options: synced per commit or not, and the extra options."""

from __future__ import annotations

import pytest

from labelops_cli.stack import servers
from labelops_cli.stack.errors import StackError


def test_the_local_database_does_not_sync_each_commit_unless_told(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELOPS_FERRETDB_SYNCHRONOUS", raising=False)
    monkeypatch.delenv("LABELOPS_FERRETDB_SQLITE_PARAMS", raising=False)
    assert servers.ferretdb_sqlite_url().endswith("/?_pragma=synchronous(normal)")
    monkeypatch.setenv("LABELOPS_FERRETDB_SYNCHRONOUS", "FULL")
    monkeypatch.setenv("LABELOPS_FERRETDB_SQLITE_PARAMS", "_txlock=immediate")
    assert servers.ferretdb_sqlite_url().endswith(
        "/?_pragma=synchronous(full)&_txlock=immediate")


def test_an_unknown_sync_mode_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELOPS_FERRETDB_SYNCHRONOUS", "off")
    with pytest.raises(StackError, match="LABELOPS_FERRETDB_SYNCHRONOUS: 'off' is not one of"):
        servers.ferretdb_sqlite_url()
