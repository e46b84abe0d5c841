"""The model: the catalog of tables, the wording of explanations, results and working days."""

# The project's packages (pyproject.toml [tool.setuptools] packages; tests/test_runner.py keeps
# them equal): what a runner's code version covers (`etsflow.launch`) and whose imports a stage's
# code version follows (`flows.fingerprints`). Here, at the bottom layer, with no import: the
# runner's client reads it before importing anything else of the project.
PACKAGES = (
    "model",
    "etsflow",
    "ingest",
    "flows",
    "transforms",
    "validations",
    "warehouse",
    "exports",
    "policies",
)
