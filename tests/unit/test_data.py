import sys
from pathlib import Path

import pandas as pd
import pytest

from tagger import data


def test_clean_text_strips_links_markup_and_whitespace():
    raw = "  A <b>fast</b>   detector,\nsee https://example.org/x and www.site.io  "
    assert data.clean_text(raw) == "A fast detector, see and"
    assert data.clean_text(None) == ""
    assert data.clean_text(float("nan")) == ""


def test_join_text_joins_title_and_description():
    assert data.join_text("YOLO", "Detects objects.") == "YOLO. Detects objects."
    assert data.join_text("YOLO", None) == "YOLO"


def test_embedded_dataset_shape_and_imbalance(projects: pd.DataFrame):
    assert list(projects.columns) == list(data.COLUMNS)
    assert len(projects) >= 400
    counts = projects["tag"].value_counts()
    assert set(counts.index) == set(data.LABELS)
    assert counts.idxmin() == "mlops"


def test_embedded_dataset_is_what_its_generator_writes():
    import csv
    import importlib.util

    from project.paths import DEFAULT_DATASET

    spec = importlib.util.spec_from_file_location(
        "embedded_generator", DEFAULT_DATASET.with_name("generate.py")
    )
    generator = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = generator  # dataclasses look their module up while the file runs
    spec.loader.exec_module(generator)
    with DEFAULT_DATASET.open(newline="") as f:
        assert list(csv.DictReader(f)) == generator.generate()


def test_split_is_stratified_seeded_and_disjoint(projects: pd.DataFrame):
    train, val, test = data.split(projects, val_size=0.1, test_size=0.2, seed=7)
    assert len(train) + len(val) + len(test) == len(projects)
    assert not set(train["id"]) & set(val["id"]) | set(train["id"]) & set(test["id"])
    assert len(test) == round(0.2 * len(projects))
    share = projects["tag"].value_counts(normalize=True)
    for part in (train, val, test):
        assert (part["tag"].value_counts(normalize=True) - share).abs().max() < 0.03
    again = data.split(projects, val_size=0.1, test_size=0.2, seed=7)
    assert again[2]["id"].tolist() == test["id"].tolist()


@pytest.mark.parametrize("sizes", [(0.0, 0.2), (0.5, 0.5), (0.1, 1.2)])
def test_split_rejects_bad_sizes(projects: pd.DataFrame, sizes):
    with pytest.raises(ValueError, match="bad split sizes"):
        data.split(projects, *sizes, seed=1)


def test_fingerprint_changes_with_content(projects: pd.DataFrame):
    changed = projects.copy()
    changed.loc[0, "title"] = "something else"
    assert data.fingerprint(projects) == data.fingerprint(projects.copy())
    assert data.fingerprint(projects) != data.fingerprint(changed)


def test_read_csv_reads_ids_as_text(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("id,created_on,title,description,tag\n007,2020-01-01,t,d,mlops\n")
    assert data.read_csv(path)["id"].tolist() == ["007"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", "not a UTF-8 CSV"),
        (b'a,b\n"unterminated,1\n', "not a valid CSV"),
    ],
)
def test_read_csv_rejects_unreadable_files(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(data.DatasetError, match=message):
        data.read_csv(path)


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_read_csv_names_a_delimiter_that_is_not_a_comma(
    tmp_path: Path, projects: pd.DataFrame, delimiter: str, name: str
):
    path = tmp_path / "other-dialect.csv"
    projects.head(5).to_csv(path, sep=delimiter, index=False)
    with pytest.raises(data.DatasetError, match=f"uses {name} .* delimiter; a comma"):
        data.read_csv(path)


def test_read_csv_accepts_other_delimiters_inside_fields(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("\nid,created_on,title,description,tag\n1,2020,a;b,c|d\te,mlops\n")
    assert data.read_csv(path)["description"].tolist() == ["c|d\te"]


def test_read_csv_missing_file(tmp_path: Path):
    with pytest.raises(data.DatasetError, match="cannot read dataset"):
        data.read_csv(tmp_path / "nope.csv")


def test_read_csv_from_an_http_url(tmp_path: Path, projects: pd.DataFrame):
    import functools
    import http.server
    import threading

    projects.head(30).to_csv(tmp_path / "remote.csv", index=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        pd.testing.assert_frame_equal(data.read_csv(f"{url}/remote.csv"), projects.head(30))
        with pytest.raises(data.DatasetError, match="cannot read dataset"):
            data.read_csv(f"{url}/missing.csv")
    finally:
        server.shutdown()
