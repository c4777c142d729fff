"""A DeprecationWarning raised where the project's own code calls a deprecated API fails the test run;
one a library raises about its own internals does not."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("module", ["adapter.sync.remote", "harbor_client.client", "provisioning.cli", "adapter"])
def test_our_deprecations_are_errors(module):
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)


@pytest.mark.parametrize("module", ["requests.utils", "adapterish", "sqlalchemy.engine"])
def test_others_deprecations_are_not(module):
    warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)
