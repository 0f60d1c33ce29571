"""The raw baseline: the plainest correct fine-tuning loop (AdamW, fixed lr), no project code."""

from __future__ import annotations

import random
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def raw_train_samples_per_second(
    model_dir: str,
    texts: list[str],
    labels: list[int],
    num_labels: int,
    epochs: int,
    batch_size: int,
    seed: int = 1234,
) -> float:
    """AdamW, tokenize + pad each random batch as it comes, max_length 128, clip 1.0."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    order, rng, seen, started = list(range(len(texts))), random.Random(seed), 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            loss = model(**batch, labels=torch.tensor([labels[i] for i in index])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            seen += len(index)
    return seen / (time.perf_counter() - started)
