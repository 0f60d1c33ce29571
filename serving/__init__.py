"""The BentoML service a Bento is built from, and the code that packages a model version."""
