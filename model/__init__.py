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

# Rows of a row group in the Parquet files a run writes for itself (stage outputs, the frames
# handed to the checkpoint): Polars encodes a row group's columns in memory before writing them,
# and its default (262,144 rows) held the year's whole line explanations at 100,000 enterprises:
# +270 MiB for allocate's file, against +80 MiB in groups of 20,000 (no slower).
PARQUET_ROW_GROUP = 20_000
