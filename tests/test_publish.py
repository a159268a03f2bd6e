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
        keys = [step["with"]["key"] for step in job["steps"] if str(step.get("uses", "")).startswith("actions/cache")
                and step["with"]["path"] == "${{ env.GANAD_RUNS }}"]
        assert len(keys) == 2, f"job {name!r} does not restore and save GANAD_RUNS"
        assert set(keys) == {"${{ steps.runs-key.outputs.key }}"}, f"job {name!r}: GANAD_RUNS keys {keys}"
        assert "hashFiles('ganad_lite/**/*.py'" in runs_key_step(job)["run"]


def runs_key_step(job: dict) -> dict:
    (step,) = [step for step in job["steps"] if step.get("id") == "runs-key"]
    return step


# what the run cache's key may leave out: modules that draw or write text and never write into GANAD_RUNS
PRESENTATION = {"viz.py", "widgets.py", "explorer_figures.py", "chapter.py", "experiments/figures.py",
                "experiments/display.py", "experiments/prose.py", "experiments/tables.py", "experiments/discussion.py"}
CACHE_WRITES = re.compile(r"torch\.save|np\.savez|write_json|run_dir|cache_dir|GANAD_RUNS")


def test_the_workflow_publishes_a_real_profile_build():
    check_publishing(yaml.safe_load(WORKFLOW.read_text()))


def test_the_run_cache_key_leaves_out_only_drawing_and_prose():
    # a change to a figure or a sentence reuses the trained models; a change to anything that trains does not
    (build,) = publishing_jobs(yaml.safe_load(WORKFLOW.read_text())).values()
    left_out = set(re.findall(r"'!ganad_lite/([^']+)'", runs_key_step(build)["run"]))
    assert left_out and left_out <= PRESENTATION, left_out - PRESENTATION
    package = WORKFLOW.parents[2] / "ganad_lite"
    for name in left_out:
        source = (package / name).read_text()  # a stale name fails here instead of leaving out nothing
        assert not CACHE_WRITES.search(source), f"{name} touches the run cache but is left out of its key"


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
