"""Dataset I/O and text preparation shared by training, validation and serving."""

from __future__ import annotations

import hashlib
import io
import re
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a frame is made: `run.py predict --title` needs no pandas
    import pandas as pd

LABELS: tuple[str, ...] = ("computer-vision", "mlops", "natural-language-processing", "other")
COLUMNS: tuple[str, ...] = ("id", "created_on", "title", "description", "tag")
FEATURE_COLUMNS: tuple[str, ...] = ("title", "description")
LABEL_COLUMN = "tag"

_URL = re.compile(r"https?://\S+|www\.\S+")
_HTML = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


class DatasetError(ValueError):
    """The dataset cannot be read as a CSV table at all (before any expectation runs)."""


def read_csv(location: str | Path) -> pd.DataFrame:
    """Read a dataset from a local path or an http(s) URL, with a clear error for unreadable input."""
    location = str(location)
    try:
        if location.startswith(("http://", "https://")):
            with urllib.request.urlopen(location, timeout=60) as response:
                raw = response.read()
        else:
            raw = Path(location).read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {location!r}: {exc}") from exc
    if not raw.strip():
        raise DatasetError(f"dataset {location!r} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset {location!r} is not a UTF-8 CSV file: {exc}") from exc
    _check_delimiter(location, text)
    import pandas as pd

    try:
        return pd.read_csv(io.StringIO(text), dtype={"id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"dataset {location!r} is not a valid CSV file: {exc}") from exc


def _check_delimiter(location: str, text: str) -> None:
    """A header without a comma but with another separator is a file in another dialect.

    pandas would read it as one column and fail later on a row with a comma in it ("Expected 1
    fields, saw 3") or on missing columns, neither of which names the real cause.
    """
    header = next(line for line in text.lstrip("\ufeff").splitlines() if line.strip())
    if "," in header:
        return
    found = [d for d in _OTHER_DELIMITERS if d in header]
    if found:
        delimiter = max(found, key=header.count)
        raise DatasetError(
            f"dataset {location!r} uses {_OTHER_DELIMITERS[delimiter]} ({delimiter!r}) as its"
            " delimiter; a comma-separated file is expected"
        )


def clean_text(text: object) -> str:
    """Strip what carries no signal for the tag (links, markup, runs of whitespace)."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    text = _HTML.sub(" ", _URL.sub(" ", str(text)))
    return _SPACES.sub(" ", text).strip()


def join_text(title: object, description: object) -> str:
    """The single model input: title and description, cleaned, as one sentence pair."""
    title, description = clean_text(title), clean_text(description)
    return f"{title}. {description}" if description else title


def texts_of(df: pd.DataFrame) -> list[str]:
    return [join_text(t, d) for t, d in zip(df["title"], df["description"], strict=True)]


def fingerprint(df: pd.DataFrame) -> str:
    """Content hash of a dataset, recorded on model versions so a result names its exact data."""
    import pandas as pd

    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return digest.hexdigest()[:16]


def split(
    df: pd.DataFrame, val_size: float, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified train / val / test split; `val_size` and `test_size` are fractions of the whole."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_size < 1 or not 0 <= test_size < 1 or val_size + test_size >= 1:
        raise ValueError(f"bad split sizes: val_size={val_size}, test_size={test_size}")
    rest, test = (df, df.iloc[:0])
    if test_size:
        rest, test = train_test_split(
            df, test_size=test_size, stratify=df[LABEL_COLUMN], random_state=seed
        )
    train, val = train_test_split(
        rest,
        test_size=val_size / (1 - test_size),
        stratify=rest[LABEL_COLUMN],
        random_state=seed,
    )
    return train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True)
