"""Exceptions that carry a message a reviewer can act on."""


class EvsynthError(Exception):
    """Base class of every error evsynth raises on purpose."""


class AnalysisInputError(EvsynthError, ValueError):
    """Inputs that cannot be analysed (non-positive variance, NaN, mismatched lengths)."""


class NotEstimableError(AnalysisInputError):
    """Valid data from which an estimate does not exist (no events in any study, say): the
    analysis reports why instead of stopping the run."""


class DataValidationError(EvsynthError):
    """A raw table or the config broke its schema; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
