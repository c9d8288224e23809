import pytest

from .catalogs import compiled


@pytest.fixture(autouse=True, scope="session")
def _catalogs_compiled():
    """The tests read the French and Greek pages: the .mo files must be built from the .po files."""
    compiled()
