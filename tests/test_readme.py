from pathlib import Path

from ganad_lite.profiles import profile_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_profile_table_matches_code():
    assert profile_table() in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
