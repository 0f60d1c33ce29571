"""Writes the project's embedded default dataset, ``data/projects.csv``.

The rows are composed from hand-written parts per tag, so the data is ours, deterministic
(fixed seed) and realistic enough to train on: titles and descriptions read like the ML
projects people share, with the usual imbalance (mlops rarest).

    python data/generate.py
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

SEED = 42
COUNTS = {
    "natural-language-processing": 190,
    "computer-vision": 170,
    "other": 75,
    "mlops": 55,
}

PARTS: dict[str, dict[str, list[str]]] = {
    "computer-vision": {
        "task": [
            "object detection",
            "semantic segmentation",
            "instance segmentation",
            "image classification",
            "pose estimation",
            "depth estimation",
            "face recognition",
            "optical character recognition",
            "image super-resolution",
            "image inpainting",
            "video action recognition",
            "multi-object tracking",
            "3D point cloud segmentation",
            "style transfer",
            "image denoising",
            "lane detection",
            "medical image segmentation",
            "satellite image change detection",
            "license plate recognition",
            "visual odometry",
        ],
        "method": [
            "YOLOv8",
            "Mask R-CNN",
            "a Vision Transformer",
            "U-Net",
            "ResNet-50",
            "EfficientNet",
            "DETR",
            "a diffusion model",
            "a GAN",
            "Swin Transformer",
            "ConvNeXt",
            "SAM",
            "a Siamese network",
            "MobileNetV3",
            "CLIP features",
            "NeRF",
            "a lightweight CNN",
        ],
        "data": [
            "COCO",
            "ImageNet",
            "Cityscapes",
            "KITTI",
            "Pascal VOC",
            "CelebA",
            "ADE20K",
            "drone footage",
            "chest X-rays",
            "satellite imagery",
            "webcam streams",
            "MNIST",
            "CIFAR-10",
            "retail shelf photos",
            "dashcam videos",
        ],
        "title": [
            "{Task} with {method}",
            "Real-Time {Task} on the Edge",
            "{method} for {task}",
            "Fast {Task} in PyTorch",
            "{Task} from Scratch",
            "Self-Supervised {Task}",
            "A Tiny {Task} Model for Mobile",
            "{Task} on {data}",
        ],
        "desc": [
            "A PyTorch implementation of {task} using {method}, trained on {data} images.",
            "Train and evaluate {method} for {task} on {data}; includes pretrained weights and an inference demo.",
            "We fine-tune {method} on {data} and reach strong mAP for {task} at 30 FPS on a laptop GPU.",
            "Pixel-level {task} with {method}: data augmentation, mixed precision training and visualizations of predictions.",
            "Tutorial notebook showing how convolutional features from {method} help {task} on {data}.",
            "Detect, segment and visualize: {task} pipeline built on {method} with OpenCV pre-processing.",
            "Benchmarking {method} against classic baselines for {task} on {data} photos and video frames.",
        ],
    },
    "natural-language-processing": {
        "task": [
            "sentiment analysis",
            "named entity recognition",
            "machine translation",
            "text summarization",
            "question answering",
            "text classification",
            "topic modeling",
            "semantic search",
            "part-of-speech tagging",
            "dialogue generation",
            "retrieval-augmented generation",
            "paraphrase detection",
            "spell correction",
            "keyword extraction",
            "intent detection",
            "toxic comment detection",
            "document classification",
            "coreference resolution",
            "language identification",
            "instruction tuning of language models",
        ],
        "method": [
            "BERT",
            "RoBERTa",
            "GPT-2",
            "T5",
            "a fine-tuned LLM",
            "DistilBERT",
            "Llama",
            "an LSTM",
            "word2vec embeddings",
            "sentence transformers",
            "spaCy",
            "a seq2seq transformer",
            "BART",
            "LoRA adapters",
            "a small language model",
            "TF-IDF features",
            "XLNet",
        ],
        "data": [
            "tweets",
            "movie reviews",
            "news articles",
            "Wikipedia",
            "customer support chats",
            "scientific papers",
            "legal contracts",
            "SQuAD",
            "product reviews",
            "Reddit comments",
            "multilingual corpora",
            "medical notes",
            "GitHub issues",
            "song lyrics",
            "emails",
        ],
        "title": [
            "{Task} with {method}",
            "{method} for {task}",
            "Fine-Tuning {method} for {Task}",
            "{Task} in a Few Lines of Code",
            "Multilingual {Task}",
            "{Task} on {data}",
            "Low-Resource {Task}",
            "Explaining {Task} Models",
        ],
        "desc": [
            "Fine-tune {method} for {task} on {data} using Hugging Face transformers and tokenizers.",
            "A text pipeline for {task}: tokenization, embeddings from {method} and an evaluation on {data}.",
            "We use {method} to do {task} over {data}, with attention visualizations and a REST demo.",
            "Language model based {task}: prompts, decoding strategies and benchmarks on {data} text.",
            "An end-to-end NLP project on {task} with {method}; vocabulary building, training and error analysis.",
            "Comparing {method} with classical baselines for {task} on a corpus of {data}.",
            "How {method} handles {task} when sentences are long, noisy or written in several languages.",
        ],
    },
    "mlops": {
        "task": [
            "model serving",
            "experiment tracking",
            "feature stores",
            "data versioning",
            "model monitoring",
            "drift detection",
            "continuous training",
            "pipeline orchestration",
            "model registry",
            "CI/CD for machine learning",
            "batch inference",
            "A/B testing of models",
            "GPU cluster scheduling",
            "reproducible training",
            "data validation",
        ],
        "method": [
            "Kubernetes",
            "Docker",
            "MLflow",
            "Airflow",
            "Kubeflow",
            "Ray Serve",
            "BentoML",
            "GitHub Actions",
            "Prometheus and Grafana",
            "Terraform",
            "DVC",
            "Feast",
            "FastAPI",
            "Great Expectations",
            "ZenML",
            "Triton Inference Server",
        ],
        "data": [
            "production",
            "a small team",
            "the cloud",
            "on-prem servers",
            "microservices",
            "startups",
            "regulated industries",
            "edge devices",
        ],
        "title": [
            "{Task} with {method}",
            "Production-Ready {Task}",
            "{Task} for {data}",
            "A Practical Guide to {Task}",
            "{method} for {task}",
            "Scaling {Task} with {method}",
        ],
        "desc": [
            "Deploy, monitor and scale ML models in {data}: {task} built on {method} with autoscaling.",
            "Template repository for {task} using {method}; CI pipelines, containers and infrastructure as code.",
            "Track experiments, version data and automate {task} with {method} so models reach {data} safely.",
            "Operational best practices for {task}: logging, alerting, rollbacks and latency SLOs with {method}.",
            "A reproducible workflow for {task} in {data}, orchestrated with {method} and tested on every commit.",
            "Lessons learned running {task} with {method} for models that serve millions of requests a day.",
        ],
    },
    "other": {
        "task": [
            "time series forecasting",
            "recommendation systems",
            "reinforcement learning",
            "anomaly detection",
            "graph neural networks",
            "tabular classification",
            "Bayesian optimization",
            "causal inference",
            "fraud detection",
            "audio classification",
            "speech synthesis",
            "protein structure prediction",
            "stock price prediction",
            "hyperparameter search",
            "clustering",
            "survival analysis",
            "game playing agents",
        ],
        "method": [
            "XGBoost",
            "LightGBM",
            "a Deep Q-Network",
            "PPO",
            "Prophet",
            "graph attention networks",
            "Gaussian processes",
            "matrix factorization",
            "an autoencoder",
            "random forests",
            "JAX",
            "scikit-learn",
            "a temporal convolutional network",
            "AlphaZero-style search",
        ],
        "data": [
            "sales data",
            "energy consumption",
            "Atari games",
            "transaction logs",
            "sensor readings",
            "click streams",
            "molecular graphs",
            "weather records",
            "MovieLens ratings",
            "audio clips",
            "tabular Kaggle data",
            "financial markets",
        ],
        "title": [
            "{Task} with {method}",
            "{method} for {task}",
            "Interpretable {Task}",
            "{Task} on {data}",
            "Hands-On {Task}",
            "A Gentle Introduction to {Task}",
        ],
        "desc": [
            "Applying {method} to {task} on {data}, with feature engineering and cross-validation.",
            "An implementation of {task} using {method}; we compare against simple statistical baselines on {data}.",
            "Notebook exploring {task} for {data}: training, tuning and interpreting {method}.",
            "From theory to code: {task} with {method}, including the math and experiments on {data}.",
            "A library for {task} built around {method}, with examples on {data} and benchmarks.",
            "Learning agents and predictors for {task}; {method} trained on {data} with reproducible seeds.",
        ],
    },
}


def _title_case(text: str) -> str:
    return " ".join(
        w if w[0].isupper() or not w.isalpha() else w.capitalize() for w in text.split()
    )


def _compose(tag: str, rng: random.Random) -> tuple[str, str]:
    parts = PARTS[tag]
    task, method, data = (rng.choice(parts[k]) for k in ("task", "method", "data"))
    fields = {"task": task, "Task": _title_case(task), "method": method, "data": data}
    return rng.choice(parts["title"]).format(**fields), rng.choice(parts["desc"]).format(**fields)


def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, str]] = []
    for tag, count in COUNTS.items():
        made = 0
        while made < count:
            title, description = _compose(tag, rng)
            if (title, description) in seen or any(title == t for t, _ in seen):
                continue
            seen.add((title, description))
            rows.append((title, description, tag))
            made += 1
    rng.shuffle(rows)
    start = datetime(2020, 2, 17, 6, 30)
    return [
        {
            "id": str(i + 1),
            "created_on": str(start + timedelta(hours=7 * i + rng.randint(0, 6))),
            "title": title,
            "description": description,
            "tag": tag,
        }
        for i, (title, description, tag) in enumerate(rows)
    ]


def main() -> None:
    out = Path(__file__).with_name("projects.csv")
    rows = generate()
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
