"""The classifier on ONNX Runtime: exported from a `TextClassifier` bundle, checked against it.

The ONNX file sits in the bundle's directory beside the safetensors weights, so one directory
serves either backend and the tokenizer, labels and max length are the bundle's own.
onnxruntime is imported only where a session is made: a torch-only deployment does not need it.
Answering needs neither torch nor transformers: the bundle's `tokenizer.json` runs on the
`tokenizers` library, the engine of transformers' fast tokenizers (same ids, checked in the tests),
so a process that only answers starts in a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagger.config import BACKENDS, SERVING_BACKENDS, Backend, ServingBackend
from tagger.lexical import LexicalModel
from tagger.model import (
    BUNDLE_FILE,
    BundleInfo,
    Classifier,
    TextClassifier,
    mean_probabilities,
    member_dirs,
    predict_in_length_order,
)

if TYPE_CHECKING:
    import pandas as pd
    from tokenizers import Tokenizer

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
# the file each ONNX Runtime backend answers with, beside the bundle
ONNX_MODEL_FILES: dict[ServingBackend, str] = {"onnx": ONNX_FILE, "onnx-int8": INT8_FILE}
TOKENIZER_FILE = "tokenizer.json"
# the TorchScript exporter writes opsets up to 20, all of which onnxruntime 1.31 runs; 17 is the
# first with LayerNormalization as one op, and older runtimes run it too
OPSET = 17
PARITY_TOLERANCE = 1e-4
# the most weighted F1 the int8 model may lose against the float export on labelled rows
INT8_MAX_F1_DROP = 0.005


class ParityError(RuntimeError):
    """The exported model does not answer as the bundle it came from."""


class QuantizationError(RuntimeError):
    """The int8 model loses more than `INT8_MAX_F1_DROP` of the float export's F1."""


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    argmax_mismatches: int

    @property
    def holds(self) -> bool:
        return self.argmax_mismatches == 0 and self.max_abs_diff <= PARITY_TOLERANCE


def export_onnx(bundle_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the bundle's model as ONNX with dynamic batch and sequence axes; the file's path.

    The model is reloaded with eager attention, which traces to plain ops whatever the attention
    default of the installed transformers. Graph inputs are positional in the tokenizer's order:
    naming them in another order than the model takes them gives a graph that runs and answers
    wrongly (logits off by ~0.05 on MiniLM), which only a parity check notices.

    A seed ensemble is one graph: its `logits` are the log of the members' averaged
    probabilities, so their softmax is the ensemble's answer and one session runs every member.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    bundle_dir = Path(bundle_dir)
    path = Path(path) if path is not None else bundle_dir / ONNX_FILE
    info = BundleInfo.from_dict(json.loads((bundle_dir / BUNDLE_FILE).read_text()))
    models = [
        AutoModelForSequenceClassification.from_pretrained(
            where, attn_implementation="eager"
        ).eval()
        for where in member_dirs(bundle_dir, info.members)
    ]
    tokenizer = AutoTokenizer.from_pretrained(bundle_dir)
    names = list(tokenizer.model_input_names)
    # rows of different lengths, so the traced mask path is the padded one
    example = tokenizer(["an example", "a longer example text to pad the first"], padding=True)
    inputs = tuple(torch.tensor(example[name]) for name in names)

    class Logits(torch.nn.Module):
        """Positional inputs in the tokenizer's order, so the graph's input names are right."""

        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(models)

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(names, tensors, strict=True))
            logits = [member(**named).logits for member in self.members]
            if len(logits) == 1:
                return logits[0]
            return mean_probabilities(logits).log()

    with torch.inference_mode():
        torch.onnx.export(
            Logits().eval(),
            inputs,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={
                **{name: {0: "batch", 1: "sequence"} for name in names},
                "logits": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def bundle_tokenizer(directory: str | Path, max_length: int) -> Tokenizer:
    """The bundle's fast tokenizer as transformers runs it for a batch: cut at `max_length`,
    padded to the batch's longest text on the side the bundle says."""
    from tokenizers import Tokenizer

    directory = Path(directory)
    if not (directory / TOKENIZER_FILE).exists():
        raise FileNotFoundError(
            f"{directory} has no {TOKENIZER_FILE}: save it with a fast tokenizer"
        )
    tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    config_file = directory / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    pad = config.get("pad_token") or "[PAD]"
    pad = pad["content"] if isinstance(pad, dict) else pad
    tokenizer.enable_truncation(max_length, direction=config.get("truncation_side", "right"))
    tokenizer.enable_padding(
        direction=config.get("padding_side", "right"),
        pad_id=tokenizer.token_to_id(pad),
        pad_token=pad,
    )
    return tokenizer


class OnnxClassifier(Classifier):
    """The bundle's tokenizer and labels in front of an ONNX Runtime session."""

    def __init__(
        self,
        session,
        tokenizer: Tokenizer,
        info: BundleInfo,
        lexical: LexicalModel | None = None,
    ) -> None:
        self.session = session  # onnxruntime.InferenceSession
        self.tokenizer = tokenizer
        self.info = info
        self.lexical = lexical
        self.input_names = [i.name for i in session.get_inputs()]

    @classmethod
    def load(
        cls, directory: str | Path, model_file: str = ONNX_FILE, threads: int | None = None
    ) -> OnnxClassifier:
        import onnxruntime as ort

        directory = Path(directory)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            str(directory / model_file), options, providers=["CPUExecutionProvider"]
        )
        info = BundleInfo.from_dict(json.loads((directory / BUNDLE_FILE).read_text()))
        tokenizer = bundle_tokenizer(directory, info.max_length)
        return cls(session, tokenizer, info, LexicalModel.load(directory))

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for `texts`."""
        encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.array(columns[name], dtype=np.int64) for name in self.input_names}

    def model_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return predict_in_length_order(texts, batch_size, len(self.labels), self._batch_proba)

    def _batch_proba(self, texts: list[str]) -> np.ndarray:
        (logits,) = self.session.run(["logits"], self.encode(texts))
        return _softmax(logits.astype(np.float32))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def compare(
    reference: Classifier, candidate: Classifier, texts: Sequence[str], batch_size: int = 64
) -> Parity:
    """How far `candidate`'s probabilities are from `reference`'s on the same texts."""
    if reference.labels != candidate.labels:
        raise ParityError(f"labels differ: {reference.labels} vs {candidate.labels}")
    expected = reference.predict_proba(list(texts), batch_size)
    actual = candidate.predict_proba(list(texts), batch_size)
    return Parity(
        rows=len(texts),
        max_abs_diff=float(np.abs(expected - actual).max()) if len(texts) else 0.0,
        argmax_mismatches=int((expected.argmax(axis=1) != actual.argmax(axis=1)).sum()),
    )


def export_checked(
    classifier: TextClassifier, directory: str | Path, texts: Sequence[str]
) -> Parity:
    """Save the bundle and its ONNX export in `directory`; raise `ParityError` unless they agree.

    Agreement: the same tag on every text and probabilities within `PARITY_TOLERANCE`.
    """
    if not texts:
        raise ValueError("a parity check needs texts")
    directory = Path(directory)
    classifier.save(directory)
    export_onnx(directory)
    parity = compare(classifier, OnnxClassifier.load(directory), texts)
    if not parity.holds:
        raise ParityError(
            f"the ONNX export differs from the torch bundle on {parity.rows} texts: "
            f"{parity.argmax_mismatches} different tags, max probability difference "
            f"{parity.max_abs_diff:.2e} (allowed {PARITY_TOLERANCE:.0e})"
        )
    return parity


@dataclass(frozen=True)
class Quantization:
    """Weighted F1 of the float export and of its int8 quantization on the same labelled rows."""

    rows: int
    f1_float: float
    f1_int8: float

    @property
    def f1_drop(self) -> float:
        return self.f1_float - self.f1_int8

    @property
    def holds(self) -> bool:
        return self.f1_drop <= INT8_MAX_F1_DROP


def quantize_int8(directory: str | Path) -> Path:
    """The bundle's ONNX export with its weights quantized to int8 (dynamic quantization: the
    activations are quantized per batch as it runs), written beside it; the file's path.

    A scale per output channel of each weight matrix, not one per matrix: the usual choice for
    transformers, at no cost in speed. Four times smaller and about twice as fast on CPUs with
    int8 dot products. Activation scales are taken over the whole batch, so a text's
    probabilities move slightly with the texts it is batched with (the float backends answer
    the same whatever the batch, within 1e-6).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    directory = Path(directory)
    quantize_dynamic(
        directory / ONNX_FILE, directory / INT8_FILE, weight_type=QuantType.QInt8, per_channel=True
    )
    return directory / INT8_FILE


def measure_int8(directory: str | Path, labelled: pd.DataFrame) -> Quantization:
    """Quantize the export in `directory` and score it and the float export on `labelled`
    (title, description, tag)."""
    from tagger.data import texts_of
    from tagger.evaluation import score_predictions

    if labelled.empty:
        raise ValueError("an int8 check needs labelled rows")
    texts = texts_of(labelled)
    quantize_int8(directory)
    scores = []
    for name in (ONNX_FILE, INT8_FILE):
        classifier = OnnxClassifier.load(directory, name)
        report = score_predictions(
            labelled, classifier.predict(texts), classifier.labels, resamples=0
        )
        scores.append(report.overall.f1)
    return Quantization(rows=len(texts), f1_float=scores[0], f1_int8=scores[1])


def quantize_checked(directory: str | Path, labelled: pd.DataFrame) -> Quantization:
    """`measure_int8`, raising `QuantizationError` unless the int8 model's weighted F1 is within
    `INT8_MAX_F1_DROP` of the float export's. Parity to 1e-4 is not asked of it: quantization
    moves probabilities by up to a few tenths, and what matters is the tags it gives."""
    check = measure_int8(directory, labelled)
    if not check.holds:
        raise QuantizationError(
            f"the int8 model scores {check.f1_int8:.4f} weighted F1 on {check.rows} labelled "
            f"rows against the float export's {check.f1_float:.4f}: a drop of "
            f"{check.f1_drop:.4f}, more than the {INT8_MAX_F1_DROP} allowed; serve the onnx backend"
        )
    return check


def load_classifier(
    directory: str | Path, backend: ServingBackend, threads: int | None = None
) -> Classifier:
    """The bundle in `directory` on the chosen backend (onnx needs the exported file there,
    onnx-int8 its quantization).

    `threads`: the threads of one forward pass (None: the runtime's default, every core). For
    torch that is the process's setting, so it is changed for the whole process.
    """
    if backend == "torch":
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        return TextClassifier.load(directory)
    if backend in ONNX_MODEL_FILES:
        return OnnxClassifier.load(directory, ONNX_MODEL_FILES[backend], threads=threads)
    raise ValueError(f"unknown backend {backend!r}; expected one of {SERVING_BACKENDS}")


def on_backend(
    classifier: TextClassifier,
    backend: Backend,
    directory: str | Path,
    texts: Sequence[str],
    parity_rows: int = 256,
) -> tuple[Classifier, Parity | None]:
    """`classifier` as it runs on `backend`; an ONNX export goes to `directory`, checked first.

    The check runs on up to `parity_rows` of `texts`: on all of them it would cost a torch pass
    over the whole batch, which is what the export is meant to save.
    """
    if backend == "torch":
        return classifier, None
    if backend != "onnx":
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    parity = export_checked(classifier, directory, list(texts)[:parity_rows])
    return OnnxClassifier.load(directory), parity
