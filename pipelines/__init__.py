"""The shared core of the recurrent pipelines.

Kept free of heavy imports so that `python -m pipelines.verify_export` loads
only TensorFlow; import the submodules you need (`pipelines.blocks`,
`pipelines.training`, ...).
"""

__version__ = "0.1.0"
