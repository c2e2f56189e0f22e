"""The examples in the package's docstrings run and print what they show."""

import doctest

import pytest

import edgetune
import edgetune.checkpoint
import edgetune.int8
import edgetune.weights


@pytest.mark.parametrize("module", [edgetune, edgetune.checkpoint, edgetune.int8, edgetune.weights],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
