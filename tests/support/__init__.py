"""Helpers shared by the tests (references, case builders, golden-file readers); no tests here."""
