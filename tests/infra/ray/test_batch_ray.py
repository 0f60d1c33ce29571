"""Batch inference on Ray Data against a real local Ray head: the same predictions as the
in-process path, a directory of mixed files, a bad block named, every row accounted for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tagger.batch import BlockValidationError, PredictionSet, predict_on_ray, summarize
from tagger.config import BatchConfig
from tagger.data import LABELS
from tagger.inference import predict_frame
from tagger.model import TextClassifier

pytestmark = [pytest.mark.ray]


@pytest.fixture(scope="module")
def bundle(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """An untrained head on the tiny BERT: answers differ between rows, which is all parity needs."""
    import torch

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("batch") / "bundle"
    TextClassifier.from_base(str(tiny_model_dir), LABELS, 64).save(directory)
    return directory


@pytest.fixture(scope="module")
def on_head(ray_head):
    """This process joins the session's head once for the module, shipping this checkout's code."""
    import os

    import ray

    from tagger.batch import connect

    before = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = ray_head.address
    connect()
    yield
    ray.shutdown()
    if before is None:
        del os.environ["RAY_ADDRESS"]
    else:
        os.environ["RAY_ADDRESS"] = before


@pytest.fixture(scope="module")
def new_rows(projects: pd.DataFrame) -> pd.DataFrame:
    return projects.drop(columns=["tag"])


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)


def test_two_actors_predict_what_the_step_process_predicts(
    on_head, bundle: Path, new_rows: pd.DataFrame, tmp_path: Path
):
    source = tmp_path / "new.csv"
    new_rows.to_csv(source, index=False)
    config = BatchConfig(engine="ray", actors=2, batch_size=64)

    predictions = predict_on_ray(str(source), bundle, str(tmp_path / "out"), config, threshold=0.3)

    assert predictions.num_rows() == len(new_rows)
    ray_frame = _by_id(predictions.to_pandas())
    local = _by_id(predict_frame(TextClassifier.load(bundle), new_rows, threshold=0.3))
    assert list(ray_frame.columns) == list(local.columns)
    assert ray_frame["id"].tolist() == local["id"].tolist()
    assert ray_frame["tag"].tolist() == local["tag"].tolist()
    probabilities = [c for c in local.columns if c.startswith("p_")]
    np.testing.assert_allclose(ray_frame[probabilities], local[probabilities], atol=1e-5)
    summary = summarize(predictions.iter_batches(batch_size=100))
    assert summary["rows"] == len(new_rows)
    assert summary["per_class"] == local["tag"].value_counts().to_dict()
    assert summary["mean_confidence"] == pytest.approx(local["confidence"].mean(), abs=1e-5)


def test_a_directory_of_csv_and_parquet_files_is_one_input(
    on_head, bundle: Path, new_rows: pd.DataFrame, tmp_path: Path
):
    folder = tmp_path / "incoming"
    (folder / "2026-11").mkdir(parents=True)
    third = len(new_rows) // 3
    thirds = [new_rows.iloc[:third], new_rows.iloc[third : 2 * third], new_rows.iloc[2 * third :]]
    thirds[0].to_csv(folder / "a.csv", index=False)
    thirds[1].to_csv(folder / "2026-11" / "b.csv", index=False)
    thirds[2].to_parquet(folder / "2026-11" / "c.parquet", index=False)
    (folder / "README.txt").write_text("not data")

    out = predict_on_ray(str(folder), bundle, str(tmp_path / "out"), BatchConfig(actors=1))

    assert out.num_rows() == len(new_rows)
    assert sorted(out.to_pandas()["id"]) == sorted(new_rows["id"])
    assert len(out.head(5)) == 5 and PredictionSet(out.path).num_rows() == len(new_rows)


def test_a_bad_block_names_its_file_and_rows(
    on_head, bundle: Path, new_rows: pd.DataFrame, tmp_path: Path
):
    folder = tmp_path / "incoming"
    folder.mkdir()
    good, bad = new_rows.iloc[:40].copy(), new_rows.iloc[40:80].copy()
    bad.iloc[3, bad.columns.get_loc("title")] = "x" * 400
    bad.iloc[7, bad.columns.get_loc("title")] = None
    good.to_csv(folder / "good.csv", index=False)
    bad.to_csv(folder / "bad.csv", index=False)

    with pytest.raises(BlockValidationError) as raised:
        predict_on_ray(str(folder), bundle, str(tmp_path / "out"), BatchConfig(actors=1))

    error = raised.value
    assert error.source.endswith("bad.csv")
    message = str(error)
    assert "bad.csv" in message and "good.csv" not in message
    assert bad["id"].iloc[3] in message and bad["id"].iloc[7] in message
    assert {f.expectation for f in error.failures} == {
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_not_be_null",
    }


def test_the_batch_pipeline_streams_on_ray_into_a_lazy_artifact(
    on_head, zenml_stack, bundle: Path, new_rows: pd.DataFrame, tmp_path: Path
):
    """The pipeline on the local stack with `engine: ray`: the sample is validated by the whole
    suite, every row predicted by the actors, the parquet files land in the artifact store."""
    from zenml import Model, link_artifact_to_model, save_artifact
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from pipelines import batch_inference_pipeline
    from project import names
    from project.paths import BATCH_CONFIG

    client = Client()
    client.create_model("tagger-batch-ray")
    version = client.create_model_version("tagger-batch-ray", name="v1")
    classifier = save_artifact(TextClassifier.load(bundle), names.CLASSIFIER)
    link_artifact_to_model(classifier, Model(name="tagger-batch-ray", version=version.name))
    folder = tmp_path / "incoming"
    folder.mkdir()
    new_rows.iloc[:100].to_csv(folder / "a.csv", index=False)
    new_rows.iloc[100:].to_parquet(folder / "b.parquet", index=False)

    run = batch_inference_pipeline.with_options(
        config_path=str(BATCH_CONFIG),
        model=Model(name="tagger-batch-ray", version=version.name),
        parameters={"dataset_loc": str(folder), "batch": {"engine": "ray", "actors": 1}},
    )()

    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {"validate_batch_sample", "predict_on_ray"}
    artifact = run.steps["predict_on_ray"].outputs[names.PREDICTIONS][0]
    predictions = artifact.load()
    assert isinstance(predictions, PredictionSet)
    assert predictions.path == artifact.uri and len(predictions) == len(new_rows)
    assert sorted(predictions.to_pandas()["id"]) == sorted(new_rows["id"])
    summary = run.steps["predict_on_ray"].run_metadata["predictions"]
    assert summary["engine"] == "ray" and summary["rows"] == len(new_rows)
    assert sum(summary["per_class"].values()) == len(new_rows)
    assert artifact.visualizations and artifact.run_metadata["rows"] == len(new_rows)
    sample = run.steps["validate_batch_sample"].run_metadata["inference_input"]
    assert sample["files"] == 2 and sample["sample_rows"] == 100
