"""The shared in-memory database for this service's tests."""

from tests.fakes import FakeCollection, FakeCursor, FakeDatabase

__all__ = ["FakeCollection", "FakeCursor", "FakeDatabase"]
