"""The smoke test of a served Bento: its live answers must equal the same model files' answers in
process (`serving.package.served_classifiers`: the Bento's own files on its backend).

A redeploy runs it against the new server before that server gets traffic, and the deployment
pipeline runs it again against the public address afterwards.
"""

from __future__ import annotations

import requests

from serving.rollout import VERSION_HEADER
from serving.service import to_prediction
from tagger.data import join_text
from tagger.model import Classifier

SMOKE_PROJECTS = [
    {"title": "Real-time object detection", "description": "YOLO boxes on traffic camera images."},
    {"title": "Sentiment analysis with BERT", "description": "Classify tweets by sentiment."},
    {
        "title": "Serving models on Kubernetes",
        "description": "Deploy and monitor models in production.",
    },
]


def check_answers(url: str, bundles: dict[str, Classifier]) -> int:
    """How many projects were checked; a RuntimeError naming the first answer that differs.

    `bundles` holds each served version's classifier by version number: the answers are compared
    with the classifier of the version the response names (a canary may answer with its
    candidate).
    """
    response = requests.post(f"{url}/predict", json={"projects": SMOKE_PROJECTS}, timeout=30)
    response.raise_for_status()
    answered = response.headers.get(VERSION_HEADER, "")
    if answered not in bundles:
        raise RuntimeError(f"the answer names version {answered!r}, not one of {sorted(bundles)}")
    classifier = bundles[answered]
    texts = [join_text(p["title"], p["description"]) for p in SMOKE_PROJECTS]
    labels = list(classifier.labels)
    for live, row, text in zip(
        response.json(), classifier.predict_proba(texts), texts, strict=True
    ):
        local = to_prediction(labels, row.tolist(), 0.0)
        if live["tag"] != local.tag or abs(live["confidence"] - local.confidence) > 1e-4:
            raise RuntimeError(f"live answer {live} differs from in-process {local} for {text!r}")
    return len(SMOKE_PROJECTS)
