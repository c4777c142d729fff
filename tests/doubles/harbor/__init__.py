"""A strict Harbor v2.0 API double: swagger-validated, quirk-faithful, journaled (see HarborDouble)."""

from tests.doubles.harbor.journal import Fault, RecordedRequest, Violation
from tests.doubles.harbor.server import HarborDouble
from tests.doubles.harbor.state import ADMIN, HarborState

__all__ = ["ADMIN", "Fault", "HarborDouble", "HarborState", "RecordedRequest", "Violation"]
