"""What the project's packages share and the core classifier must not know: where the checkout
and its configs are, the names of the artifacts, and the one door to each library's internals."""
