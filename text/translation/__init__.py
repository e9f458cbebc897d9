"""Translation, sequence to sequence: sentence in, sentence out.

`Translator` (`pipeline.py`) is the user-facing pipeline around
`Seq2SeqTranslator` (`model.py`); `data.py` reads Tatoeba and makes
leak-free splits; `task.py` is what `pipelines train text` runs for a
`task: translation` config.

Example:

>>> from text.translation import Translator
>>> Translator(beam_width=1).config.model.beam_width
1
"""

from text.translation.model import Seq2SeqTranslator  # noqa: F401
from text.translation.pipeline import Translator  # noqa: F401
