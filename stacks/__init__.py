"""Stack definitions (`*.yaml`) and the code that registers them."""
