"""The offline model: a bilingual (Hebrew/English) clinic NLU that needs no network.

`ClinicNLU(lexicon).understand(text, today=...)` turns a patient's message into an
`Understanding` (intent, treatment, dates, invoice number, ...); the words it knows live in the
bundle's `offline/lexicon.yaml`, validated by `Lexicon`.
"""

from serving.agents.offline.dates import DateRange, DateReader
from serving.agents.offline.nlu import ClinicNLU, Intent, Understanding
from serving.bundle.lexicon import Lexicon

__all__ = [
    "ClinicNLU",
    "DateRange",
    "DateReader",
    "Intent",
    "Lexicon",
    "Understanding",
]
