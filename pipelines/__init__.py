"""The shared core of the recurrent pipelines.

Kept free of heavy imports so that `python -m pipelines.verify_export` loads
only TensorFlow; import the submodules you need (`pipelines.blocks`,
`pipelines.training`, ...).
"""

__version__ = "0.1.0"


def lazy_exports(package, exports):
    """A module `__getattr__` for a domain package: `exports` maps a public
    name to the module that defines it, imported on first use. So
    `from speech import SpeechRecognizer` works, while `python -m
    speech.train` gets to quiet TensorFlow's native logs before TensorFlow
    loads.

    Example:

    >>> getattr_ = lazy_exports("demo", {"OrderedDict": "collections"})
    >>> getattr_("OrderedDict").__name__
    'OrderedDict'
    """
    import importlib

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
