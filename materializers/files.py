"""Directories copied between a local folder and any artifact store, file by file through fileio."""

from __future__ import annotations

import os

from zenml.io import fileio


def copy_tree(source: str, destination: str) -> None:
    fileio.makedirs(destination)
    for name in fileio.listdir(source):
        name = str(name)
        src, dst = os.path.join(source, name), os.path.join(destination, name)
        if fileio.isdir(src):
            copy_tree(src, dst)
        else:
            fileio.copy(src, dst, overwrite=True)
