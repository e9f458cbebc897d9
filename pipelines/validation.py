"""Argument checks with one message format: name, requirement, value.

Layers, models and pipelines validate their arguments in `__init__` (and
their inputs at the door) with these, so every wrong value gets the same kind
of one-line error that names the argument and repeats what was passed.

Example:

>>> check_argument(3 > 0, "units", 3, "must be positive")
>>> check_argument(-1 > 0, "units", -1, "must be positive")
Traceback (most recent call last):
    ...
ValueError: Argument `units` must be positive; got units=-1.
>>> check_sentences(["a", 1])
Traceback (most recent call last):
    ...
TypeError: sentences[1] must be a str; got int: 1.
"""


def check_argument(condition, name, value, requirement):
    """Raises `ValueError("Argument `name` <requirement>; got name=value.")`
    unless `condition` holds."""
    if not condition:
        raise ValueError(f"Argument `{name}` {requirement}; got {name}={value!r}.")


def check_positive_ints(**values):
    """`check_argument` that each keyword's value is a positive int."""
    for name, value in values.items():
        check_argument(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                       name, value, "must be a positive integer")


def check_sentences(sentences, what="sentences"):
    """A list of str, or one `TypeError` naming the first item that is not
    one (a bare string is refused: it would be read as a list of
    characters)."""
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"`{what}` must be a list of strings, not one string; wrap it in [...].")
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"{what}[{i}] must be a str; got {type(s).__name__}: {s!r}.")
    return sentences
