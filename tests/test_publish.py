"""The publishing workflow builds the book with real results: never the smoke profile, never no profile."""
import re
from pathlib import Path

import pytest
import yaml

from ganad_lite.profiles import PROFILES

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "book.yml"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def publishing_jobs(workflow: dict) -> dict[str, dict]:
    """The jobs that upload the Pages artifact."""
    return {name: job for name, job in workflow["jobs"].items()
            if any(str(step.get("uses", "")).startswith("actions/upload-pages-artifact")
                   for step in job.get("steps", []))}


def profiles_of(value: str) -> set[str]:
    """The profile names a GANAD_PROFILE value can take: a literal, or the quoted literals of an expression."""
    value = str(value).strip()
    expressions = EXPRESSION.findall(value)
    if not expressions:
        return {value}
    return {lit for e in expressions for lit in re.findall(r"'([^']*)'", e)}


def check_publishing(workflow: dict) -> None:
    """Raise AssertionError unless every publishing job builds a real (cpu/full) profile with real data."""
    jobs = publishing_jobs(workflow)
    assert jobs, "no job uploads the Pages artifact"
    for name, job in jobs.items():
        env = job.get("env", {})
        assert "GANAD_PROFILE" in env, f"job {name!r} publishes the book without setting GANAD_PROFILE"
        choices = profiles_of(env["GANAD_PROFILE"])
        assert choices and choices <= set(PROFILES) - {"smoke"}, f"job {name!r} may build profile(s) {choices}"
        assert str(env.get("GANAD_DOWNLOAD")) == "1", f"job {name!r} does not let torchvision fetch the data"
        for step in job["steps"]:
            step_env = step.get("env", {})
            assert "smoke" not in profiles_of(step_env.get("GANAD_PROFILE", "cpu")), f"{name}: {step}"
            assert "GANAD_PROFILE=smoke" not in str(step.get("run", "")), f"{name}: {step.get('run')}"
        runs = " ".join(str(step.get("run", "")) for step in job["steps"])
        assert "make book" in runs and "download_mvtec('bottle'" in runs
        caches = {step["with"]["path"]: step["with"]["key"] for step in job["steps"]
                  if str(step.get("uses", "")).startswith("actions/cache")}
        assert "${{ env.GANAD_RUNS }}" in caches, f"job {name!r} does not cache GANAD_RUNS"
        assert "hashFiles('ganad_lite/**/*.py'" in caches["${{ env.GANAD_RUNS }}"]


def test_the_workflow_publishes_a_real_profile_build():
    check_publishing(yaml.safe_load(WORKFLOW.read_text()))


def test_the_deploy_job_deploys_what_the_publishing_job_built():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (build,) = publishing_jobs(workflow)
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == build and "actions/deploy-pages" in deploy["steps"][0]["uses"]


@pytest.mark.parametrize("profile, message", [
    ("smoke", "may build profile"),
    ("${{ vars.GANAD_GPU_RUNNER && 'full' || 'smoke' }}", "may build profile"),
    (None, "without setting GANAD_PROFILE"),
])
def test_the_check_rejects_a_smoke_or_missing_profile(profile, message):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (build,) = publishing_jobs(workflow)
    env = workflow["jobs"][build]["env"]
    if profile is None:
        del env["GANAD_PROFILE"]
    else:
        env["GANAD_PROFILE"] = profile
    with pytest.raises(AssertionError, match=message):
        check_publishing(workflow)
