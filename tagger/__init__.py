"""The project classifier: everything that tags an ML project, with no ZenML import.

Steps, the BentoML service, tests and notebooks all call into this package.
"""
