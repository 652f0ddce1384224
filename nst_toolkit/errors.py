"""User-facing errors. The CLI turns an :class:`NSTError` into one line on stderr and exit code 2."""


class NSTError(Exception):
    """A problem with the user's input or environment that deserves a one-line message, not a traceback."""


class ImageError(NSTError):
    """An input image that cannot be used (missing, unreadable, truncated, too big or too small)."""


class WeightsError(NSTError):
    """Network weights that are missing, corrupt or of the wrong kind or shape."""


class DivergedError(NSTError):
    """The optimisation produced a non-finite loss. Carries the last finite image, if any."""

    def __init__(self, message: str, last_good=None, iteration: int = 0):
        super().__init__(message)
        self.last_good = last_good
        self.iteration = iteration
