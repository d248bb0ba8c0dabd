from __future__ import annotations

import pytest
from osidump.engine.export.snapshot import lock_statements


@pytest.mark.parametrize(
    ("flavor", "version", "first"),
    [
        ("mariadb", "10.11.19-MariaDB-0+deb12u1", "BACKUP STAGE START"),
        ("mariadb", "10.4.0-MariaDB", "BACKUP STAGE START"),
        ("mariadb", "10.3.39-MariaDB-log", "FLUSH TABLES WITH READ LOCK"),
        ("mariadb", "11.4.2-MariaDB", "BACKUP STAGE START"),
        ("mysql", "8.4.3", "FLUSH TABLES WITH READ LOCK"),
        ("mysql", "8.0.36-0ubuntu0.22.04.1", "FLUSH TABLES WITH READ LOCK"),
    ],
)
def test_lock_statements_by_flavor_and_version(flavor: str, version: str, first: str) -> None:
    lock, unlock = lock_statements(flavor, version)
    assert lock[0] == first
    assert unlock == ("BACKUP STAGE END" if first.startswith("BACKUP") else "UNLOCK TABLES")
